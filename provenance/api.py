"""prov's Python API: what every command does, for the CLI and for programs alike.

Functions here take paths, keys and options, return results, and raise ``ProvError``
subclasses; they never print and never exit.
"""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archive.errors import ConfigError, NotATargetError, ProvError, UsageError
from archive.warc.reader import WarcReader
from provenance.base import home, timefmt
from provenance.base.digests import sha256_file
from provenance.base.report import Report
from provenance.base.untrusted import load_json, open_regular, read_named, read_regular
from provenance.capture.options import CheckedOptions
from provenance.capture.options import SnapshotOptions as SnapshotOptions  # part of the API
from provenance.capture.options import capture_options as capture_options  # part of the API
from provenance.custody.case import SEAL_NAME, Case, find_case
from provenance.custody.checkpoint import MAX_NOTE, Checkpoint, cosign, read_unverified
from provenance.custody.log import CaptureSummary as CaptureSummary  # part of the API
from provenance.custody.log import (
    CustodyLog,
    NewEntry,
    logged_captures,
)
from provenance.custody.log import iter_log_entries as iter_log_entries  # part of the API
from provenance.custody.log import latest_checkpoint as latest_checkpoint  # part of the API
from provenance.custody.logfile import iter_lines
from provenance.errors import InclusionProofError, KeyFileError, UntrustedInputError
from provenance.signing.anchorpaths import check_home, named_file
from provenance.signing.dsse import MAX_ENVELOPE, parse_envelope
from provenance.signing.entryjudge import TRUST_ACTIONS
from provenance.signing.keys import (
    PublicKey,
    SigningKey,
    env_passphrase,
    key_path,
    read_key_file,
    write_private_file,
)
from provenance.signing.statements import MAX_STATEMENT, CaptureSeal, Entry
from provenance.signing.trust import Anchors, trust_user_key
from provenance.timestamps import tsatrust
from provenance.timestamps.tsatrust import TsaRoots
from provenance.verification.case import CaseVerifier
from provenance.verification.fixity import Hashes
from provenance.verification.parallel import Tally
from provenance.verification.targets import decide_kind

if TYPE_CHECKING:  # loaded by the functions that use them: `prov verify` needs none of them
    from archive.http.crawl import UrlOutcome
    from provenance.capture.snapshot import CaptureResult
    from provenance.custody.custodians import CustodyChain
    from provenance.custody.stamping import Stamper
    from provenance.exports.bag import BagResult
    from provenance.exports.wacz import WaczResult
    from provenance.replay.wayback import Prepared

Prompt = Callable[[], bytes | None]
DEFAULT_KEY = home.DEFAULT_KEY


# -- keys -----------------------------------------------------------------------------------


def generate_key(name: str, passphrase: bytes | None) -> PublicKey:
    """Make ``$PROV_HOME/keys/NAME.key`` (0600) and ``.pub``, and trust it for this user."""
    path = key_path(name)
    if path.exists():
        raise ConfigError(f"a key named {name!r} already exists at {path}")
    home.ensure_private_dir(path.parent)
    key = SigningKey.generate(name)
    write_private_file(path, key.private_pem(passphrase))
    path.with_suffix(".pub").write_bytes(key.public.pem())
    trust_user_key(key.public)
    return key.public


def passphrase_weakness(secret: bytes, key_name: str = "") -> str | None:
    """Why ``secret`` is a weak passphrase (``signing.passphrases``), or None."""
    # deferred: start-up of prov verify
    from provenance.signing.passphrases import weakness

    return weakness(secret, key_name=key_name)


def list_keys() -> tuple[list[tuple[str, str]], list[str]]:
    """(name, key id) of each signing key in ``$PROV_HOME/keys``, its WACZ signing key
    (P-384, ``NAME.p384.pub``) on the line after it; and a message for each public key file
    that cannot be read (the others are still listed)."""
    # deferred: start-up of prov verify
    from provenance.signing.p384 import P384_PUB_SUFFIX, P384PublicKey

    folder = home.keys_dir()
    if not folder.is_dir():
        return [], []
    rows: list[tuple[str, str]] = []
    problems: list[str] = []
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".pub") or name.endswith(P384_PUB_SUFFIX):
            continue
        stem = name[:-4]
        try:
            rows.append((stem, PublicKey.load(folder / name).key_id))
            if (folder / f"{stem}{P384_PUB_SUFFIX}").exists():
                rows.append((stem, P384PublicKey.load(folder / f"{stem}{P384_PUB_SUFFIX}").key_id))
        except KeyFileError as exc:
            problems.append(str(exc))
    return rows, problems


