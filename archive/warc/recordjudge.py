"""Judging each record of a WARC file from any tool where it is read, in the worker process:
WARC 1.1 sections 5 (named fields), 5.8-5.9 (digests, see ``archive.warc.recordcheck``) and 6.

What leaves the worker is small and flat, so that the main process does next to nothing per
record: findings only for records with something to say, counts of what was checked, and the
rows that cross-record checks need (ids, targets, originals, revisits), which the main process
puts in an on-disk store rather than its heap. Threat model: every header is hostile; values
are kept as text and compared, never interpreted beyond the W3C-DTF pattern of ``WARC-Date``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from archive.warc.reader import RecordHead
from archive.warc.recordcheck import WHOLE_BLOCK, RecordCheck

WARC_DATE = re.compile(r"^\d{4}(-\d\d(-\d\d(T\d\d:\d\d(:\d\d(\.\d{1,9})?)?Z)?)?)?$")
# The identical-payload-digest profile of WARC 1.1 section 6.7.2, as WARC 0.18, 1.0 and 1.1 name
# it, and its URI-agnostic variant (the original may have another target URI; warcio, pywb).
IDENTICAL = re.compile(r"^https?://netpreserve\.org/warc/\d\.\d+/revisit/"
                       r"(uri-agnostic-)?identical-payload-digest$")
MAX_LISTED = 5
KINDS = ("block and payload", "block", "payload", "neither", "fail")

# (status, check, offset, record id, message, expected, found)
Finding = tuple[str, str, int, str, str, str | None, str | None]


@dataclass
class Batch:
    """What the records of a stretch of one file gave, in file order."""

    count: int = 0
    tally: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    unchecked: list[tuple[int, str]] = field(default_factory=list)  # the first few
    findings: list[Finding] = field(default_factory=list)
    ids: list[tuple[str, int]] = field(default_factory=list)  # (record id, offset)
    targets: list[tuple[str, str, int, str]] = field(default_factory=list)  # check, target, …
    # response and resource records: (record id, target URI, date, payload digest label)
    originals: list[tuple[str, str | None, str | None, str | None]] = field(default_factory=list)
    # (offset, record id, Refers-To, Refers-To-Target-URI, Refers-To-Date, payload label,
    #  whether its profile is identical-payload-digest)
    revisits: list[tuple[int, str, str | None, str | None, str | None, str | None, bool]] = (
        field(default_factory=list))
    # segments: (origin id, segment number, offset, total length or None, payload label of a
    # first segment or None)
    segments: list[tuple[str, int, int, str | None, str | None]] = field(default_factory=list)

    def extend(self, other: Batch) -> None:
        self.count += other.count
        for kind, n in other.tally.items():
            self.tally[kind] += n
        self.unchecked += other.unchecked[: MAX_LISTED - len(self.unchecked)]
        self.findings += other.findings
        self.ids += other.ids
        self.targets += other.targets
        self.originals += other.originals
        self.revisits += other.revisits
        self.segments += other.segments


def judge(batch: Batch, check: RecordCheck, all_records: bool) -> None:
    """Add one checked record to ``batch``."""
    head = check.head
    rid = head.record_id
    offset = head.offset
    batch.count += 1
    failed = _digest_findings(batch, check)
    failed = _header_findings(batch, head) or failed
    _note(batch, head, check)
    checked = (("block",) if check.block.status == "pass" else ()) + (
        ("payload",) if check.payload.status in ("pass", "misplaced") else ())
    if failed:
        batch.tally["fail"] += 1
    elif not checked:
        batch.tally["neither"] += 1
        if len(batch.unchecked) < MAX_LISTED:
            batch.unchecked.append((offset, rid))
    else:
        kind = " and ".join(checked)
        batch.tally[kind] += 1
        if all_records:
            form = f", payload {check.payload.form}" if "payload" in checked else ""
            batch.findings.append(("pass", "record", offset, rid, f"{kind} digest"
                                   f"{'s' if len(checked) > 1 else ''} match ({_about(head)}"
                                   f"{form})", None, None))


def _about(head: RecordHead) -> str:
    uri = head.get("WARC-Target-URI")
    return (head.warc_type or "?") + (f" for {uri}" if uri else "")


def _digest_findings(batch: Batch, check: RecordCheck) -> bool:
    head = check.head
    failed = False
    for label, result in (("block", check.block), ("payload", check.payload)):
        name = f"record.{label}Digest"
        add = batch.findings.append
        if result.status == "fail":
            hint = ""
            if result.form == WHOLE_BLOCK:
                hint = (": it is the block digest, but the payload of an application/http "
                        "block is its entity-body (WARC 1.1 section 5.9)")
            add(("fail", name, head.offset, head.record_id, f"{label} digest does not match "
                 f"the record ({_about(head)}){hint}", result.declared,
                 result.computed or result.form))
            failed = True
        elif result.status == "unusable":
            add(("fail", name, head.offset, head.record_id, f"{label} digest cannot be checked "
                 f"({_about(head)}): {result.form}", "algorithm:value, a known algorithm in "
                 "base16, base32 or base64", result.declared))
            failed = True
        elif result.status == "misplaced":
            add(("warn", name, head.offset, head.record_id, f"a {head.warc_type} record has "
                 "no payload (WARC 1.1 section 4), yet declares a payload digest; it equals "
                 "the block's, which matches", None, None))
    return failed


def _header_findings(batch: Batch, head: RecordHead) -> bool:
    problems: dict[str, None] = {}
    date = head.get("WARC-Date")
    for name, value in (("WARC-Record-ID", head.record_id), ("WARC-Date", date),
                        ("WARC-Type", head.warc_type)):
        if not value:
            problems[f"missing {name}"] = None
    if date and not WARC_DATE.match(date):
        problems[f"WARC-Date {date!r} is not a W3C-DTF date"] = None
    number = head.get("WARC-Segment-Number")
    if number is not None and not number.isdigit():
        problems[f"WARC-Segment-Number {number[:20]!r} is not a number"] = None
    for problem in problems:
        batch.findings.append(("fail", "record.headers", head.offset, head.record_id, problem,
                               None, None))
    return bool(problems)


def _note(batch: Batch, head: RecordHead, check: RecordCheck) -> None:
    rid = head.record_id
    offset = head.offset
    if rid:
        batch.ids.append((rid, offset))
    for target in head.get_all("WARC-Concurrent-To"):
        batch.targets.append(("record.concurrentTo", target, offset, rid))
    kind = head.warc_type
    refers = head.get("WARC-Refers-To")
    if kind == "revisit":
        batch.revisits.append((offset, rid, refers, head.get("WARC-Refers-To-Target-URI"),
                               head.get("WARC-Refers-To-Date"), check.payload.declared,
                               IDENTICAL.match(head.get("WARC-Profile") or "") is not None))
    elif refers:
        batch.targets.append(("record.refersTo", refers, offset, rid))
    number = head.get("WARC-Segment-Number")
    if number is not None and number.isdigit():
        first = kind != "continuation"
        origin = rid if first else head.get("WARC-Segment-Origin-ID") or ""
        batch.segments.append((origin, int(number), offset,
                               head.get("WARC-Segment-Total-Length"),
                               check.payload.declared if first else None))
    if kind in ("response", "resource") and rid:
        batch.originals.append((rid, head.get("WARC-Target-URI"), head.get("WARC-Date"),
                                check.payload.declared))
