"""`prov log repair`: completing what an interrupted command left, never hiding it.

The commit protocol (docs/FORMATS.md, "Crash states") leaves each interruption in a state this
module recognises: a torn last log line (quarantined in ``state/quarantine`` and recorded by a
``repair`` entry), ``.tmp`` checkpoint writes (set aside), staged tokens named by logged
entries (moved into place), sealed captures in ``captures/.partial`` (moved into place when
their seal verifies with a key the log trusts), sealed captures never logged (logged, with
their tokens), and a missing checkpoint (written). Anything it cannot vouch for is left for
``prov verify`` to report.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable
from datetime import datetime
from functools import partial
from pathlib import Path

from archive.errors import ProvError
from provenance.base import timefmt
from provenance.base.ids import is_capture_dir
from provenance.base.untrusted import is_dir, is_regular, listdir, read_regular
from provenance.custody.case import SEAL_NAME, Case, fsync_dir, iter_capture_dirs, write_durable
from provenance.custody.log import (
    CustodyLog,
    NewEntry,
    file_subject,
    iter_log_entries,
    latest_checkpoint_size,
    shard_names,
)
from provenance.custody.logfile import MAX_LINE
from provenance.custody.stamping import (
    Stamper,
    StampOutcome,
    append_entries,
    seal_token_path,
    token_entries,
    unstage_tokens,
)
from provenance.errors import TimestampError, UntrustedInputError
from provenance.signing.dsse import MAX_ENVELOPE, parse_envelope, verify_envelope
from provenance.signing.keys import PublicKey, SigningKey
from provenance.signing.statements import IN_TOTO_PAYLOAD, CaptureSeal
from provenance.timestamps.rfc3161 import MAX_RESPONSE_BYTES, Stamp, verify_stamp
from provenance.timestamps.tsatrust import load_case_certs
from provenance.verification.sealedcaptures import log_trusted_keys


def repair_case(case: Case, key: SigningKey, now: Callable[[], datetime],
           stamper: Stamper | None = None) -> list[str]:
    """Complete what an interrupted command left: torn log tail, unlogged or unmoved captures,
    a missing checkpoint. Returns what was done, one line each."""
    done: list[str] = []
    with case.lock():
        done += _quarantine_torn_tail(case, key, now(), stamper)
        done += _set_aside_tmp(case)
        trusted = log_trusted_keys(case)
        done += unstage_tokens(case, (NewEntry(e.action, e.subjects)
                                      for e in iter_log_entries(case)))
        done += _finish_partials(case, trusted)
        done += _log_unlogged(case, key, now(), stamper, trusted)
        log = CustodyLog(case)
        tree = log.tree()
        try:
            size = len(tree)
            if size and latest_checkpoint_size(case) < size:
                log.write_checkpoint(size, tree.root(), key)
                done.append(f"wrote the checkpoint for {size} entries")
        finally:
            tree.close()
    return done


def _quarantine_torn_tail(case: Case, key: SigningKey, at: datetime,
                          stamper: Stamper | None) -> list[str]:
    cut, tail = _torn_tail(case.log_path)
    if not tail:
        return []
    quarantine = case.state_dir / "quarantine"
    quarantine.mkdir(parents=True, exist_ok=True)
    name = f"log-tail-{timefmt.format_time(at).replace(':', '')}.bin"
    write_durable(quarantine / name, tail)
    with open(case.log_path, "r+b") as fh:
        fh.truncate(cut)
        os.fsync(fh.fileno())

    append_entries(case, stamper, [NewEntry("repair", (), {
        "quarantined": f"state/quarantine/{name}", "bytes": len(tail),
        "sha256": hashlib.sha256(tail).hexdigest(), "reason": "torn last line"})], key, at)
    return [f"quarantined a torn log tail of {len(tail)} bytes to state/quarantine/{name}"]


def _torn_tail(path: Path, chunk: int = 1 << 16) -> tuple[int, bytes]:
    """(offset after the last newline, the bytes after it), reading backwards in chunks: a
    torn tail is at most one line (bounded by custody.MAX_LINE), never the whole log."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        end = size
        while end > 0 and size - end <= MAX_LINE + chunk:
            start = max(0, end - chunk)
            fh.seek(start)
            block = fh.read(end - start)
            at = block.rfind(b"\n")
            if at >= 0:
                cut = start + at + 1
                break
            end = start
        else:
            cut = 0
        fh.seek(cut)
        return cut, fh.read(size - cut)


def _set_aside_tmp(case: Case) -> list[str]:
    """Move checkpoint and cosignature ``.tmp`` files (interrupted writes) to state/."""
    done = []
    quarantine = case.state_dir / "quarantine"
    tmps = [t for name in shard_names(case) for t in (case.checkpoints_dir / name).glob("*.tmp")]
    for tmp in sorted(tmps):
        quarantine.mkdir(parents=True, exist_ok=True)
        shutil.move(str(tmp), quarantine / tmp.name)
        done.append(f"set aside the interrupted write {case.relative(tmp)}")
    return done


