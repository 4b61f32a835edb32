"""Verifying WARC files made by any tool (wget, Heritrix, browsertrix, warcio, prov): WARC 1.0
and 1.1, section 5 (named fields) and 6 (record types), IIPC "WARC digests" recommendation.

Each record: its mandatory headers (WARC-Record-ID, WARC-Date, WARC-Type; Content-Length is
needed to read it at all), its block digest and, for HTTP records, its payload digest, in any
of sha1/sha256/sha512/md5 and base32 or base16, the payload as recorded or transfer-decoded.
Across the files given: duplicate record ids, WARC-Concurrent-To and WARC-Refers-To targets,
and each revisit against its original when the original is among them.

Statuses, so that "no failure" never means "nothing was checked": a record with no block
digest is a warning (``record.noDigest``); a file in which no record has one fails
(``warc.noDigests``): nothing in it can be verified. A file that cannot be read to its end
fails (``warc.format``, with the offset); a file that is not a WARC at all is not a target
(``NotATargetError``, exit 4).
"""

from __future__ import annotations

import re
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from archive.errors import NotATargetError
from archive.members import inflate_head, is_gzip_file
from archive.recordcheck import decode_digest
from archive.scan import RecordResult
from provenance.parallel import Engine, Progress
from provenance.report import Report

IDENTICAL = ("http://netpreserve.org/warc/1.1/revisit/identical-payload-digest",
             "http://netpreserve.org/warc/1.0/revisit/identical-payload-digest")
WARC_DATE = re.compile(r"^\d{4}(-\d\d(-\d\d(T\d\d:\d\d(:\d\d(\.\d{1,9})?)?Z)?)?)?$")
MAX_LISTED = 5


@dataclass
class _Seen:
    """What the files have shown so far: ids, responses (for revisits), pending targets."""

    ids: dict[str, str] = field(default_factory=dict)  # record id -> where
    originals: dict[str, RecordResult] = field(default_factory=dict)
    by_uri_date: dict[tuple[str, str], str] = field(default_factory=dict)
    targets: list[tuple[str, str, str]] = field(default_factory=list)  # (check, where, id)
    revisits: list[tuple[str, str, RecordResult]] = field(default_factory=list)
    revisits_ok: int = 0


def sniff(path: Path) -> None:
    """Raise ``NotATargetError`` unless ``path`` is a regular file that starts as a WARC."""
    try:
        st = path.lstat()
    except OSError:
        raise NotATargetError(f"{path}: no such file") from None
    if not stat.S_ISREG(st.st_mode):
        raise NotATargetError(f"{path}: not a regular file")
    with open(path, "rb") as fh:
        gz = is_gzip_file(fh)
        fh.seek(0)
        head = fh.read(1 << 16)
    if gz:
        head = inflate_head(head, 64)
    if not head.startswith(b"WARC/"):
        raise NotATargetError(f"{path}: not a WARC file (starts {head[:16]!r})",
                              hint="prov verify-warc reads WARC files, gzipped or not")


def verify_warcs(paths: Sequence[Path], *, strict: bool = False, jobs: int | None = None,
                 all_records: bool = False,
                 on_progress: Callable[[Progress], None] | None = None) -> Report:
    for path in paths:
        sniff(path)
    report = Report(" ".join(map(str, paths)), "warc", strict=strict)
    seen = _Seen()

    def progress(done: Progress) -> None:
        assert on_progress is not None
        on_progress(replace(done, failures=report.counts["fail"]))

    with Engine(jobs, on_progress=progress if on_progress else None) as engine:
        engine.plan(paths, "full", digest=False)
        for path in paths:
            outcome = engine.scan(path, "full", digest=False)
            counts = {"pass": 0, "fail": 0, "noDigest": 0}
            for record in outcome.records:
                _record(report, seen, str(path), record, counts, all_records)
            _file_summary(report, str(path), outcome.count, counts, outcome.error)
    _cross_checks(report, seen)
    return report