def export_key(name: str) -> bytes:
    pub = key_path(name).with_suffix(".pub")
    if not pub.exists():
        raise ConfigError(f"no key named {name!r}", hint="run `prov keys generate`")
    return PublicKey.load(pub).pem()


def trust_key_file(path: Path) -> str:
    key = PublicKey.load(path)
    trust_user_key(key)
    return key.key_id


def load_key(name: str, prompt: Prompt | None = None, case: Case | None = None) -> SigningKey:
    """The signing key NAME; its passphrase from the environment, else from ``prompt``.
    With ``case``, a key the case does not trust is refused (``errors.RefusedEntryError``,
    exit 6) before the passphrase is asked and before the command writes anything."""
    path = key_path(name)
    if not path.exists():
        raise ConfigError(f"no key named {name!r} in {path.parent}",
                          hint="run `prov keys generate` (or pass --key NAME)")

    judge = None
    if case is not None:
        # deferred: start-up of prov verify
        from provenance.custody.signers import check_signer, replay

        judge = replay(case.log_path)
        if path.with_suffix(".pub").is_file():
            check_signer(judge, PublicKey.load(path.with_suffix(".pub")), name)

    key = SigningKey.from_pem(read_key_file(path), name, _passphrase(name, prompt))
    if judge is not None:
        check_signer(judge, key.public, name)  # NAME.pub may not be NAME.key's public half
    # deferred: start-up of prov verify
    from provenance.storage.sync import remember_key

    remember_key(key)  # a bucket case's writer that loses a race signs its entries again
    return key


# -- cases ----------------------------------------------------------------------------------


def init_case(path: Path | str, title: str, key: SigningKey, now: datetime,
              stamper: Stamper | None = None, retention: dict[str, Any] | None = None) -> Case:
    """Create a case folder, or with an ``s3://BUCKET/PREFIX`` URL a case in a bucket;
    ``retention`` (see ``retention_rule``) is the Object Lock it requires."""
    if isinstance(path, str):
        # deferred: start-up of prov verify
        from provenance.storage.locker import init_bucket

        return init_bucket(path, title, key, now, stamper, retention)
    # deferred: start-up of prov verify
    from provenance.custody.cases import create_case

    return create_case(path, title, key, now, stamper, retention)


def _append(case: Case, stamper: Stamper | None, entries: Sequence[NewEntry], key: SigningKey,
            at: datetime) -> Checkpoint:
    """``stamping.append_entries``, loaded when a command first changes the case (start-up)."""
    # deferred: start-up of prov verify
    from provenance.custody.stamping import append_entries

    return append_entries(case, stamper, entries, key, at)


def add_case_key(case: Case, public_path: Path, key: SigningKey, note: str | None,
                 now: datetime, stamper: Stamper | None = None) -> str:
    new = PublicKey.load(public_path)
    # deferred: start-up of prov verify
    from provenance.custody.cases import cache_public_key

    cache_public_key(case.root, new)
    details: dict[str, Any] = {"keyId": new.key_id,
                               "publicKey": base64.b64encode(new.raw).decode()}
    if note:
        details["note"] = note
    with case.lock():
        _append(case, stamper, [NewEntry("key-trusted", (), details)], key, now)
    return new.key_id


def open_case(explicit: str | None) -> Case:
    """``--case`` (a folder or an ``s3://BUCKET/PREFIX`` URL), else ``$PROV_CASE``, else the
    case around the current directory. A bucket case is a ``MirrorCase``: its ``lock()``
    takes the bucket's lease, pulls, and pushes what the command appended."""
    chosen = explicit or os.environ.get("PROV_CASE")
    if chosen and chosen.startswith("s3://"):
        # deferred: start-up of prov verify
        from provenance.storage.mirror import open_mirror

        return open_mirror(chosen)
    return Case.open(find_case(explicit))


