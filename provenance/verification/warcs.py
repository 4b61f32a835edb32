"""Verifying WARC files made by any tool (wget, Heritrix, browsertrix, warcio, pywb, prov):
WARC 0.17 to 1.1, section 5 (named fields) and 6 (record types), IIPC "WARC digests"
recommendation. The rule for each digest situation, and the spec sentence it rests on, is in
docs/FORMATS.md, "verify-warc's checks".

Each record is judged where it is read, in a worker process (``archive.warc.recordjudge``): its
mandatory headers, its block digest and its payload digest as its type defines the payload.
Across the files given (``provenance.verification.crossrefs``, on disk, so memory does not grow
with the number of records): duplicate record ids, WARC-Concurrent-To and WARC-Refers-To targets,
each revisit against its original when the original is among them, and each segmented
record's payload digest against the logical record its segments make up (read again).

Statuses, so that "no failure" never means "nothing was checked": a record is checked when its
block or its payload digest matches; records with neither are counted (``record.noDigest``,
a warning), and a file in which no record is checked fails (``warc.noDigests``). A digest that
cannot be checked fails. A file that cannot be read fails (``warc.format``, with the offset,
once per damaged place); a file that is not a WARC at all is not a target (``NotATargetError``,
exit 4).
"""

from __future__ import annotations

import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import cast

from archive.errors import NotATargetError, WarcFormatError
from archive.warc.members import first_bytes, is_gzip_file
from archive.warc.reader import RecordHead
from archive.warc.recordcheck import DigestCheck, LogicalPayload, decode_digest
from archive.warc.recordjudge import MAX_LISTED, Batch
from archive.warc.scan import feed_record_at
from provenance.base.report import Report, Status
from provenance.verification.crossrefs import CrossRefs, Original
from provenance.verification.parallel import Engine, Tally

Finding = tuple[Status, str, str, str | None, str | None]


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
                 on_progress: Callable[[Tally], None] | None = None) -> Report:
    for path in paths:
        sniff(path)
    report = Report(" ".join(map(str, paths)), "warc", strict=strict)
    names = [str(p) for p in paths]
    mode = "judge-all" if all_records else "judge"

    def progress(done: Tally) -> None:
        assert on_progress is not None
        on_progress(replace(done, failures=report.counts["fail"]))

    with CrossRefs() as refs, Engine(jobs, on_progress=progress if on_progress else None) as \
            engine:
        engine.plan(paths, mode, digest=False)
        for number, path in enumerate(paths):
            total = Batch()

            def take(batch: Batch, number: int = number, total: Batch = total) -> None:
                rel = names[number]
                for status, check, offset, rid, message, expected, found in batch.findings:
                    report.add(cast(Status, status), check, f"{rel} @{offset} "
                               f"{rid or '(no id)'}", message, expected=expected, found=found)
                refs.add(number, batch)
                batch.findings = []
                total.extend(replace(batch, ids=[], targets=[], originals=[], revisits=[]))

            outcome = engine.scan_batches(path, mode, take)
            _file_summary(report, names[number], total, outcome.errors)
        _cross_checks(report, refs, names)
        _segments(report, refs, list(paths))
    return report


def _file_summary(report: Report, rel: str, total: Batch, errors: list[str]) -> None:
    for error in errors:
        report.add("fail", "warc.format", rel, error)
    count, tally = total.count, total.tally
    neither = tally["neither"]
    if neither:
        shown = "; ".join(f"@{offset} {rid or '(no id)'}" for offset, rid in total.unchecked)
        shown += " …" if neither > len(total.unchecked) else ""
        report.add("warn", "record.noDigest", rel, f"{neither} of {count} records have no "
                   f"digest that could be checked, so their content is not verified: {shown}")
    if count and neither == count:
        report.add("fail", "warc.noDigests", rel, f"none of its {count} records has a block "
                   "or payload digest that could be checked: nothing in this file can be "
                   "verified")
    elif not errors and tally["fail"] == 0:
        report.add("pass", "warc", rel, f"{count} records read to the end; digests that match: "
                   f"{tally['block and payload']} block and payload, {tally['block']} block "
                   f"only, {tally['payload']} payload only; {neither} with neither")


