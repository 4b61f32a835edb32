"""``prov copy SRC DEST``: move a case between disk and bucket (either way), checked object by
object.

Under the source's lock (its flock, or its bucket lease) the source's log gets a
``transfer-started`` entry first, so both sides end byte-identical, last entry included. Then
every evidence file is copied: to a bucket with the case's Object Lock, captures before their
seals, the log as one object per entry, checkpoints last; to disk through temporary names.
Each object is then compared with its source (the SHA256 the bucket computed on receipt, or
the file's own sha256). Last the source is marked read-only: ``state/read-only`` in a folder,
the ``state/read-only`` object in a bucket; every appending command refuses such a case.

With ``keep_source_writable`` the source stays open, so the copy must not continue its
history under the same origin (two diverging logs with one name is a fork). The destination
becomes a new case, with a new id and origin, whose ``init`` entry names the source's origin
and quotes its latest signed checkpoint, and whose next entries log again what verify needs:
the source's keys and every capture with its timestamps.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archive.errors import IntegrityError, UsageError
from provenance.base import timefmt
from provenance.base.digests import sha256_file
from provenance.custody.case import READ_ONLY, Case, CaseInfo, write_durable
from provenance.custody.checkpoint import read_unverified
from provenance.custody.log import (
    CustodyLog,
    NewEntry,
    file_subject,
    iter_log_entries,
    latest_checkpoint,
)
from provenance.custody.logfile import iter_lines
from provenance.signing.keys import SigningKey
from provenance.signing.statements import Entry
from provenance.storage.layout import READ_ONLY_KEY, bucket_for, entry_rel
from provenance.storage.mirror import MirrorCase, open_mirror
from provenance.storage.push import push
from provenance.storage.retention import object_lock_for
from provenance.storage.transfer import local_checksum, upload_many

if TYPE_CHECKING:
    from provenance.storage.store import Bucket

SEAL = "seal.dsse.json"
RELOGGED = ("key-trusted", "key-revoked", "capture", "capture-failed", "timestamp-added",
            "timestamp-pending")


def copy_case(source: str, destination: str, key: SigningKey, now: datetime, *,
              keep_source_writable: bool = False,
              retention: dict[str, Any] | None = None) -> dict[str, Any]:
    _require_empty(destination)
    case = open_mirror(source) if _is_s3(source) else Case.open(Path(source))
    mode = "fork" if keep_source_writable else "move"
    with case.lock():
        if isinstance(case, MirrorCase):
            case.fetch_captures()
        CustodyLog(case).append([NewEntry("transfer-started", (), {
            "destination": destination, "mode": mode, "sourceReadOnly": mode == "move"})],
            key, now)
        if isinstance(case, MirrorCase):
            push(case)
        with tempfile.TemporaryDirectory(prefix="prov-copy-") as tmp:
            origin = case
            if keep_source_writable:
                origin = fork(case, Path(tmp) / "case", key, now, retention)
            files = _write(origin, destination, retention, now)
        if mode == "move":
            _mark_read_only(case, f"copied to {destination} at {timefmt.format_time(now)}")
    return {"source": source, "destination": destination, "mode": mode, "files": files}


def _is_s3(target: str) -> bool:
    return target.startswith("s3://")


def _require_empty(destination: str) -> None:
    if _is_s3(destination):
        if next(iter(bucket_for(destination).iter_versions("")), None) is not None:
            raise UsageError(f"{destination}: already holds objects or object versions; copy "
                             "needs an empty prefix")
        return
    path = Path(destination)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise UsageError(f"{destination}: exists and is not an empty folder")


def evidence_files(root: Path) -> Iterator[str]:
    """Every file of a case but ``state/`` and work in progress, relative, sorted."""
    for sub in ("case.json", "keys", "certs", "captures", "custody"):
        base = root / sub
        if base.is_file():
            yield sub
            continue
        for dirpath, dirnames, filenames in sorted(os.walk(base)):
            dirnames[:] = sorted(d for d in dirnames if d != ".partial")
            for name in sorted(filenames):
                if not name.endswith((".tmp", ".partial")):
                    yield Path(dirpath, name).relative_to(root).as_posix()


def _write(case: Case, destination: str, retention: dict[str, Any] | None,
           now: datetime) -> int:
    rels = list(evidence_files(case.root))
    if _is_s3(destination):
        return _upload(case, destination, rels, retention, now)
    target = Path(destination)
    for rel in rels:
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        tmp = target / (rel + ".tmp")
        shutil.copyfile(case.root / rel, tmp)
        os.replace(tmp, target / rel)
    (target / "state").mkdir(exist_ok=True)

    if isinstance(case, MirrorCase):  # the mirror is never trusted: check against the bucket
        return compare_with_bucket(case.bucket, target, rels)
    for rel in rels:
        if sha256_file(target / rel) != sha256_file(case.root / rel):
            raise IntegrityError(f"{target / rel}: differs from {case.root / rel} after copying")
    return len(rels)


def _upload(case: Case, destination: str, rels: list[str], retention: dict[str, Any] | None,
            now: datetime) -> int:
    bucket = bucket_for(destination)
    info = case.info
    if info.retention is None and retention is not None:
        info = CaseInfo(info.id, info.origin, info.title, info.created, retention=retention)
    object_lock = object_lock_for(info, now)
    log_rel = "custody/log.jsonl"
    plain = [r for r in rels if r != log_rel and not r.startswith("custody/checkpoints/")]
    upload_many(bucket, case.root, [r for r in plain if not r.endswith("/" + SEAL)], object_lock)
    upload_many(bucket, case.root, [r for r in plain if r.endswith("/" + SEAL)], object_lock)
    lines = list(iter_lines(case.log_path))
    for seq, line in enumerate(lines):
        bucket.put_bytes(entry_rel(seq), line + b"\n", object_lock, if_none_match=True)
    notes = sorted((r for r in rels if r.startswith("custody/checkpoints/")),
                   key=lambda r: (r.rsplit("/", 1)[1][:20], not r.endswith(".checkpoint"), r))
    for rel in notes:  # a token or cosignature never before its checkpoint
        upload_many(bucket, case.root, [rel], object_lock)
    return compare_with_bucket(bucket, case.root, rels)


def compare_with_bucket(bucket: Bucket, root: Path, rels: list[str]) -> int:
    """Compare each file of a case folder (the log line by line) with the SHA256 checksum the
    bucket computed on receipt; ``IntegrityError`` naming the first that differs."""
    # optional: boto3 (the s3 extra), needed only for a case in a bucket
    from provenance.storage.store import b64

    log_rel = "custody/log.jsonl"
    checks: list[tuple[str, Path | bytes]] = [(r, root / r) for r in rels if r != log_rel]
    checks += [(entry_rel(seq), line + b"\n")
               for seq, line in enumerate(iter_lines(root / log_rel))]

    def check(item: tuple[str, Path | bytes]) -> None:
        rel, source = item
        expected = local_checksum(source) if isinstance(source, Path) else b64(_sha(source))
        if bucket.stored_checksum(rel) != expected:
            raise IntegrityError(f"{bucket.url}/{rel}: the copy differs from the bucket")

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(check, checks))
    return len(checks)


def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _mark_read_only(case: Case, why: str) -> None:
    if isinstance(case, MirrorCase):
        case.bucket.put_bytes(READ_ONLY_KEY, why.encode() + b"\n")
    else:
        write_durable(case.state_dir / READ_ONLY, why.encode() + b"\n", exclusive=False)


# -- a new case that continues another's history -----------------------------------------------


def fork(source: Case, root: Path, key: SigningKey, now: datetime,
         retention: dict[str, Any] | None) -> Case:
    """A new case at ``root`` holding ``source``'s captures, keys and certificates, whose log
    starts from the source's latest checkpoint (quoted in its init entry)."""
    note = latest_checkpoint(source)
    checkpoint = read_unverified(note, what="source checkpoint")
    case_id = str(uuid.uuid4())
    info = CaseInfo(case_id, f"prov-case/{case_id}", source.info.title,
                    timefmt.format_time(now), retention=source.info.retention or retention)
    for rel in evidence_files(source.root):
        if rel.startswith(("keys/", "certs/", "captures/")):
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source.root / rel, root / rel)
    for sub in ("keys", "certs", "captures", "custody/checkpoints", "state"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    write_durable(root / "case.json", info.to_bytes())
    write_durable(root / "custody" / "log.jsonl", b"")
    (root / "keys" / f"{key.key_id.split(':', 1)[1]}.pub").write_bytes(key.public.pem())
    case = Case(root, info, info.to_bytes())
    init = NewEntry("init", (file_subject(case, root / "case.json"),), {
        "caseId": case_id, "origin": info.origin, "title": info.title,
        "publicKey": base64.b64encode(key.public.raw).decode(), "keyName": key.name,
        "continues": {"origin": source.info.origin, "size": checkpoint.size,
                      "root": "sha256:" + checkpoint.root.hex(), "checkpoint": note.decode()}})
    CustodyLog(case).append([init, *_relogged(iter_log_entries(source), key, source.info.id)],
                            key, now)
    return case


def _relogged(entries: Iterable[Entry], key: SigningKey, source_id: str) -> list[NewEntry]:
    """What verify of the new case needs from the old log: trust in the source's keys (its
    founder, transfers, key entries) and each capture with its timestamps, in order. A
    capture entry says which case its seal names (``sealedFor``: the source's id, or what the
    source's own entry said), so the new case adopts it openly (docs/SECURITY.md, "Moving
    evidence between cases")."""
    out = []
    for entry in entries:
        details = dict(entry.details)
        if entry.action == "init" and details.get("publicKey") != base64.b64encode(
                key.public.raw).decode():
            out.append(NewEntry("key-trusted", (), {"keyId": entry.actor,
                                                    "publicKey": details.get("publicKey"),
                                                    "sourceSeq": entry.seq}))
        elif entry.action == "transfer":
            out.append(NewEntry("key-trusted", (), {"keyId": details.get("to"),
                                                    "publicKey": details.get("publicKey"),
                                                    "sourceSeq": entry.seq}))
        elif entry.action in RELOGGED:
            if entry.action == "capture":
                details["sealedFor"] = details.get("sealedFor") or source_id
            out.append(NewEntry(entry.action, entry.subjects, {**details,
                                                               "sourceSeq": entry.seq}))
    return out