def fetch_capture(case: Case, capture_dir: str | None) -> None:
    """Make a capture's files (``None``: every capture's) present before reading them: a
    bucket case's mirror downloads WARCs only for the commands that read them (captures
    show, disclose, exports)."""
    case.fetch_captures([capture_dir] if capture_dir else None)


def set_endpoint_url(url: str | None) -> None:
    """``--endpoint-url``: the S3 endpoint for every s3:// case this process opens."""
    # deferred: start-up of prov verify
    from provenance.storage.layout import set_endpoint

    set_endpoint(url)


def case_session(case: Case, run: str | None = None) -> AbstractContextManager[None]:
    """For a bucket case, hold a lease around a whole command. Without ``run``, the case's
    own lease: the command's ``case.lock()`` calls then commit without waiting, and no other
    machine commits meanwhile. With ``run`` (``"schedule"``), ``state/<run>.lease``: no other
    machine starts the same kind of run (LockedError, exit 7, at once), while commits of
    other machines' snapshots still interleave. For a case on disk, nothing."""
    # deferred: start-up of prov verify
    from provenance.storage.mirror import MirrorCase

    if not isinstance(case, MirrorCase):
        return nullcontext()
    return case.run_lease(run) if run else case.session()


def retention_rule(mode: str | None, until: str | None, days: int | None) -> dict[str, Any] | None:
    """case.json's ``retention`` from ``--lock-mode``, ``--retain-until``, ``--retain-days``."""
    # deferred: start-up of prov verify
    from provenance.storage.retention import retention_rule as rule

    return rule(mode, until, days)


def copy_case(source: str, destination: str, key: SigningKey, now: datetime, *,
              keep_source_writable: bool = False,
              retention: dict[str, Any] | None = None) -> dict[str, Any]:
    """``prov copy``: a case between disk and bucket, every object checked after copying."""
    # deferred: start-up of prov verify
    from provenance.storage.copy import copy_case as copy

    return copy(source, destination, key, now, keep_source_writable=keep_source_writable,
                retention=retention)


def legal_hold(case: Case, on: bool, key: SigningKey, now: datetime) -> int:
    """Set (or clear) the legal hold on every evidence object of a bucket case; logged."""
    # deferred: start-up of prov verify
    from provenance.storage.locker import legal_hold as hold

    return hold(case, on, key, now)


# -- capture --------------------------------------------------------------------------------


def snapshot(case: Case, urls: Sequence[str], key: SigningKey,
             options: SnapshotOptions | CheckedOptions | None = None, note: str | None = None,
             stamper: Stamper | None = None,
             on_progress: Callable[[UrlOutcome, dict[str, int]], None] | None = None,
             ) -> CaptureResult:
    """Capture ``urls`` into one sealed, logged capture, as ``options`` ask (checked here
    unless they come checked)."""
    if not urls:
        raise UsageError("give at least one URL")
    checked = (options if isinstance(options, CheckedOptions)
               else (options or SnapshotOptions()).checked())
    # deferred: start-up of prov verify
    from archive.http.crawl import validate_url
    from provenance.capture.snapshot import snapshot as capture

    for url in urls:
        try:
            validate_url(url)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    return capture(case, urls, key, checked.crawl, note=note, stamper=stamper,
                   warc_size=checked.warc_size, on_progress=on_progress,
                   browser=checked.browser, media=checked.media)


def list_captures(case: Case) -> list[CaptureSummary]:
    """The captures the log names, in log order."""
    return logged_captures(case)


