"""One pass over a byte range of a WARC file, record by record (WARC 1.1, section 4).

Two modes share the loop:

* ``leaf``: each record's RFC 9162 leaf hash (``0x00`` and the complete uncompressed record,
  ``WARC/1.1`` through its closing ``CRLF CRLF``), and nothing else. What it hashes is checked
  by comparing roots with a seal, so a header is only parsed as far as ``Content-Length``.
* ``full``: every record's header strictly parsed, its block and payload digests checked
  (``archive.warc.recordcheck``), and what cross-record checks need (ids, targets, revisits).
* ``judge`` (``judge-all``: passes too): as ``full``, each record judged on the spot
  (``archive.warc.recordjudge``) so that only findings, counts and cross-record rows leave.

Threat model: the file is hostile. Header blocks are bounded, blocks are streamed and never held
whole, a range ending inside a member, a header or a block is an error naming the offset, and
no error escapes as an exception: ``scan_range`` returns it with how far reading got.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple, Protocol

from archive.errors import WarcFormatError
from archive.warc.members import RangeReader, is_gzip_file, next_record_member, whole_members
from archive.warc.reader import MAX_HEADER_BLOCK, RecordHead, parse_head
from archive.warc.recordcheck import BlockChecker, DigestCheck
from archive.warc.recordjudge import Batch, judge
from archive.warc.writer import LEAF_PREFIX

END = b"\r\n\r\n"
COMPACT = 4 << 20  # drop consumed bytes from the buffer past this many
FLUSH = 4096  # judge mode, reading in this process: records per batch handed on
MAX_ERRORS = 100  # format errors read past in one range, before the rest is given up
# leaf mode hands reading back to _whole_records after a record this small (a member of it
# fits one inflate piece); after a larger one, trying would only read its successor twice
HANDBACK = 32 << 10
CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d{1,18})[ \t]*\r\n", re.IGNORECASE)
# What cross-record checks (revisits and their originals) need of a leaf-mode record.
NOTED = re.compile(rb"\r\n(warc-(?:type|record-id|target-uri|date|payload-digest|profile|refers-to"
                   rb"(?:-target-uri|-date)?|concurrent-to)):[ \t]*([^\r\n]*)", re.IGNORECASE)
# prov's exchange metadata record (docs/FORMATS.md): the decoded body's digest, for the revisit
# check. A JSON member of that name (an escaped one inside a string cannot match); a block that
# names it other than once, or is larger than MAX_METADATA, gives nothing.
DECODED = re.compile(rb'"decodedBodySha256":[ \t\r\n]*"(sha256:[0-9a-f]{64})"')
MAX_METADATA = 1 << 20


class Digest(NamedTuple):
    """A ``DigestCheck`` as a tuple: cheap to send between processes."""

    status: str
    declared: str | None
    computed: str | None
    form: str | None

    @classmethod
    def of(cls, check: DigestCheck, *, keep_declared: bool = False) -> Digest:
        if check.status == "pass":  # what matched needs no repeating
            return cls("pass", check.declared if keep_declared else None, None, check.form)
        return cls(check.status, check.declared, check.computed, check.form)


class RecordResult(NamedTuple):
    """What a full scan learnt about one record (tuples, to send between processes)."""

    offset: int
    record_id: str
    warc_type: str
    uri: str | None
    date: str | None
    block: Digest
    payload: Digest
    problems: tuple[str, ...]
    concurrent_to: tuple[str, ...]
    refers_to: str | None
    refers_to_uri: str | None
    refers_to_date: str | None
    profile: str | None


@dataclass
class RangeResult:
    start: int
    end: int  # offset where reading stopped: the range's end unless ``error``
    count: int = 0
    uncompressed: int = 0
    leaves: bytes = b""  # 32 bytes per record, leaf mode
    # leaf mode, for the revisit check: responses as (record id, target URI, date, payload
    # digest); revisits as (offset, ((lowercase header name, value), ...))
    responses: list[tuple[str, str | None, str | None, str | None]] = field(default_factory=list)
    heads: list[tuple[int, tuple[tuple[str, str], ...]]] = field(default_factory=list)
    # and each metadata record's decodedBodySha256, as (the record it is concurrent to, digest)
    decoded: list[tuple[str, str]] = field(default_factory=list)
    records: list[RecordResult] = field(default_factory=list)  # full mode
    error: str | None = None  # the first error
    error_offset: int | None = None
    errors: list[str] = field(default_factory=list)  # every error, resynchronised past (full)
    batch: Batch | None = None  # judge mode: what was not handed to ``emit`` already


class _Sink(Protocol):
    def update(self, chunk: memoryview) -> object: ...


class _Tee:
    """Hashes a metadata block and keeps it, up to MAX_METADATA bytes."""

    __slots__ = ("block", "hash")

    def __init__(self, hash_: Any, length: int) -> None:
        self.hash = hash_
        self.block: bytearray | None = bytearray() if length <= MAX_METADATA else None

    def update(self, chunk: memoryview) -> None:
        self.hash.update(chunk)
        if self.block is not None:
            self.block += chunk


class _LeafSink:
    __slots__ = ("decoded", "hash", "heads", "leaves", "responses", "tee", "tee_for")

    def __init__(self) -> None:
        self.leaves = bytearray()
        self.hash = hashlib.sha256()
        self.responses: list[tuple[str, str | None, str | None, str | None]] = []
        self.heads: list[tuple[int, tuple[tuple[str, str], ...]]] = []
        self.decoded: list[tuple[str, str]] = []
        self.tee: _Tee | None = None
        self.tee_for = ""

    def begin(self, header: bytes, offset: int) -> tuple[_Sink, int]:
        match = CONTENT_LENGTH.search(header)
        if match is None:
            raise WarcFormatError(f"offset {offset}: missing or invalid Content-Length")
        self.hash = hashlib.sha256(LEAF_PREFIX)
        self.hash.update(header)
        length = int(match.group(1))
        concurrent = self._note(header, offset)
        if concurrent is not None:
            self.tee, self.tee_for = _Tee(self.hash, length), concurrent
            return self.tee, length
        return self.hash, length

    def _note(self, header: bytes, offset: int) -> str | None:
        """Keep the few headers of responses and revisits that cross-record checks read; the
        record a metadata record is concurrent to, when its block is wanted."""
        fields: dict[bytes, bytes] = {}
        for name, value in reversed(NOTED.findall(header)):  # the first of a repeated name wins
            fields[name.lower()] = value
        kind = fields.get(b"warc-type", b"").strip()
        if kind == b"response":
            self.responses.append((_text(fields.get(b"warc-record-id")) or "",
                                   _text(fields.get(b"warc-target-uri")),
                                   _text(fields.get(b"warc-date")),
                                   _text(fields.get(b"warc-payload-digest"))))
        elif kind == b"revisit":
            self.heads.append((offset, tuple((k.decode("ascii"), v.decode("utf-8", "replace")
                                              .strip()) for k, v in fields.items())))
        elif kind == b"metadata" and b"warc-concurrent-to" in fields:
            return _text(fields[b"warc-concurrent-to"])
        return None

    def whole(self, record: bytes, offset: int) -> bool:
        """A complete record in one piece (a gzip member holding exactly one record): what
        ``begin``, the block's updates and ``end`` do, at once. False, having done nothing,
        for anything else (the record-by-record reading then finds what is wrong)."""
        hend = record.find(END)
        if hend < 0 or not record.startswith(b"WARC/"):
            return False
        header = record[: hend + 4]
        match = CONTENT_LENGTH.search(header)
        if match is None or hend + 8 + int(match.group(1)) != len(record) or \
                not record.endswith(END):
            return False
        self.hash = hashlib.sha256(LEAF_PREFIX)
        self.hash.update(record)
        self.leaves += self.hash.digest()
        concurrent = self._note(header, offset)
        if concurrent is not None and len(record) - hend - 8 <= MAX_METADATA:
            found = DECODED.findall(record, hend + 4, len(record) - 4)
            if len(found) == 1:
                self.decoded.append((concurrent, found[0].decode("ascii")))
        return True

    def end(self) -> None:
        self.hash.update(END)
        self.leaves += self.hash.digest()
        if self.tee is not None:
            found = DECODED.findall(self.tee.block) if self.tee.block is not None else []
            if len(found) == 1:
                self.decoded.append((self.tee_for, found[0].decode("ascii")))
            self.tee = None


class _FullSink:
    def __init__(self) -> None:
        self.records: list[RecordResult] = []
        self._checker: BlockChecker | None = None

    def begin(self, header: bytes, offset: int) -> tuple[_Sink, int]:
        head = parse_head(header, offset)
        self._checker = BlockChecker(head)
        return self._checker, head.content_length  # type: ignore[return-value]

    def end(self) -> None:
        assert self._checker is not None
        check = self._checker.finish()
        head = check.head
        self.records.append(RecordResult(
            head.offset, head.record_id, head.warc_type, head.get("WARC-Target-URI"),
            head.get("WARC-Date"), Digest.of(check.block),
            Digest.of(check.payload, keep_declared=True),
            tuple(check.problems),
            tuple(head.get_all("WARC-Concurrent-To")), head.get("WARC-Refers-To"),
            head.get("WARC-Refers-To-Target-URI"), head.get("WARC-Refers-To-Date"),
            head.get("WARC-Profile")))


class _JudgeSink:
    """Judge mode: each record judged at once (``archive.warc.recordjudge``), nothing kept of it but
    findings, counts and cross-record rows; handed to ``emit`` every ``FLUSH`` records when
    there is one (reading in this process), else returned with the range."""

    def __init__(self, all_records: bool, emit: Callable[[Batch], None] | None) -> None:
        self.batch = Batch()
        self.all_records = all_records
        self.emit = emit
        self._checker: BlockChecker | None = None

    def begin(self, header: bytes, offset: int) -> tuple[_Sink, int]:
        head = parse_head(header, offset)
        self._checker = BlockChecker(head)
        return self._checker, head.content_length  # type: ignore[return-value]

    def end(self) -> None:
        assert self._checker is not None
        judge(self.batch, self._checker.finish(), self.all_records)
        if self.emit is not None and self.batch.count >= FLUSH:
            self.flush()

    def flush(self) -> None:
        if self.emit is not None and self.batch.count:
            self.emit(self.batch)
            self.batch = Batch()


def scan_range(path: Path, start: int, end: int, mode: str,
               emit: Callable[[Batch], None] | None = None, *,
               bounded: bool = True) -> RangeResult:
    """Scan the records of ``[start, end)``; format errors come back in the result.

    In full mode, a gzip file read past a damaged record resumes at the next gzip member that
    holds a record (``next_record_member``): one wrong Content-Length does not hide the rest.
    Leaf mode stops at the first error (a case's file that does not read is then localised in
    full mode)."""
    sink: _LeafSink | _FullSink | _JudgeSink
    if mode.startswith("judge"):
        sink = _JudgeSink(mode == "judge-all", emit)
    else:
        sink = _LeafSink() if mode == "leaf" else _FullSink()
    result = RangeResult(start, start)
    try:
        with open(path, "rb") as fh:
            gzip = is_gzip_file(fh)
            at: int | None = start
            fast = sink if gzip and isinstance(sink, _LeafSink) else None
            while at is not None:
                try:
                    if fast is not None:
                        at = _whole_records(fh, at, end, fast, result)
                    at = _scan(RangeReader(fh, at, end, gzip, bounded=bounded), sink, result,
                               fast is not None)
                except WarcFormatError as exc:
                    at = _error(result, fh, str(exc), end, gzip and mode != "leaf")
    except OSError as exc:
        _error(result, None, f"cannot read: {exc.strerror or exc}", end, False)
    if isinstance(sink, _JudgeSink):
        sink.flush()
        result.batch = sink.batch
        result.count = sink.batch.count
    elif isinstance(sink, _LeafSink):
        result.leaves = bytes(sink.leaves)
        result.heads = sink.heads
        result.responses = sink.responses
        result.decoded = sink.decoded
        result.count = len(sink.leaves) // 32
    else:
        result.records = sink.records
        result.count = len(sink.records)
    return result


def _error(result: RangeResult, fh: BinaryIO | None, message: str, end: int,
           resync: bool) -> int | None:
    """Note an error; the offset to resume reading at, or None to stop."""
    offset = _offset_in(message)
    resume = None
    if resync and fh is not None and offset is not None and len(result.errors) < MAX_ERRORS:
        resume = next_record_member(fh, offset, end)
    if resume is not None:
        message += f"; reading resumed at the next record's gzip member, offset {resume}"
    if result.error is None:
        result.error, result.error_offset = message, offset
    result.errors.append(message)
    return resume


def feed_record_at(path: Path, offset: int,
                   consumer: Callable[[RecordHead], Callable[[bytes], object]]) -> None:
    """Read the one record at ``offset`` (of its gzip member, or of the record): its head goes
    to ``consumer``, and its block, in pieces, to what that returns. Raises
    ``WarcFormatError`` (or ``OSError``) when it cannot be read."""
    with open(path, "rb") as fh:
        reader = RangeReader(fh, offset, os.fstat(fh.fileno()).st_size, is_gzip_file(fh))
        buf = reader.buf
        while (hend := buf.find(END)) < 0:
            if len(buf) > MAX_HEADER_BLOCK or not reader.fill():
                raise WarcFormatError(f"offset {offset}: no WARC header block")
        head = parse_head(bytes(buf[: hend + 4]), offset)
        update = consumer(head)
        pos, length = hend + 4, head.content_length
        while length:
            if pos == len(buf):
                reader.discard(pos)
                pos = 0
                if not reader.fill():
                    raise WarcFormatError(f"offset {offset}: file ends inside a record block")
            take = min(len(buf) - pos, length)
            update(bytes(buf[pos : pos + take]))
            pos += take
            length -= take


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("utf-8", "replace").strip()


def _offset_in(message: str) -> int | None:
    match = re.match(r"offset (\d+)", message)
    return int(match.group(1)) if match else None


def _whole_records(fh: BinaryIO, at: int, end: int, sink: _LeafSink,
                   result: RangeResult) -> int:
    """Leaf mode's fast way through gzip members that each hold one whole small record (as
    prov writes them): one inflate call and one hash per record. Returns the offset of the
    first member it did not take, where record-by-record reading (``_scan``) goes on; what it
    takes, it takes exactly as ``_scan`` would."""
    for offset, size, record in whole_members(fh, at, end):
        if not sink.whole(record, offset):
            break
        result.uncompressed += len(record)
        at = offset + size
    return at


def _scan(reader: RangeReader, sink: _LeafSink | _FullSink | _JudgeSink,
          result: RangeResult, handback: bool = False) -> int | None:
    """Read records to the range's end (None), or with ``handback`` only to the end of a
    small record that ends a gzip member: then the offset of the next member
    (``_whole_records`` takes over again)."""
    buf = reader.buf
    pos = 0
    while True:
        hend = buf.find(END, pos)
        while hend < 0:
            if len(buf) - pos > MAX_HEADER_BLOCK:
                raise WarcFormatError(f"offset {reader.member_at(reader.base + pos)}: "
                                      "WARC header block over 1 MiB")
            reader.discard(pos)
            pos = 0
            searched = max(0, len(buf) - 3)
            if not reader.fill():
                if buf:
                    raise WarcFormatError(f"offset {reader.member_at(reader.base)}: file ends "
                                          "inside a WARC header block")
                result.end = reader.end_offset
                return None
            hend = buf.find(END, searched)
        offset = reader.member_at(reader.base + pos)
        header = bytes(buf[pos : hend + 4])
        if not header.startswith(b"WARC/"):
            raise WarcFormatError(f"offset {offset}: not a WARC record (starts {header[:20]!r})")
        target, length = sink.begin(header, offset)
        small = len(header) + length <= HANDBACK  # the next record is likely small too
        pos = hend + 4
        while length:
            if pos == len(buf):
                reader.discard(pos)
                pos = 0
                if not reader.fill():
                    raise WarcFormatError(f"offset {offset}: file ends inside a record block "
                                          f"({length} bytes missing)")
            take = min(len(buf) - pos, length)
            with memoryview(buf) as view:
                target.update(view[pos : pos + take])
            pos += take
            length -= take
            result.uncompressed += take
        while len(buf) - pos < 4 and reader.fill():
            pass
        if buf[pos : pos + 4] != END:
            raise WarcFormatError(f"offset {offset}: record does not end with CRLF CRLF")
        pos += 4
        result.uncompressed += len(header) + 4
        sink.end()
        if handback and small and pos == len(buf) and \
                (next_member := reader.member_start()) is not None:
            return next_member
        if pos > COMPACT:
            reader.discard(pos)
            pos = 0