def _sealed_capture_dir(case: Case, folder: Path, trusted: dict[str, PublicKey]) -> str | None:
    """The capture dir a seal in ``folder`` names, if the seal verifies with ``trusted``, was
    sealed for ``case`` (never a capture copied from another case signed by the same key) and
    names a folder of prov's form ending in ``folder``'s own name; None otherwise."""
    try:
        data = read_regular(folder / SEAL_NAME, MAX_ENVELOPE, what=SEAL_NAME)
        envelope = parse_envelope(data, what="seal")
        verify_envelope(envelope, payload_type=IN_TOTO_PAYLOAD, trusted=trusted, what="seal")
        seal = CaptureSeal.parse(envelope.payload, what="seal")
    except (ProvError, OSError):
        return None
    if seal.case_id != case.info.id:
        return None
    if not is_capture_dir(seal.capture_dir) or not seal.capture_dir.endswith(
            "/" + folder.name) or seal.capture_id != folder.name:
        return None
    return seal.capture_dir


def _finish_partials(case: Case, trusted: dict[str, PublicKey]) -> list[str]:
    """Staged captures: a sealed one into place, the rest aside. ``captures/.partial`` that
    is not a folder (a symlink, a file) is left for verify to name; an entry in it that is
    not a folder is moved aside unread, never followed."""
    done: list[str] = []
    for name in listdir(case.partial_dir):  # nothing for a symlink, a file or a FIFO
        folder = case.partial_dir / name
        capture_dir = _sealed_capture_dir(case, folder, trusted) if is_dir(folder) else None
        if capture_dir is not None and not (case.root / capture_dir).exists():
            final = case.root / capture_dir
            final.parent.mkdir(parents=True, exist_ok=True)
            os.rename(folder, final)
            fsync_dir(final.parent)
            done.append(f"moved sealed capture {name} into place")
        else:
            abandoned = case.state_dir / "abandoned"
            abandoned.mkdir(parents=True, exist_ok=True)
            shutil.move(str(folder), abandoned / name)
            done.append(f"moved unsealed capture {name} to state/abandoned/ (never evidence)")
    return done


def _log_unlogged(case: Case, key: SigningKey, at: datetime, stamper: Stamper | None,
                  trusted: dict[str, PublicKey]) -> list[str]:
    """Log captures sealed by a trusted key but never logged (a crash before the log
    append), with their tokens. Folders whose seal does not verify are left for verify."""
    logged = {str(e.details.get("captureDir")) for e in iter_log_entries(case)
              if e.action == "capture"}
    entries, done = [], []
    for rel, _ in iter_capture_dirs(case.root):  # no symlink followed on the way
        seal_path = case.root / rel / SEAL_NAME
        if rel in logged:
            continue
        if not is_dir(case.root / rel):
            done.append(f"NOT logged: {rel} (not a folder: a link is never followed)")
            continue
        if not is_regular(seal_path):
            continue  # unsealed: verify names it
        if _sealed_capture_dir(case, seal_path.parent, trusted) != rel:
            done.append(f"NOT logged: {rel} (its seal does not verify with a trusted key, "
                        "or it was sealed for another case)")
            continue
        tokens = _unlogged_tokens(seal_path)
        entries.append(NewEntry("capture", (file_subject(case, seal_path),), {
            "captureId": seal_path.parent.name, "captureDir": rel,
            "urls": 0, "failed": 0, "repaired": True, "tsa": [t.tsa_id for t in tokens]}))
        entries += token_entries(case, seal_path, tokens, partial(seal_token_path, seal_path))
        done.append(f"logged sealed capture {rel}")
    if entries:
        append_entries(case, stamper, entries, key, at)
    return done


def _unlogged_tokens(seal_path: Path) -> list[StampOutcome]:
    """Stamp outcomes rebuilt from token files beside a seal (their genTime as stated)."""
    out = []
    data = read_regular(seal_path, MAX_ENVELOPE, what=SEAL_NAME)
    certs = load_case_certs(seal_path.parents[5] / "certs")
    for token in sorted(seal_path.parent.glob("seal.*.tsr")):
        try:
            raw = read_regular(token, MAX_RESPONSE_BYTES, what=token.name)
            check = verify_stamp(raw, data, roots=[], untrusted=certs, require_trusted=False)
        except (UntrustedInputError, TimestampError):
            continue
        url = f"urn:prov:tsa:{token.name.split('.')[1]}"
        out.append(StampOutcome(url, Stamp(url, raw, check.gen_time, 0, [], 0.0), None,
                                tsa_id_override=token.name.split(".")[1]))
    return out
