"""Verifying a case in a bucket: the one verification engine on a fresh copy, plus what only
the bucket can say (S3 ListObjectVersions, Object Lock retention and legal hold).

Everything under the prefix except ``state/`` is evidence. The current version of each
evidence object is streamed into a temporary folder (bounded memory: a few 1 MiB buffers per
worker), the entry objects concatenated into ``custody/log.jsonl``, and ``CaseVerifier``
judges that folder exactly as it judges a case on disk. With ``--fixity`` the WARC objects
of the capture folders are not copied: each is streamed through sha256 (``Bucket.get_digest``)
and an empty placeholder keeps its name, the streamed digest standing for it
(``provenance.verification.fixity``); nothing of a WARC is written to disk. Then the bucket's
own findings:

- ``s3.versions`` (fail): an evidence key with more than one version, or a delete marker.
  Evidence is written once; a second version is someone with write access replacing it,
  a delete marker someone hiding it. Both are named with their version ids and times.
- ``s3.lock``: per object its lock mode, retain-until and legal hold; evidence not locked as
  case.json requires is a warning (a failure with ``--strict``).
"""

from __future__ import annotations

import os
import tempfile
from collections import defaultdict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archive.errors import NotATargetError, ProvError
from provenance.base import timefmt
from provenance.base.report import Report
from provenance.custody.case import WARC_SUFFIXES, Case
from provenance.custody.logfile import MAX_LINE
from provenance.storage.layout import (
    ENTRIES,
    ENTRY_NAME,
    bucket_for,
    entry_rel,
    folder_files,
    unknown_names,
)
from provenance.storage.retention import object_lock_for
from provenance.storage.transfer import upload_one
from provenance.verification.fixity import NOT_CHECKED

if TYPE_CHECKING:
    from provenance.storage.store import Bucket, Got, ObjectVersion

WORKERS = 16
SLACK = timedelta(hours=1)  # "days" retention is counted from the upload; clocks differ a little


def verify_bucket(url: str, verify_folder: Callable[[Path, Mapping[str, bytes] | None], Report],
                  *, fixity: bool = False) -> Report:
    """``fixity``: each sealed WARC object is streamed through sha256 and written nowhere
    (an empty placeholder keeps its name in the copy); ``verify_folder`` is given the digests
    by case-relative name and never reads a placeholder."""
    bucket = bucket_for(url)
    with tempfile.TemporaryDirectory(prefix="prov-verify-") as tmp:
        root = Path(tmp) / "case"
        root.mkdir()
        versions = list(bucket.iter_versions())
        evidence = [v for v in versions if not v.rel.startswith("state/")]
        current = sorted(v.rel for v in evidence if v.latest and not v.delete_marker)
        if "case.json" not in current:
            if any(v.rel == "case.json" for v in evidence):
                return _identity_hidden(bucket, evidence, fixity)
            raise NotATargetError(f"{bucket.url}: not a prov case (no case.json)")
        bad_names = unknown_names(current)
        entries = [rel for rel in current if ENTRY_NAME.match(rel) and rel not in bad_names]
        files = [rel for rel in current if rel not in set(entries) | set(bad_names)]
        streamed = [rel for rel in files if fixity and _is_warc(rel)]
        got = _download(bucket, root, [r for r in files if r not in set(streamed)] + entries)
        digests = _stream(bucket, root, streamed)
        got.update(digests)
        gaps, malformed = _assemble_log(root, entries)
        downloaded = _cosignatures(root)
        report = verify_folder(root, {rel: g.sha256 for rel, g in digests.items()}
                               if fixity else None)
        _upload_cosignatures(bucket, root, downloaded)
        report.target = str(bucket.url)
        for rel, why in sorted(bad_names.items()):
            report.add("fail", "s3.key", rel, f"{why} (not read)")
        for rel, why in folder_files(current).items():
            report.add("fail", "s3.key", rel, why)
        for seq, rel in gaps:
            report.add("fail", "s3.entries", entry_rel(seq),
                       f"custody entry {seq} is missing from the bucket (next present: {rel})")
        for rel in malformed:
            report.add("fail", "s3.entries", rel, "entry object that is not exactly one line "
                       "ending in a newline")
        _version_findings(report, evidence)
        _object_lock_findings(report, root, got, {v.rel: v for v in evidence if v.latest})
        report.add("info", "s3.bucket", str(bucket.url),
                   f"{len(current)} current evidence objects, {len(evidence)} versions and "
                   f"delete markers; Object Lock on the bucket: "
                   f"{'enabled' if bucket.object_lock_enabled() else 'NOT enabled'}")
    return report


def _identity_hidden(bucket: Bucket, evidence: list[ObjectVersion], fixity: bool) -> Report:
    """case.json was written and is now hidden or deleted: a case whose identity is gone
    is evidence destroyed (exit 3), not "not a case"."""
    report = Report(str(bucket.url), "case")
    if fixity:
        report.mode, report.not_checked = "fixity", list(NOT_CHECKED)
    report.add("fail", "case.file", "case.json", "the case's identity is hidden by a delete "
               "marker or deleted: nothing else in the case can be judged without it")
    _version_findings(report, evidence)
    return report


def _download(bucket: Bucket, root: Path, rels: list[str]) -> dict[str, Got]:
    def one(rel: str) -> tuple[str, Got]:
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        return rel, bucket.get_to_file(rel, target)

    with ThreadPoolExecutor(WORKERS) as pool:
        return dict(pool.map(one, rels))


