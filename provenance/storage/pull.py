"""Pulling a bucket's new evidence into a case's mirror, checked before anything is signed
over it (docs/SECURITY.md, "Object storage").

Threat: anyone with write access to the bucket (no trusted key) can put objects there, add
versions and delete markers; anyone who can write the machine's ``$PROV_HOME`` can change or
delete the mirror. The operator's next command signs a checkpoint over the mirror's whole log
and binds the tokens beside its latest checkpoint, so neither may hold anything unchecked:

- The mirror is trusted only as far as the bucket confirms it. ``state/s3-sync.json`` says how
  many mirror lines the bucket holds; that hint is checked (the bucket's entry object of the
  last one, and the root its checkpoint of that size states) and, if it is missing or wrong,
  or the judge refuses a line the mirror already held, the log is rebuilt from the bucket. Mirror
  lines the bucket does not hold (an earlier run that died before pushing) are cut, never
  pushed by a later command.
- Entry objects are listed with their versions: a second version or a delete marker under an
  entry key stops the pull (``s3.versions``), so nothing is ever signed beside a hidden entry.
- The pulled lines are judged by the case verifier's own replay of the log
  (``CaseVerifier.trusted_now``, with ``provenance.signing.entryjudge``: each line's signature
  by a key the log trusts at that point, its sequence number, its ``prev`` against the log's own
  roots); a failure stops the pull and the lines are cut again.
- Checkpoints are kept only if signed by a key the log trusts and matching its root; a token
  beside a checkpoint is kept only if an entry already binds it with its digest, or if it
  verifies over that checkpoint under a TSA root this operator trusts. Anything else stays in
  the bucket for ``prov verify`` to report; the operator never binds it.
- Only names the layout knows are downloaded (keys, certificates by their sha256, checkpoint
  files); the rest is verify's to report.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from archive.errors import IntegrityError, ProvError
from provenance.base.digests import sha256_regular
from provenance.base.untrusted import read_regular
from provenance.custody import checkpoint as cp
from provenance.custody.log import CustodyLog, checkpoint_path, checkpoint_rel, shard
from provenance.custody.logfile import MAX_LINE
from provenance.errors import UntrustedInputError
from provenance.signing.dsse import parse_envelope
from provenance.signing.statements import Entry
from provenance.signing.trust import Anchors
from provenance.storage.layout import (
    CERT_NAME,
    CHECKPOINTS,
    CKPT_FILE,
    ENTRIES,
    ENTRY_NAME,
    KEY_NAME,
    entry_rel,
)
from provenance.storage.sync import (
    BucketCase,
    advance_floor,
    append_lines,
    drop_unpushed,
    load_sync,
    log_size,
    save_sync,
)
from provenance.storage.transfer import download_many
from provenance.timestamps.rfc3161 import MAX_RESPONSE_BYTES, verify_stamp
from provenance.timestamps.tsatrust import TsaRoots, load_case_certs
from provenance.verification.case import CaseVerifier

if TYPE_CHECKING:
    from provenance.storage.store import ObjectVersion
    from provenance.verification.case import CaseVerifier

AT_ENTRY = re.compile(r" entry ([0-9]+)$")  # the subject the case verifier gives an entry
MAX_SMALL = 1 << 20  # a public key or a certificate chain; anything larger is not one
# what the verifier's replay finds wrong with an entry itself: these stop a pull
BLOCKING = ("log.entry", "log.order", "log.seq", "log.actor", "log.init", "log.prev", "log.key",
            "custody.accepted")


def pull(case: BucketCase) -> None:
    """Bring the mirror up to date with the bucket, checking everything it takes; raise
    ``IntegrityError`` (exit 3) and leave the mirror as the bucket last confirmed it when the
    bucket holds anything the operator must not sign over."""
    sync = load_sync(case)
    synced = confirmed_lines(case, sync)
    try:
        _pull_after(case, sync, synced)
    except _MirrorAtFault:  # a line of the mirror's own, edited in place: the bucket alone
        cut_to(case, 0)
        _pull_after(case, {"pushed": 0, "floor": 0, "known": []}, 0)


class _MirrorAtFault(Exception):
    """The judge refused a line the mirror held before this pull."""


def _pull_after(case: BucketCase, sync: dict[str, Any], synced: int) -> None:
    lines = fetch_lines(case, synced)
    if lines:
        append_lines(case, lines)
    size = synced + len(lines)
    checkpoints = fetch_checkpoints(case, sync, size)
    if lines or checkpoints or synced == 0:
        verifier = judge(case)
        blocking = [f for f in verifier.report.findings
                    if f.status == "fail" and f.check in BLOCKING]
        if blocking:
            cut_to(case, synced)
            first = blocking[0]
            at = AT_ENTRY.search(first.subject)
            if at and int(at.group(1)) < synced:
                raise _MirrorAtFault
            raise IntegrityError(f"{case.url}: the bucket's log fails {first.check} at "
                                 f"{first.subject}: {first.message}; nothing was signed over it",
                                 hint=f"run `prov verify {case.url}`")
        keep_checkpoints(case, verifier, checkpoints)
    fetch_tokens(case, sync, size, bound_tokens(lines))  # also those stamped after a pull
    sync["pushed"] = case.confirmed = size
    save_sync(case, sync)
    fetch_keys_and_certs(case)


# -- how much of the mirror the bucket confirms ------------------------------------------------


def confirmed_lines(case: BucketCase, sync: dict[str, Any]) -> int:
    """How many leading mirror lines are the bucket's entries; the mirror is cut to them.

    What this process already confirmed stands; otherwise the sync file's count is a hint,
    confirmed when the bucket's entry at that count is the mirror's last line byte for byte
    and the bucket's checkpoint of that size states the root of the mirror's tree (the root
    the next entry and checkpoint are signed over). Anything less rebuilds from entry 0."""
    have = log_size(case)
    if case.confirmed is not None:
        confirmed = min(case.confirmed, have)
    else:
        hinted = min(sync["pushed"], have)
        confirmed = hinted if hinted and _same_as_bucket(case, hinted - 1) and _same_root(
            case, hinted) else 0
    if have > confirmed:
        cut_to(case, confirmed)
    return confirmed


def _same_root(case: BucketCase, size: int) -> bool:
    try:
        got = case.bucket.get_bytes(checkpoint_rel(size), cp.MAX_NOTE)
        if got is None:
            return False  # a command that died before its checkpoint: pull it all again
        stated = cp.read_unverified(got[0], what=checkpoint_rel(size))
    except ProvError:
        return False
    tree = CustodyLog(case).tree()
    try:
        return stated.size == size and stated.root == tree.range_root(0, size)
    finally:
        tree.close()


def _same_as_bucket(case: BucketCase, seq: int) -> bool:
    """Whether mirror line ``seq`` is the bucket's current entry object ``seq``, byte for
    byte (a GET of one line: works whether or not the store keeps checksums)."""
    tree = CustodyLog(case).tree()
    try:
        line = CustodyLog(case).read_entry_line(tree, seq)
    except (ProvError, OSError):
        return False
    finally:
        tree.close()
    got = case.bucket.get_bytes(entry_rel(seq), MAX_LINE + 1)  # None: hidden or gone
    return got is not None and got[0] == line + b"\n"


def cut_to(case: BucketCase, keep: int) -> None:
    drop_unpushed(case, keep)


# -- entries -----------------------------------------------------------------------------------


def list_new_entries(case: BucketCase, pushed: int) -> list[str]:
    """Entry objects after the first ``pushed``, each checked to have exactly one version;
    a gap, a replaced entry or a hidden one raises ``IntegrityError``."""
    after = entry_rel(pushed - 1) if pushed else None
    found: dict[str, list[ObjectVersion]] = defaultdict(list)
    for version in case.bucket.iter_versions(ENTRIES + "/", after=after):
        if ENTRY_NAME.match(version.rel):  # other names: verify's s3.key finding
            found[version.rel].append(version)
    refuse_rewritten(case, found.items())
    names = sorted(found)
    for offset, rel in enumerate(names):
        if rel != entry_rel(pushed + offset):
            raise IntegrityError(f"{case.url}: custody entry {pushed + offset} is missing "
                                 f"from the bucket (next is {rel})",
                                 hint=f"run `prov verify {case.url}`")
    return names


def refuse_rewritten(case: BucketCase, found: Iterable[tuple[str, list[ObjectVersion]]]) -> None:
    for rel, versions in found:
        markers = sum(v.delete_marker for v in versions)
        if markers or len(versions) > 1:
            raise IntegrityError(
                f"{case.url}/{rel}: s3.versions: evidence written once has {len(versions)} "
                f"versions ({markers} delete markers): replaced or hidden; nothing is written "
                "beside it", hint=f"run `prov verify {case.url}`")


def fetch_lines(case: BucketCase, pushed: int) -> list[bytes]:
    lines = []
    for rel in list_new_entries(case, pushed):
        got = case.bucket.get_bytes(rel, MAX_LINE + 1)
        if got is None or not got[0].endswith(b"\n") or b"\n" in got[0][:-1]:
            raise IntegrityError(f"{case.url}/{rel}: not one complete log line",
                                 hint=f"run `prov verify {case.url}`")
        lines.append(got[0][:-1])
    return lines


def judge(case: BucketCase) -> CaseVerifier:
    """The verifier's replay of the mirror's log (signatures, sequence, prev, trust)."""
    verifier = CaseVerifier(case.root, Anchors(), remember=False, tsa_roots=TsaRoots(()))
    verifier.trusted_now(case)
    return verifier


def bound_tokens(lines: Sequence[bytes]) -> dict[str, bytes]:
    """Token paths the (already judged) lines bind in their ``prev``, with their digests."""
    bound = {}
    for line in lines:
        entry = Entry.parse(parse_envelope(line, what="pulled entry").payload,
                            what="pulled entry")
        bound.update({t.name: t.sha256 for t in entry.prev.tokens})
    return bound


# -- checkpoints, tokens, keys, certificates ---------------------------------------------------


def _listed_checkpoint_files(case: BucketCase, sync: dict[str, Any], size: int) -> list[
        tuple[str, int]]:
    floor = sync["floor"]  # keys sort by size: the shard folder is the size's first digits
    listed = []
    for rel, length in case.bucket.iter_keys(
            CHECKPOINTS + "/", start_after=f"{CHECKPOINTS}/{shard(floor)}/{floor:020d}"):
        match = CKPT_FILE.match(rel)
        cap = cp.MAX_NOTE if rel.endswith(".checkpoint") else MAX_RESPONSE_BYTES
        if match and int(match.group(1)) <= size and length <= cap:
            listed.append((rel, int(match.group(1))))
    return listed


def fetch_checkpoints(case: BucketCase, sync: dict[str, Any], size: int) -> list[tuple[str, int]]:
    """Download the checkpoints (not yet their tokens) the mirror lacks, up to ``size``."""
    wanted = [(rel, n) for rel, n in _listed_checkpoint_files(case, sync, size)
              if rel.endswith(".checkpoint") and not (case.root / rel).exists()]
    download_many(case.bucket, case.root, [rel for rel, _ in wanted])
    return wanted


def keep_checkpoints(case: BucketCase, verifier: CaseVerifier,
                     fetched: Sequence[tuple[str, int]]) -> None:
    """Keep a pulled checkpoint only if a key the log trusts signed the log's own root."""
    for rel, size in fetched:
        path = case.root / rel
        try:
            checkpoint, _ = cp.verify_checkpoint(
                read_regular(path, cp.MAX_NOTE), case.info.origin,
                verifier.judge.trusted_after(size - 1).values(), what=rel)
            good = checkpoint.size == size and checkpoint.root == verifier.log.roots.get(size)
        except (ProvError, OSError):
            good = False
        if not good:
            path.unlink()