def show_capture(case: Case, capture_id: str) -> dict[str, Any]:
    matches = [c for c in list_captures(case) if c.capture_id.startswith(capture_id)]
    if len(matches) != 1:
        raise UsageError(f"{len(matches)} captures match {capture_id!r}")
    summary = matches[0]
    fetch_capture(case, summary.capture_dir)
    folder = case.root / summary.capture_dir
    # shown, not verified: still hostile input (a deep or malformed seal, a FIFO for a WARC)

    seal_rel = f"{summary.capture_dir}/{SEAL_NAME}"
    envelope = parse_envelope(read_regular(folder / SEAL_NAME, MAX_ENVELOPE, what=seal_rel),
                              what=seal_rel)
    parsed = CaptureSeal.parse(envelope.payload, what=seal_rel)
    seal = load_json(envelope.payload, what=seal_rel, limit=MAX_STATEMENT)
    records = []
    media: list[dict[str, Any]] | None = None
    for name in [s.name for s in parsed.subjects if s.name in parsed.records]:
        with open(open_regular(folder / name, what=name), "rb") as fh:
            reader = WarcReader(fh)
            for head in reader:
                row = {"file": name, "offset": head.offset, "type": head.warc_type,
                       "uri": head.get("WARC-Target-URI")}
                if head.warc_type == "response":
                    first = next(reader.iter_block(256), b"")
                    row["status"] = first.split(b"\r\n", 1)[0].decode("latin-1")
                elif head.warc_type == "metadata" and row["uri"] == (
                        f"urn:prov:media:{summary.capture_id}"):
                    # deferred: start-up of prov verify
                    from provenance.capture.mediaposts import read_posts

                    media = read_posts(reader, head.get("Content-Length"))
                records.append(row)
    return {**summary.as_json(), "seal": seal, "records": records,
            **({"media": media} if media is not None else {})}


def prepare_replay(target: Path, capture_ids: Sequence[str], folder: Path) -> Prepared:
    """pywb's indexes and config in ``folder`` for serving a case or a WACZ
    (``provenance.replay``); a target of another kind is a usage error."""
    # deferred: start-up of prov verify
    from provenance.replay import wayback as replay

    kind = decide_kind(target).kind
    if kind == "case":
        return replay.prepare_case(target, capture_ids, folder)
    if kind == "wacz":
        return replay.prepare_wacz(target, capture_ids, folder)
    raise UsageError(f"{target}: a {kind}; prov replay serves a case or a WACZ")


# -- verify and log -------------------------------------------------------------------------


def verify(target: Path | str, trust_files: Sequence[Path] = (), trust_ids: Sequence[str] = (),
           strict: bool = False, since: Sequence[Path] = (), remember: bool = True,
           record: tuple[SigningKey, str | None] | None = None,
           now: Callable[[], datetime] = timefmt.utc_now,
           tsa_roots: Sequence[Path] = (), jobs: int | None = None,
           on_progress: Callable[[Tally], None] | None = None,
           as_kind: str | None = None, allow_unanchored: bool = False,
           fixity: bool = False, hashes: Hashes | None = None) -> Report:
    """Verify ``target``. With ``record`` = (key, cosigner name), a passing verify writes
    that key's C2SP cosignature beside the latest checkpoint it verified. ``jobs`` worker
    processes read the WARCs (default: one per core); ``on_progress`` sees how far it got.
    ``as_kind`` pins what the target is taken for (``provenance.verification.targets``); otherwise
    ``targets.decide_kind`` decides, and the report says what it decided and why.

    ``fixity``: a case's sealed files are judged by their sha256 alone, no record inflated
    (``provenance.verification.fixity``), by ``hashes`` if their hashing was started already
    (``Hashes.start``); a package is a usage error (exit 2). A full verify of
    a case that passes is remembered in ``$PROV_HOME/seen`` (unless ``remember`` is False),
    and a fixity check reports when it was."""
    if record is not None and record[1] is not None:
        check_cosigner_name(record[1])
    verifiers: list[CaseVerifier] = []

    def local(root: Path | str, known: Mapping[str, bytes] | None = None) -> Report:
        report, verifier = _verify_local(root, trust_files, trust_ids, strict, since, remember,
                                         tsa_roots, jobs, on_progress, as_kind,
                                         allow_unanchored, fixity, known, hashes)
        if verifier is not None:
            verifiers.append(verifier)
            if record is not None:
                _record_cosignature(verifier, report, record[0], record[1], now())
        return report

    if str(target).startswith("s3://"):
        # deferred: start-up of prov verify
        from provenance.storage.verify import verify_bucket

        report = verify_bucket(str(target), local, fixity=fixity)
    else:
        report = local(target)
    if remember and not fixity and report.ok and verifiers:  # the whole report, a bucket's too
        _remember_full(verifiers[0], now())
    return report


