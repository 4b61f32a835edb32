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
from archive.members import first_bytes, is_gzip_file
from archive.recordcheck import WHOLE_BLOCK, decode_digest
from archive.scan import RecordResult
from provenance.parallel import Engine, Progress
from provenance.report import Report, Status

# The identical-payload-digest profile of WARC 1.1 section 6.7.2, as WARC 0.18, 1.0 and 1.1 name
# it, and its URI-agnostic variant (the original may have another target URI; warcio, pywb).
IDENTICAL = re.compile(r"^https?://netpreserve\.org/warc/\d\.\d+/revisit/"
                       r"(uri-agnostic-)?identical-payload-digest$")
WARC_DATE = re.compile(r"^\d{4}(-\d\d(-\d\d(T\d\d:\d\d(:\d\d(\.\d{1,9})?)?Z)?)?)?$")
MAX_LISTED = 5


@dataclass
class _Seen:
    """What the files have shown so far: ids, responses (for revisits), pending targets."""

    ids: dict[str, str] = field(default_factory=dict)  # record id -> where
    originals: dict[str, list[RecordResult]] = field(default_factory=dict)
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
        head = first_bytes(fh, 64, is_gzip_file(fh))
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
            counts = dict.fromkeys(("block and payload", "block", "payload", "neither",
                                    "fail"), 0)
            unchecked: list[str] = []
            for record in outcome.records:
                _record(report, seen, str(path), record, counts, unchecked, all_records)
            errors = outcome.errors
            _file_summary(report, str(path), outcome.count, counts, unchecked, errors)
    _cross_checks(report, seen)
    return report


def _record(report: Report, seen: _Seen, rel: str, record: RecordResult,
            counts: dict[str, int], unchecked: list[str], all_records: bool) -> None:
    where = f"{rel} @{record.offset} {record.record_id or '(no id)'}"
    about = f"{record.warc_type or '?'}" + (f" for {record.uri}" if record.uri else "")
    before = len(report.findings)
    _digest_findings(report, where, about, record)
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
    checked = (("block",) if record.block.status == "pass" else ()) + (
        ("payload",) if record.payload.status in ("pass", "misplaced") else ())
    if any(f.status == "fail" for f in report.findings[before:]):
        counts["fail"] += 1
    elif not checked:
        counts["neither"] += 1
        if len(unchecked) < MAX_LISTED:
            unchecked.append(f"@{record.offset} {record.record_id or '(no id)'}")
    else:
        counts[" and ".join(checked)] += 1
        if all_records:
            form = f", payload {record.payload.form}" if "payload" in checked else ""
            report.add("pass", "record", where, f"{' and '.join(checked)} digest"
                       f"{'s' if len(checked) > 1 else ''} match ({about}{form})")


def _digest_findings(report: Report, where: str, about: str, record: RecordResult) -> None:
    for label, result in (("block", record.block), ("payload", record.payload)):
        check = f"record.{label}Digest"
        if result.status == "fail":
            hint = ""
            if result.form == WHOLE_BLOCK:
                hint = (": it is the block digest, but the payload of an application/http "
                        "block is its entity-body (WARC 1.1 section 5.9)")
            report.add("fail", check, where, f"{label} digest does not match the record "
                       f"({about}){hint}", expected=result.declared,
                       found=result.computed or result.form)
        elif result.status == "unusable":
            report.add("fail", check, where, f"{label} digest cannot be checked ({about}): "
                       f"{result.form}", expected="algorithm:value, a known algorithm in "
                       "base16, base32 or base64", found=result.declared)
        elif result.status == "misplaced":
            report.add("warn", check, where, f"a {record.warc_type} record has no payload "
                       "(WARC 1.1 section 4), yet declares a payload digest; it equals the "
                       "block's, which matches")
        elif result.status == "segmented":
            report.add("warn", check, where, "payload digest of a segmented record (that of "
                       "the whole logical record, WARC 1.1 section 7) not checked")


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
        seen.originals.setdefault(record.record_id, []).append(record)
        if record.uri and record.date:
            seen.by_uri_date.setdefault((record.uri, record.date), record.record_id)


def _file_summary(report: Report, rel: str, count: int, counts: dict[str, int],
                  unchecked: list[str], errors: list[str]) -> None:
    for error in errors:
        report.add("fail", "warc.format", rel, error)
    neither = counts["neither"]
    if neither:
        shown = "; ".join(unchecked) + (" …" if neither > len(unchecked) else "")
        report.add("warn", "record.noDigest", rel, f"{neither} of {count} records have no "
                   f"digest that could be checked, so their content is not verified: {shown}")
    if count and neither == count:
        report.add("fail", "warc.noDigests", rel, f"none of its {count} records has a block "
                   "or payload digest that could be checked: nothing in this file can be "
                   "verified")
    elif not errors and counts["fail"] == 0:
        report.add("pass", "warc", rel, f"{count} records read to the end; digests that match: "
                   f"{counts['block and payload']} block and payload, {counts['block']} block "
                   f"only, {counts['payload']} payload only; {neither} with neither")


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
    originals = seen.originals.get(original_id, [])
    if not IDENTICAL.match(record.profile or ""):
        if original_id and original_id not in seen.ids:
            missing.setdefault("revisit.original", []).append(where)
        return False  # server-not-modified: no payload to compare
    if not originals:
        missing.setdefault("revisit.original", []).append(where)
        return False
    # A duplicated id (a failure of its own) names several records: any one of them will do.
    verdicts = [_against(record, original, original_id) for original in originals]
    best = next((v for v in verdicts if not any(f[0] == "fail" for f in v)), verdicts[0])
    for status, check, message, expected, found in best:
        report.add(status, check, where, message, expected=expected, found=found)
    return not best


Finding = tuple[Status, str, str, str | None, str | None]


def _against(record: RecordResult, original: RecordResult, original_id: str) -> list[Finding]:
    """What is wrong with a revisit (identical-payload-digest) against one original."""
    found: list[Finding] = []
    for name, want, have in (("WARC-Refers-To-Target-URI", original.uri, record.refers_to_uri),
                             ("WARC-Refers-To-Date", original.date, record.refers_to_date)):
        if have is not None and have != want:
            found.append(("fail", "revisit.original", f"{name} differs from the original "
                          f"{original_id}", want, have))
    mine = decode_digest(record.payload.declared or "")
    theirs = decode_digest(original.payload.declared or "")
    if mine is None or theirs is None or mine[0] != theirs[0]:
        found.append(("warn", "revisit.digest", "revisit and original payload digests cannot "
                      "be compared (absent or of different algorithms)",
                      original.payload.declared, record.payload.declared))
    elif not set(mine[1]) & set(theirs[1]):
        found.append(("fail", "revisit.digest", f"payload digest differs from the original "
                      f"{original_id}", original.payload.declared, record.payload.declared))
    return found