def _is_warc(rel: str) -> bool:
    """A WARC file of a capture folder: what a fixity check streams instead of copying."""
    parts = rel.split("/")
    return len(parts) == 6 and parts[0] == "captures" and rel.endswith(WARC_SUFFIXES)


def _stream(bucket: Bucket, root: Path, rels: list[str]) -> dict[str, Got]:
    """Each object of ``rels`` streamed through sha256 (the GETs on as many threads as the
    downloads; hashlib works outside the interpreter lock), an empty file left in its place."""
    def one(rel: str) -> tuple[str, Got]:
        got = bucket.get_digest(rel)
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.touch()
        return rel, got

    with ThreadPoolExecutor(WORKERS) as pool:
        return dict(pool.map(one, rels))


def _assemble_log(root: Path, entries: list[str]) -> tuple[list[tuple[int, str]], list[str]]:
    """Concatenate the entry objects in sequence order into log.jsonl; return the first gap
    in the sequence and the objects that are not one line each."""
    log = root / "custody" / "log.jsonl"
    log.parent.mkdir(parents=True, exist_ok=True)
    gaps: list[tuple[int, str]] = []
    malformed: list[str] = []
    with open(log, "wb") as out:
        for seq, rel in enumerate(entries):
            if rel != entry_rel(seq) and not gaps:
                gaps.append((seq, rel))
            with open(root / rel, "rb") as fh:
                data = fh.read(MAX_LINE + 2)  # an oversized line shows as torn
            if not data.endswith(b"\n") or data.count(b"\n") != 1:
                malformed.append(rel)
            out.write(data)
            os.unlink(root / rel)
    if entries:
        os.rmdir(root / ENTRIES)  # only entry objects were downloaded into it
    return gaps, malformed


def _cosignatures(root: Path) -> set[str]:
    """Cosignatures in the copy's shard folders, case-relative (also their keys)."""
    return {p.relative_to(root).as_posix()
            for p in (root / "custody" / "checkpoints").glob("*/*.cosignature")}


def _upload_cosignatures(bucket: Bucket, root: Path, before: set[str]) -> None:
    """``verify --record`` wrote a cosignature into the copy: put it in the bucket too."""
    for rel in sorted(_cosignatures(root) - before):
        info = Case.load(root).info
        upload_one(bucket, root / rel, rel, object_lock_for(info, timefmt.utc_now()))


def _version_findings(report: Report, evidence: list[ObjectVersion]) -> None:
    by_key: dict[str, list[ObjectVersion]] = defaultdict(list)
    for version in evidence:
        by_key[version.rel].append(version)
    for rel, found in sorted(by_key.items()):
        markers = [v for v in found if v.delete_marker]
        if len(found) == 1 and not markers:
            continue
        found.sort(key=lambda v: v.modified)
        listed = "; ".join(
            f"{'delete marker' if v.delete_marker else 'version'} {v.version_id} at "
            f"{timefmt.format_time(v.modified)}{' (current)' if v.latest else ''}"
            for v in found)
        what = "a delete marker hides it" if markers else "it was replaced"
        report.add("fail", "s3.versions", rel,
                   f"evidence written once has {len(found)} versions: {what}: {listed}",
                   expected="1 version", found=f"{len(found) - len(markers)} versions, "
                                               f"{len(markers)} delete markers")


def _object_lock_findings(report: Report, root: Path, got: dict[str, Got],
                   latest: dict[str, ObjectVersion]) -> None:
    rule = _required(root)
    for rel, info in sorted(got.items()):
        state = _describe(info)
        version = latest.get(rel)
        need = _need(rule, version.modified if version else None)
        if need is None:
            report.add("pass", "s3.lock", rel, f"{state} (the case requires no lock)")
        elif _meets(info, need):
            report.add("pass", "s3.lock", rel, state)
        else:
            report.add("warn", "s3.lock", rel, "evidence not locked as the case requires",
                       expected=f"{need[0]} until {timefmt.format_time(need[1])} or later",
                       found=state)


def _required(root: Path) -> dict[str, Any] | None:
    try:
        info = Case.load(root).info
    except ProvError:
        return None
    return dict(info.retention) if info.retention else None


def _need(rule: dict[str, Any] | None, written: datetime | None) -> tuple[str, datetime] | None:
    if rule is None:
        return None
    mode = str(rule["mode"]).upper()
    if "until" in rule:
        return mode, timefmt.parse_time(str(rule["until"]))
    base = written or timefmt.utc_now()
    return mode, base + timedelta(days=int(rule["days"])) - SLACK


def _meets(info: Got, need: tuple[str, datetime]) -> bool:
    mode, until = need
    if info.lock_mode not in ("COMPLIANCE", "GOVERNANCE") or info.retain_until is None:
        return False
    if mode == "COMPLIANCE" and info.lock_mode != "COMPLIANCE":
        return False
    return bool(info.retain_until >= until)


def _describe(info: Got) -> str:
    hold = ", legal hold ON" if info.legal_hold else ""
    if info.lock_mode is None or info.retain_until is None:
        return f"not locked{hold}"
    return f"{info.lock_mode} until {timefmt.format_time(info.retain_until)}{hold}"