def _record(report: Report, seen: _Seen, rel: str, record: RecordResult,
            counts: dict[str, int], all_records: bool) -> None:
    where = f"{rel} @{record.offset} {record.record_id or '(no id)'}"
    about = f"{record.warc_type or '?'}" + (f" for {record.uri}" if record.uri else "")
    before = len(report.findings)
    for label, result in (("block", record.block), ("payload", record.payload)):
        if result.status == "fail":
            report.add("fail", f"record.{label}Digest", where,
                       f"{label} digest does not match the record ({about})",
                       expected=result.declared, found=result.computed or result.form)
    problems = dict.fromkeys(record.problems)
    for name, value in (("WARC-Record-ID", record.record_id), ("WARC-Date", record.date),
                        ("WARC-Type", record.warc_type)):
        if not value:
            problems.setdefault(f"missing {name}")
    if record.date and not WARC_DATE.match(record.date):
        problems.setdefault(f"WARC-Date {record.date!r} is not a W3C-DTF date")
    for problem in problems:
        report.add("fail", "record.headers", where, problem)
    _note(report, seen, where, record)
    if any(f.status == "fail" for f in report.findings[before:]):
        counts["fail"] += 1
    elif record.block.status in ("absent", "unusable"):
        counts["noDigest"] += 1
        report.add("warn", "record.noDigest", where, f"no usable block digest ({about}): its "
                   "content cannot be checked", found=record.block.declared)
    else:
        counts["pass"] += 1
        if all_records:
            form = f", payload {record.payload.form}" if record.payload.status == "pass" else ""
            report.add("pass", "record", where, f"block digest matches ({about}{form})")


def _note(report: Report, seen: _Seen, where: str, record: RecordResult) -> None:
    if record.record_id:
        first = seen.ids.setdefault(record.record_id, where)
        if first != where:
            report.add("fail", "record.duplicateId", where,
                       f"record id already used by the record at {first}")
    for target in record.concurrent_to:
        seen.targets.append(("record.concurrentTo", where, target))
    if record.warc_type == "revisit":
        seen.revisits.append((where, record.record_id, record))
    elif record.refers_to:
        seen.targets.append(("record.refersTo", where, record.refers_to))
    if record.warc_type in ("response", "resource") and record.record_id:
        seen.originals.setdefault(record.record_id, record)
        if record.uri and record.date:
            seen.by_uri_date.setdefault((record.uri, record.date), record.record_id)


def _file_summary(report: Report, rel: str, count: int, counts: dict[str, int],
                  error: str | None) -> None:
    if error is not None:
        report.add("fail", "warc.format", rel, f"{error} (after {count} complete records)")
    if count and counts["noDigest"] == count:
        report.add("fail", "warc.noDigests", rel, f"none of its {count} records has a usable "
                   "block digest: nothing in this file can be verified")
    elif error is None and counts["fail"] == 0:
        report.add("pass", "warc", rel, f"{count} records read to the end: {counts['pass']} "
                   f"with digests that match, {counts['noDigest']} without a digest")


def _cross_checks(report: Report, seen: _Seen) -> None:
    missing: dict[str, list[str]] = {}
    for check, where, target in seen.targets:
        if target not in seen.ids:
            missing.setdefault(check, []).append(where)
    for where, _, record in seen.revisits:
        seen.revisits_ok += _revisit(report, seen, where, record, missing)
    if seen.revisits_ok:
        report.add("pass", "revisit", "revisits", f"{seen.revisits_ok} revisits have the payload "
                   "digest of their original in these files")
    for check, places in missing.items():
        shown = "; ".join(places[:MAX_LISTED]) + (" …" if len(places) > MAX_LISTED else "")
        what = {"record.concurrentTo": "WARC-Concurrent-To",
                "record.refersTo": "WARC-Refers-To",
                "revisit.original": "a revisit's original"}[check]
        report.add("warn", check, shown, f"{len(places)} records name {what} not in these "
                   "files (not checked)")


def _revisit(report: Report, seen: _Seen, where: str, record: RecordResult,
             missing: dict[str, list[str]]) -> bool:
    original_id = record.refers_to or seen.by_uri_date.get(
        (record.refers_to_uri or "", record.refers_to_date or ""), "")
    original = seen.originals.get(original_id)
    if record.profile not in IDENTICAL:
        if original_id and original_id not in seen.ids:
            missing.setdefault("revisit.original", []).append(where)
        return False  # server-not-modified: no payload to compare
    if original is None:
        missing.setdefault("revisit.original", []).append(where)
        return False
    ok = True
    for name, want, have in (("WARC-Refers-To-Target-URI", original.uri, record.refers_to_uri),
                             ("WARC-Refers-To-Date", original.date, record.refers_to_date)):
        if have is not None and have != want:
            report.add("fail", "revisit.original", where, f"{name} differs from the original "
                       f"{original_id}", expected=want, found=have)
            ok = False
    mine = decode_digest(record.payload.declared or "")
    theirs = decode_digest(original.payload.declared or "")
    if mine is None or theirs is None or mine[0] != theirs[0]:
        report.add("warn", "revisit.digest", where, "revisit and original payload digests "
                   "cannot be compared (absent or of different algorithms)",
                   expected=original.payload.declared, found=record.payload.declared)
        return False
    if mine[1] != theirs[1] or original.payload.status == "fail":
        report.add("fail", "revisit.digest", where, f"payload digest differs from the "
                   f"original {original_id}", expected=original.payload.declared,
                   found=record.payload.declared)
        return False
    return ok