def fetch_tokens(case: BucketCase, sync: dict[str, Any], size: int,
                 bound: dict[str, bytes]) -> None:
    """Checkpoint tokens an entry binds (with that digest), or that verify under a TSA root
    this operator trusts; a token that is neither is never bound by this operator."""
    listed = _listed_checkpoint_files(case, sync, size)
    tokens = [(rel, n) for rel, n in listed if rel.endswith(".tsr")
              and (case.root / rel).is_file() is False
              and (case.root / CHECKPOINTS / shard(n) / f"{n:020d}.checkpoint").is_file()]
    download_many(case.bucket, case.root, [rel for rel, _ in tokens])
    roots = None
    for rel, n in tokens:
        path = case.root / rel
        try:
            data = read_regular(path, MAX_RESPONSE_BYTES, what=rel)
        except UntrustedInputError:
            path.unlink()  # larger than any token, or not a file
            continue
        if rel in bound:
            good = hashlib.sha256(data).digest() == bound[rel]
        else:
            roots = roots if roots is not None else _operator_roots()
            good = _trusted_stamp(case, data, n, roots)
        if not good:
            path.unlink()
    advance_floor(sync, [rel.rsplit("/", 1)[1] for rel, _ in listed])


def _operator_roots() -> list[Any]:
    return list(TsaRoots.collect(target=None).roots)  # the operator's own, for its pull


def _trusted_stamp(case: BucketCase, token: bytes, size: int, roots: list[Any]) -> bool:
    try:
        note = read_regular(checkpoint_path(case, size), cp.MAX_NOTE)
        verify_stamp(token, note, roots=roots,
                     untrusted=load_case_certs(case.certs_dir), require_trusted=True)
    except (ProvError, OSError, ValueError):
        return False
    return True


def fetch_keys_and_certs(case: BucketCase) -> None:
    """Public keys (a cache: trust comes from the log) and certificates named by their
    sha256, which is checked; other names are left for verify to report."""
    wanted = [rel for sub in ("keys/", "certs/") for rel, length in case.bucket.iter_keys(sub)
              if (KEY_NAME.match(rel) or CERT_NAME.match(rel)) and length <= MAX_SMALL
              and not (case.root / rel).exists()]
    download_many(case.bucket, case.root, wanted)
    for rel in wanted:
        match = CERT_NAME.match(rel)
        if match and sha256_regular(case.root / rel, what=rel).hex() != match.group(1):
            (case.root / rel).unlink()
