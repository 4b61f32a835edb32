"""Writing WARC 1.1 records, one gzip member per record (WARC 1.1, sections 4-6 and annex D).

Digests follow the IIPC recommendation for WARC 1.1 (``sha256:`` and lowercase base16).
The payload digest covers the bytes after the HTTP header block exactly as recorded, chunk
framing included: the convention warcio, FastWARC and wget check against.

Every record is hashed while it is written, in one pass over its bytes: the sha256 of the
compressed file (the seal's subject digest) and the RFC 9162 leaf hash of the complete
uncompressed record (from ``WARC/1.1\\r\\n`` through the closing ``\\r\\n\\r\\n``) from which
``provenance`` derives the capture's records root.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, BinaryIO

WARC_VERSION = b"WARC/1.1"
CRLF = b"\r\n"
#: RFC 9162's leaf prefix, applied here so the records root costs no second pass.
LEAF_PREFIX = b"\x00"
SPOOL_IN_MEMORY = 1 << 20
COPY_CHUNK = 1 << 20
END_OF_RECORD = CRLF + CRLF
#: Records with a block up to this size are compressed in one call (the block is in memory).
ONE_SHOT_MAX = SPOOL_IN_MEMORY


#: The last second formatted by ``warc_date``: records come in bursts within one second, and
#: strftime is most of the cost of a date. One tuple, replaced whole (safe across threads).
_last_second: tuple[tuple[int, ...], str] = ((), "")


def warc_date(moment: datetime) -> str:
    """WARC 1.1 allows fractional seconds: always six digits, UTC, ``Z``."""
    global _last_second
    utc = moment if moment.tzinfo is UTC else moment.astimezone(UTC)
    key = (utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second)
    cached_key, prefix = _last_second
    if cached_key != key:
        prefix = utc.strftime("%Y-%m-%dT%H:%M:%S.")
        _last_second = (key, prefix)
    return f"{prefix}{utc.microsecond:06d}Z"


def sha256_label(digest: bytes) -> str:
    """The WARC header form of a sha256 digest: ``sha256:<lowercase hex>``."""
    return "sha256:" + digest.hex()


class Block:
    """A record block spooled to memory or disk while its digests are computed (one pass).

    ``mark_payload()`` says where the payload starts (after an HTTP header block); bytes
    written after it are hashed into the payload digest as well.
    """

    def __init__(self) -> None:
        self._spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
        self._block_hash = hashlib.sha256()
        self._payload_hash: hashlib._Hash | None = None
        self.length = 0
        self.payload_offset: int | None = None

    @classmethod
    def of(cls, data: bytes, *, payload_offset: int | None = None) -> Block:
        block = cls()
        if payload_offset is None:
            block.write(data)
        else:
            block.write(data[:payload_offset])
            block.mark_payload()
            block.write(data[payload_offset:])
        return block

    def write(self, data: bytes) -> None:
        self._spool.write(data)
        self._block_hash.update(data)
        if self._payload_hash is not None:
            self._payload_hash.update(data)
        self.length += len(data)

    def mark_payload(self) -> None:
        self.payload_offset = self.length
        self._payload_hash = hashlib.sha256()

    @property
    def block_digest(self) -> bytes:
        return self._block_hash.digest()

    @property
    def payload_digest(self) -> bytes | None:
        return None if self._payload_hash is None else self._payload_hash.digest()

    def iter_chunks(self) -> Iterator[bytes]:
        self._spool.seek(0)
        while chunk := self._spool.read(COPY_CHUNK):
            yield chunk

    def close(self) -> None:
        self._spool.close()


@dataclass
class Record:
    """A record to write: its type, its named headers in order, and its block."""

    warc_type: str
    record_id: str
    date: datetime
    block: Block
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_type: str | None = None
    payload_digest: str | None = None  # overrides the computed one (revisits)
    with_payload_digest: bool = True

    def header_lines(self) -> list[tuple[str, str]]:
        """The named header lines in the order they are written (after ``WARC/1.1``)."""
        lines = [
            ("WARC-Type", self.warc_type),
            ("WARC-Record-ID", self.record_id),
            ("WARC-Date", warc_date(self.date)),
            *self.headers,
        ]
        if self.content_type is not None:
            lines.append(("Content-Type", self.content_type))
        lines.append(("WARC-Block-Digest", sha256_label(self.block.block_digest)))
        payload = self.payload_digest
        if payload is None and self.with_payload_digest and self.block.payload_digest:
            payload = sha256_label(self.block.payload_digest)
        if payload is not None:
            lines.append(("WARC-Payload-Digest", payload))
        lines.append(("Content-Length", str(self.block.length)))
        return lines

    def header_bytes(self) -> bytes:
        return encode_header(self.header_lines())


def encode_header(lines: Sequence[tuple[str, str]]) -> bytes:
    """``WARC/1.1``, the header lines and the blank line, each ending in CRLF."""
    out = [WARC_VERSION]
    for name, value in lines:
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
            raise ValueError(f"WARC header {name!r} holds a line break")
        out.append(f"{name}: {value}".encode())
    return CRLF.join(out) + CRLF + CRLF


@dataclass(frozen=True)
class RecordLocation:
    """Where a written record landed, and the hash of its complete uncompressed bytes."""

    filename: str
    offset: int
    length: int
    record_id: str
    warc_type: str
    target_uri: str | None
    leaf_hash: bytes


@dataclass(frozen=True)
class WarcFile:
    """A finished WARC file: name, sha256 and size of its bytes, and its records."""

    name: str
    sha256: bytes
    size: int
    records: tuple[RecordLocation, ...]


#: Told of each record as it is written, under the writer's lock: its header lines (as in
#: ``Record.header_lines``), the first chunk of its block (the whole block, or at least its
#: first ``COPY_CHUNK`` bytes; ``b""`` for an empty block) and where it landed.
RecordObserver = Callable[[Sequence[tuple[str, str]], bytes, RecordLocation], None]


class _HashingFile:
    """An append-only file that hashes what it writes and knows its length."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: BinaryIO = open(path, "xb")  # noqa: SIM115
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self._fh.write(data)
        self._hash.update(data)
        self.size += len(data)

    def finish(self) -> bytes:
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        return self._hash.digest()