def _remember_full(verifier: CaseVerifier, at: datetime) -> None:
    """A full verify of a case passed: keep when, and the tree head it covered, beside the
    seen checkpoints (what a later `verify --fixity` reports as ``lastFullVerify``)."""
    if verifier.remembered is not None:
        size, root = verifier.remembered
        verifier.history.remember_full(verifier.case.info.id, size, root,
                                       timefmt.format_time(at))


def _verify_local(target: Path | str, trust_files: Sequence[Path], trust_ids: Sequence[str],
                  strict: bool, since: Sequence[Path], remember: bool,
                  tsa_roots: Sequence[Path], jobs: int | None,
                  on_progress: Callable[[Tally], None] | None, as_kind: str | None,
                  allow_unanchored: bool, fixity: bool, known: Mapping[str, bytes] | None,
                  hashes: Hashes | None = None) -> tuple[Report, CaseVerifier | None]:
    """One target on this machine's disk: its report, and the case's verifier if a case."""
    if str(target) == "":
        raise UsageError("an empty path names no target (it would be the current folder)")

    target = Path(target)
    if not os.path.lexists(target):
        raise NotATargetError(f"{target}: no such file or folder")
    decided = decide_kind(target, as_kind)
    if fixity and decided.kind != "case":
        raise UsageError(f"--fixity checks a case only; {target} is a {decided.kind} "
                         f"({decided.reason}): verify it without --fixity")
    anchors, roots, given = _verifier_trust(target, trust_files, trust_ids, tsa_roots, since,
                                            allow_unanchored)
    verifier: CaseVerifier | None = None
    if decided.kind == "disclosure":
        # deferred: start-up of prov verify
        from provenance.exports.disclosure_check import DisclosureVerifier

        report = DisclosureVerifier(target, anchors, strict=strict, since=given, remember=remember,
                                    tsa_roots=roots).run()
    elif decided.kind == "wacz":
        # deferred: start-up of prov verify
        from provenance.exports.wacz_check import WaczVerifier

        report = WaczVerifier(target, anchors, strict=strict, since=given, remember=remember,
                              tsa_roots=roots).run()
    elif decided.kind == "bag":
        # deferred: start-up of prov verify
        from provenance.exports.bag_check import BagVerifier

        report = BagVerifier(target, anchors, strict=strict, remember=remember, since=given,
                             tsa_roots=roots).run()
    elif decided.kind == "proof":
        report = _verify_proof_target(target, anchors, strict)
    else:
        verifier = CaseVerifier(target, anchors, strict=strict, since=given, remember=remember,
                                tsa_roots=roots, jobs=jobs, on_progress=on_progress,
                                fixity=fixity, known=known, hashes=hashes)
        report = verifier.run()
    report.kind, report.kind_reason = decided.kind, decided.reason
    return report, verifier


def check_cosigner_name(name: str) -> None:
    """``errors.RefusedEntryError`` (exit 6) unless ``name`` can stand in a cosignature."""
    # deferred: start-up of prov verify
    from provenance.custody.signers import check_cosigner_name as check

    check(name)


def _verifier_trust(target: Path, trust_files: Sequence[Path], trust_ids: Sequence[str],
                    tsa_roots: Sequence[Path], since: Sequence[Path], allow_unanchored: bool
                    ) -> tuple[Anchors, TsaRoots, list[tuple[str, Checkpoint]]]:
    """Keys, TSA roots and held checkpoints for verifying ``target``, each read from a file
    the verifier named or from its own ``$PROV_HOME``, never from inside ``target``."""
    check_home(target)
    held = [(str(p), load_checkpoint_file(named_file(p, target, "--since"))) for p in since]
    return (Anchors.collect(trust_files, trust_ids, target=target,
                            allow_unanchored=allow_unanchored),
            TsaRoots.collect(tsa_roots, target=target), held)