def _cross_checks(report: Report, refs: CrossRefs, names: list[str]) -> None:
    for file, offset, rid, first_file, first_offset in refs.duplicates():
        report.add("fail", "record.duplicateId", f"{names[file]} @{offset} {rid}",
                   f"record id already used by the record at {names[first_file]} "
                   f"@{first_offset} {rid}")
    missing: dict[str, list[str]] = {}
    counts: dict[str, int] = {}

    def miss(check: str, where: str) -> None:
        counts[check] = counts.get(check, 0) + 1
        if len(places := missing.setdefault(check, [])) < MAX_LISTED:
            places.append(where)

    for check, file, offset, rid in refs.missing_targets():
        miss(check, f"{names[file]} @{offset} {rid}")
    good = 0
    for file, offset, rid, refers, uri, date, payload, identical in refs.revisits():
        where = f"{names[file]} @{offset} {rid}"
        if not identical:  # server-not-modified: no payload to compare
            if refers and not refs.known(refers):
                miss("revisit.original", where)
            continue
        original_id, originals = refs.originals(refers, uri, date)
        if not originals:
            miss("revisit.original", where)
            continue
        # A duplicated id (a failure of its own) names several records: any one of them will do.
        verdicts = [_against(uri, date, payload, original, original_id) for original in originals]
        best = next((v for v in verdicts if not any(f[0] == "fail" for f in v)), verdicts[0])
        for status, check, message, expected, found in best:
            report.add(status, check, where, message, expected=expected, found=found)
        good += not best
    if good:
        report.add("pass", "revisit", "revisits", f"{good} revisits have the payload digest of "
                   "their original in these files")
    for check, places in missing.items():
        shown = "; ".join(places) + (" …" if counts[check] > len(places) else "")
        what = {"record.concurrentTo": "WARC-Concurrent-To",
                "record.refersTo": "WARC-Refers-To",
                "revisit.original": "a revisit's original"}[check]
        report.add("warn", check, shown, f"{counts[check]} records name {what} not in these "
                   "files (not checked)")


def _segments(report: Report, refs: CrossRefs, paths: list[Path]) -> None:
    """Each segmented record's payload digest against its logical record: the blocks of its
    segments, read again in order (WARC 1.1 section 7). Incomplete in these files: a warning."""
    for origin, declared in refs.segmented():
        rows = refs.segments(origin)
        file, offset, _, _ = next(rows)
        where = f"{paths[file]} @{offset} {origin}"
        try:
            check = _reassemble(paths, file, offset, rows)
        except (WarcFormatError, OSError) as exc:
            report.add("fail", "record.payloadDigest", where, f"a segment of this record "
                       f"cannot be read again: {exc}")
            continue
        if check is None:
            report.add("warn", "record.payloadDigest", where, "segmented record not complete "
                       "in these files (segments missing, or no WARC-Segment-Total-Length on "
                       "the last): the payload digest of the logical record is not checked",
                       found=declared)
        else:
            _logical(report, where, check)


def _reassemble(paths: list[Path], file: int, offset: int,
                rows: Iterator[tuple[int, int, int, str | None]]) -> DigestCheck | None:
    """The logical payload check, feeding the first segment's block and then each next one;
    None if a segment is missing or the last has no total length."""
    logical: list[LogicalPayload] = []

    def first(head: RecordHead) -> Callable[[bytes], object]:
        logical.append(LogicalPayload(head))
        return logical[0].update

    feed_record_at(paths[file], offset, first)
    last: str | None = None
    for number, (file, offset, seen, total) in enumerate(rows, start=2):
        if seen != number:
            return None
        feed_record_at(paths[file], offset, lambda head: logical[0].update)
        last = total
    return None if last is None else logical[0].finish()


def _logical(report: Report, where: str, check: DigestCheck) -> None:
    if check.status == "pass":
        report.add("pass", "record.segments", where, "payload digest matches the logical "
                   "record its segments make up (WARC 1.1 section 7)")
    else:
        report.add("fail", "record.payloadDigest", where, "payload digest does not match the "
                   f"logical record its segments make up (WARC 1.1 section 7): {check.form}",
                   expected=check.declared, found=check.computed)


def _against(uri: str | None, date: str | None, payload: str | None, original: Original,
             original_id: str) -> list[Finding]:
    """What is wrong with a revisit (identical-payload-digest) against one original."""
    found: list[Finding] = []
    _, their_uri, their_date, their_payload = original
    for name, want, have in (("WARC-Refers-To-Target-URI", their_uri, uri),
                             ("WARC-Refers-To-Date", their_date, date)):
        if have is not None and have != want:
            found.append(("fail", "revisit.original", f"{name} differs from the original "
                          f"{original_id}", want, have))
    mine = decode_digest(payload or "")
    theirs = decode_digest(their_payload or "")
    if mine is None or theirs is None or mine[0] != theirs[0]:
        found.append(("warn", "revisit.digest", "revisit and original payload digests cannot "
                      "be compared (absent or of different algorithms)", their_payload,
                      payload))
    elif not set(mine[1]) & set(theirs[1]):
        found.append(("fail", "revisit.digest", f"payload digest differs from the original "
                      f"{original_id}", their_payload, payload))
    return found