class WarcWriter:
    """Writes groups of records into ``<prefix>-NNNNN.warc.gz`` files, rolling over by size.

    A group (one HTTP exchange: request, response, metadata) is never split across files.
    Each new file starts with a warcinfo record made by ``warcinfo(filename)``. Thread-safe.
    """

    def __init__(
        self,
        directory: Path,
        *,
        warcinfo: Callable[[str], Record],
        prefix: str = "data",
        max_file_size: int = 1 << 30,
        compress_level: int = 6,
        on_record: RecordObserver | None = None,
    ) -> None:
        self.directory = directory
        self._on_record = on_record
        self._warcinfo = warcinfo
        self._prefix = prefix
        self._max = max_file_size
        self._level = compress_level
        self._lock = threading.Lock()
        self._file: _HashingFile | None = None
        self._records: list[RecordLocation] = []
        self._done: list[WarcFile] = []
        self.warcinfo_id: str | None = None

    def _filename(self) -> str:
        return f"{self._prefix}-{len(self._done):05d}.warc.gz"

    def _ensure_file(self) -> _HashingFile:
        if self._file is not None and self._file.size >= self._max:
            self._finish_file()
        if self._file is None:
            name = self._filename()
            self._file = _HashingFile(self.directory / name)
            info = self._warcinfo(name)
            self.warcinfo_id = info.record_id
            self._write_one(info, None)
        return self._file

    def write_group(self, records: Iterable[Record], target_uri: str | None = None) -> list[
        RecordLocation
    ]:
        """Write records together into one file; close each record's block afterwards."""
        with self._lock:
            self._ensure_file()
            return [self._write_one(r, target_uri) for r in records]

    def _write_one(self, record: Record, target_uri: str | None) -> RecordLocation:
        out = self._file
        assert out is not None
        offset = out.size
        lines = record.header_lines()
        head = encode_header(lines)
        if record.block.length <= ONE_SHOT_MAX:
            first, leaf = self._write_small(out, head, record.block)
        else:
            first, leaf = self._write_large(out, head, record.block)
        record.block.close()
        location = RecordLocation(
            filename=out.path.name,
            offset=offset,
            length=out.size - offset,
            record_id=record.record_id,
            warc_type=record.warc_type,
            target_uri=target_uri,
            leaf_hash=leaf.digest(),
        )
        self._records.append(location)
        if self._on_record is not None:
            self._on_record(lines, first, location)
        return location

    def _write_small(self, out: _HashingFile, head: bytes, block: Block) -> tuple[
        bytes, hashlib._Hash
    ]:
        """A record whose block is in memory (nearly all): one ``zlib.compress`` call, the
        same gzip member a compressobj makes. A compressobj per record costs several times
        more, because its buffers are allocated and faulted in again for each member."""
        data = b"".join(block.iter_chunks())
        record = b"".join((head, data, END_OF_RECORD))
        leaf = hashlib.sha256(LEAF_PREFIX)
        leaf.update(record)
        out.write(zlib.compress(record, self._level, 31))
        return data, leaf

    def _write_large(self, out: _HashingFile, head: bytes, block: Block) -> tuple[
        bytes, hashlib._Hash
    ]:
        """A record whose block may be on disk: streamed through one compressobj."""
        leaf = hashlib.sha256(LEAF_PREFIX)
        deflate = zlib.compressobj(self._level, zlib.DEFLATED, 31)
        leaf.update(head)
        out.write(deflate.compress(head))
        first = b""
        for chunk in block.iter_chunks():
            first = first or chunk
            leaf.update(chunk)
            out.write(deflate.compress(chunk))
        leaf.update(END_OF_RECORD)
        out.write(deflate.compress(END_OF_RECORD))
        out.write(deflate.flush())
        return first, leaf

    def _finish_file(self) -> None:
        assert self._file is not None
        digest = self._file.finish()
        self._done.append(
            WarcFile(self._file.path.name, digest, self._file.size, tuple(self._records))
        )
        self._file = None
        self._records = []

    def close(self) -> list[WarcFile]:
        """Finish (fsync) the current file and return every file written, in name order."""
        with self._lock:
            if self._file is None and not self._done:
                self._ensure_file()
            if self._file is not None:
                self._finish_file()
            return list(self._done)