def _verify_proof_target(target: Path, anchors: Anchors, strict: bool) -> Report:
    """An inclusion proof file as a report: what ``prov log verify-proof`` checks, with the
    verifier's own keys (never one the file carries) for the checkpoint's signature."""
    # deferred: start-up of prov verify
    from provenance.verification.proofs import MAX_PROOF_FILE, verify_inclusion_doc

    report = Report(str(target), "proof", strict=strict)
    try:
        raw = read_regular(target, MAX_PROOF_FILE, what=target.name)
    except UntrustedInputError as exc:
        raise NotATargetError(str(exc)) from None
    try:
        result = verify_inclusion_doc(raw, anchors=anchors, held=None)
    except ProvError as exc:
        check = exc.check if isinstance(exc, InclusionProofError) else "proof"
        report.add("fail", check, target.name, str(exc))
        return report
    for message in result.messages:
        report.add("pass", "proof", target.name, message)
    for message in result.warnings:
        report.add("warn", "trust.anchor", target.name, message)
    return report


def verify_warc(paths: Sequence[Path], *, strict: bool = False, jobs: int | None = None,
                all_records: bool = False,
                on_progress: Callable[[Tally], None] | None = None) -> Report:
    """Verify WARC files made by any tool (``provenance.verification.warcs``): digests, headers,
    ids,
    targets, revisits. Raises ``NotATargetError`` (exit 4) for a file that is not a WARC."""
    # deferred: start-up of prov verify
    from provenance.verification.warcs import verify_warcs

    return verify_warcs(paths, strict=strict, jobs=jobs, all_records=all_records,
                        on_progress=on_progress)


def _record_cosignature(verifier: CaseVerifier, report: Report, key: SigningKey,
                        name: str | None, at: datetime) -> None:
    if not report.ok or verifier.latest_verified is None:
        report.add("info", "cosignature.record", "custody/checkpoints",
                   "no cosignature written: the verification did not pass")
        return
    size, path = verifier.latest_verified
    cosigner = name or f"prov-auditor/{key.key_id.split(':', 1)[1][:16]}"
    note = cosign(read_regular(path, MAX_NOTE, what=path.name), cosigner, key, int(at.timestamp()),
                  what=path.name)
    target = path.with_name(f"{size:020d}.{key.key_id.split(':', 1)[1][:16]}.cosignature")
    tmp = target.with_suffix(".tmp")
    tmp.write_bytes(note)
    os.replace(tmp, target)
    report.add("info", "cosignature.record", verifier.case.relative(target),
               f"cosignature by {cosigner} ({key.key_id}) written")


def load_checkpoint_file(path: Path) -> Checkpoint:
    return read_unverified(read_named(path, MAX_NOTE, error=UsageError), what=str(path))


def repair(case: Case, key: SigningKey, now: Callable[[], datetime],
           stamper: Stamper | None = None) -> list[str]:
    """Complete what an interrupted command left (``provenance.repair``); one line per act."""
    # deferred: start-up of prov verify
    from provenance.repair import repair_case

    return repair_case(case, key, now, stamper)


def prove_entry(case: Case, index: int, since: Path | None) -> dict[str, Any]:
    # deferred: start-up of prov verify
    from provenance.verification.proofs import build_inclusion

    log = CustodyLog(case)
    tree = log.tree(checked=False)  # signs nothing: the reader checks the proof
    try:
        held = load_checkpoint_file(since) if since else None
        if not 0 <= index < len(tree):
            raise UsageError(f"entry {index} does not exist (the log has {len(tree)})")
        line = log.read_entry_line(tree, index)
        return build_inclusion(tree, index, line, latest_checkpoint(case), held,
                               _trust_lines(case))
    finally:
        tree.close()


def _trust_lines(case: Case) -> Iterator[tuple[int, bytes]]:
    """The log's lines that change whom it trusts, with their sequence numbers."""
    for seq, line in enumerate(iter_lines(case.log_path)):
        entry = Entry.parse(parse_envelope(line, what=f"entry {seq}").payload, what=f"entry {seq}")
        if entry.action in TRUST_ACTIONS:
            yield seq, line


def verify_proof(proof_path: Path, checkpoint_path_: Path | None,
                 trust_files: Sequence[Path], trust_ids: Sequence[str] = (),
                 allow_unanchored: bool = False) -> tuple[list[str], list[str]]:
    """What a proof file proves, and the warnings that hold only with ``allow_unanchored``;
    ``IntegrityError`` if it proves nothing. The anchors are the verifier's, as for verify."""
    # deferred: start-up of prov verify
    from provenance.verification.proofs import MAX_PROOF_FILE, verify_inclusion_doc

    raw = read_named(proof_path, MAX_PROOF_FILE, error=NotATargetError)

    anchors = Anchors.collect(trust_files, trust_ids, target=proof_path,
                              allow_unanchored=allow_unanchored)
    held = (load_checkpoint_file(named_file(checkpoint_path_, proof_path, "--checkpoint"))
            if checkpoint_path_ else None)
    result = verify_inclusion_doc(raw, anchors=anchors, held=held)
    return list(result.messages), list(result.warnings)


def publish_checkpoint(command: str, note: bytes) -> None:
    """Hand a signed checkpoint to ``command`` on stdin; ConfigError if it fails."""
    try:
        done = subprocess.run(command, shell=True, input=note, capture_output=True,  # noqa: S602
                              timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigError(f"--publish command failed: {exc}") from None
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
        raise ConfigError(f"--publish command exited {done.returncode}: {tail[0]}",
                          hint="the evidence is committed; publish the checkpoint again with "
                               "`prov log checkpoint | CMD`")


def disclose(case: Case, capture_id: str, out: Path, urls: Sequence[str],
             with_requests: bool, key: SigningKey, now: datetime,
             stamper: Stamper | None = None) -> dict[str, Any]:
    """Write a selective-disclosure package and log an ``export`` entry for it."""
    # deferred: start-up of prov verify
    from provenance.exports.disclosure import write_disclosure

    matches = [c for c in list_captures(case) if c.capture_id.startswith(capture_id)]
    if len(matches) != 1:
        raise UsageError(f"{len(matches)} captures match {capture_id!r}")
    fetch_capture(case, matches[0].capture_dir)
    manifest = write_disclosure(case, matches[0].capture_dir, out, urls, with_requests)
    digest = sha256_file(out / "disclosure.json").hex()
    included = sum(1 for r in manifest["records"] if r["included"])
    with case.lock():
        _append(case, stamper, [NewEntry("export", (), {
            "kind": "disclosure", "captureId": manifest["captureId"], "records": included,
            "withheld": len(manifest["records"]) - included,
            "manifestSha256": digest, "destination": out.name})], key, now)
    return manifest


# -- custodians ------------------------------------------------------------------------------


def transfer_custody(case: Case, recipient: Path, note: str | None, key: SigningKey,
                     now: datetime, stamper: Stamper | None = None) -> str:
    new = PublicKey.load(recipient)
    # deferred: start-up of prov verify
    from provenance.custody.cases import cache_public_key

    cache_public_key(case.root, new)
    details: dict[str, Any] = {"to": new.key_id,
                               "publicKey": base64.b64encode(new.raw).decode()}
    if note:
        details["note"] = note
    with case.lock():
        _append(case, stamper, [NewEntry("transfer", (), details)], key, now)
    return new.key_id


def accept_custody(case: Case, note: str | None, key: SigningKey, now: datetime,
                   stamper: Stamper | None = None) -> int:
    pending = custody_chain(case).pending
    if pending is None or pending["to"] != key.key_id:
        raise UsageError(f"no pending transfer of custody to {key.key_id}")
    details: dict[str, Any] = {"transfer": pending["seq"], "name": key.name}
    if note:
        details["note"] = note
    with case.lock():
        _append(case, stamper, [NewEntry("accepted", (), details)], key, now)
    return int(pending["seq"])


def dispose(case: Case, disposition: str, note: str | None, key: SigningKey,
            now: datetime, stamper: Stamper | None = None) -> None:
    details: dict[str, Any] = {"disposition": disposition}
    if note:
        details["note"] = note
    with case.lock():
        _append(case, stamper, [NewEntry("disposition", (), details)], key, now)


def custody_chain(case: Case) -> CustodyChain:
    # deferred: start-up of prov verify
    from provenance.custody.custodians import chain_of_custody
    from provenance.storage.layout import check_versions
    from provenance.storage.mirror import MirrorCase

    if isinstance(case, MirrorCase):  # a report of a bucket case: no key replaced or hidden
        check_versions(case.bucket)
    return chain_of_custody(iter_log_entries(case))


# -- timestamps -----------------------------------------------------------------------------


def complete_timestamps(case: Case, key: SigningKey, stamper: Stamper,
                        now: Callable[[], datetime]) -> list[str]:
    """Stamp what is pending (``provenance.custody.pending``); one line per act."""
    # deferred: start-up of prov verify
    from provenance.custody.pending import complete_timestamps as complete

    return complete(case, key, stamper, now)


def trust_tsa_root(path: Path) -> list[str]:
    return tsatrust.trust_tsa_root(path)


def checkpoint_line(case: Case) -> Checkpoint:
    return read_unverified(latest_checkpoint(case), what="checkpoint")


# -- exports ----------------------------------------------------------------------------------


def _passphrase(name: str, prompt: Prompt | None) -> Prompt:
    """Where the passphrase of key ``name`` comes from, first found first: the environment
    (``PROV_KEY_PASSPHRASE_FILE``, ``PROV_KEY_PASSPHRASE``), the agent ``prov keys unlock``
    started (``signing.agent``), then ``prompt``."""
    def secret() -> bytes | None:
        # deferred: start-up of prov verify
        from provenance.signing import agent

        found = env_passphrase() or agent.passphrase(name)
        return found or (prompt() if prompt is not None else None)

    return secret


def unlock_key(name: str, secret: bytes, seconds: float) -> Path:
    """Check ``secret`` opens key ``name``, then hold it in an agent for ``seconds``."""
    # deferred: start-up of prov verify
    from provenance.signing import agent

    path = key_path(name)
    if not path.exists():
        raise ConfigError(f"no key named {name!r} in {path.parent}",
                          hint="run `prov keys generate` (or pass --key NAME)")
    SigningKey.from_pem(read_key_file(path), name, lambda: secret)
    return agent.start(name, secret, seconds)


def lock_key(name: str) -> bool:
    """Stop the agent holding key ``name``'s passphrase; whether one was running."""
    # deferred: start-up of prov verify
    from provenance.signing import agent

    key_path(name)  # a bad name is refused, never made into a socket path
    return agent.stop(name)


def export_wacz(case: Case, capture_ids: Sequence[str], out: Path, key: SigningKey,
                now: datetime, *, prompt: Prompt | None = None, allow_failed: bool = False,
                stamper: Stamper | None = None) -> WaczResult:
    """A signed WACZ of the captures (all when none given); logged as an ``export``."""
    # deferred: start-up of prov verify
    from provenance.exports import wacz
    from provenance.signing import p384

    fetch_capture(case, None)
    signer = p384.load_or_create(key.name, _passphrase(key.name, prompt))
    return wacz.export(case, capture_ids, out, key, signer, now, allow_failed=allow_failed,
                       stamper=stamper)


def export_bag(case: Case, out: Path, key: SigningKey, now: datetime, *,
               allow_failed: bool = False, stamper: Stamper | None = None,
               contact: str | None = None) -> BagResult:
    """The case as a signed BagIt 1.0 bag with VERIFY.txt; logged as an ``export``."""
    # deferred: start-up of prov verify
    from provenance.exports import bag

    fetch_capture(case, None)
    return bag.export(case, out, key, now, allow_failed=allow_failed, stamper=stamper,
                      contact=contact)


def exhibit_report(case: Case, capture_ids: Sequence[str], out: Path, key: SigningKey,
                   now: datetime, *, allow_failed: bool = False,
                   stamper: Stamper | None = None) -> Path:
    """A self-contained HTML exhibit of the captures; logged as an ``export``."""
    # deferred: start-up of prov verify
    from provenance.exports import exhibit

    fetch_capture(case, None)
    return exhibit.export(case, capture_ids, out, key, now, allow_failed=allow_failed,
                          stamper=stamper)
