"""Reading WARC files as a stream of records, in bounded memory (WARC 1.1, section 4).

Handles gzip files of one member per record (annex D) and uncompressed WARCs. Every record
comes with the offset and length of its gzip member, its header lines in order, and its
block as chunks; a record's block is valid until the next record is read (warcio's contract).

Threat model: input is hostile. Header lines and header blocks are bounded, the block is
read by its Content-Length and never held whole, and a truncated file or a record without
its closing CRLF CRLF is reported as a ``WarcFormatError`` naming the offset.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from archive.errors import WarcFormatError
from archive.warc.members import check_inflation

READ_CHUNK = 1 << 20
MAX_HEADER_BLOCK = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"


class _Inflater:
    """Uncompressed bytes of a file of gzip members (or of a plain file), each piece of
    output labelled with the file offset of the gzip member it came from."""

    def __init__(self, stream: BinaryIO, *, bounded: bool = True) -> None:
        self._stream = stream
        self._bounded = bounded
        self._raw = b""
        self._raw_pos = 0  # file offset of self._raw[0]
        self._zobj: zlib._Decompress | None = None
        self._member_start = 0
        self._member_out = 0
        first = stream.read(READ_CHUNK)
        self._raw = first
        self.gzip = first.startswith(GZIP_MAGIC)

    def read(self) -> tuple[bytes, int]:
        """(uncompressed bytes, offset of their member or of the bytes), b"" at the end."""
        if not self.gzip:
            data = self._raw or self._stream.read(READ_CHUNK)
            self._raw = b""
            offset = self._raw_pos
            self._raw_pos += len(data)
            return data, offset
        while True:
            if not self._raw:
                self._raw = self._stream.read(READ_CHUNK)
                if not self._raw:
                    if self._zobj is not None:
                        raise WarcFormatError(
                            f"offset {self._member_start}: file ends inside a gzip member"
                        )
                    return b"", self._raw_pos
            if self._zobj is None:
                self._member_start = self._raw_pos
                self._member_out = 0
                self._zobj = zlib.decompressobj(31)
            out = self._inflate()
            if out:
                return out, self._member_start

    def _inflate(self) -> bytes:
        zobj = self._zobj
        assert zobj is not None
        raw = self._raw
        try:
            out = zobj.decompress(raw, READ_CHUNK)
        except zlib.error as exc:
            raise WarcFormatError(f"offset {self._member_start}: bad gzip data ({exc})") from None
        if zobj.eof:
            self._raw = zobj.unused_data
            self._zobj = None
        else:
            self._raw = zobj.unconsumed_tail
        self._raw_pos += len(raw) - len(self._raw)
        self._member_out += len(out)
        if self._bounded:
            check_inflation(self._member_start, self._raw_pos - self._member_start,
                            self._member_out)
        return out


@dataclass
class RecordHead:
    """A record's place in its file and its header block."""

    offset: int  # of the gzip member (or of the record in an uncompressed file)
    header_bytes: bytes  # "WARC/1.1\r\n" through the blank line, exactly as stored
    version: str
    headers: list[tuple[str, str]]
    content_length: int
    # first value of each header by lowercase name: verifying asks a record for a dozen
    first: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    def get(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        first = self.first
        if not first and self.headers:
            for key, value in reversed(self.headers):
                first[key.lower()] = value
        return first.get(name.lower())

    def get_all(self, name: str) -> list[str]:
        lname = name.lower()
        if self.get(lname) is None:  # most records have none of a repeatable header
            return []
        return [value for key, value in self.headers if key.lower() == lname]

    @property
    def warc_type(self) -> str:
        return self.get("WARC-Type") or ""

    @property
    def record_id(self) -> str:
        return self.get("WARC-Record-ID") or ""


class WarcReader:
    """Iterates a WARC file's records: ``for head in reader: for chunk in reader.iter_block()``."""

    def __init__(self, stream: BinaryIO, *, bounded: bool = True) -> None:
        """``bounded=False`` lifts the decompression-bomb bound (``archive.members``): only
        for a file already proven to hold the sealed bytes."""
        self._inflater = _Inflater(stream, bounded=bounded)
        self._buf = bytearray()
        self._buf_offsets: list[tuple[int, int]] = []  # (index in _buf, member offset)
        self._pending_block = 0
        self._head: RecordHead | None = None
        self._consumed = 0  # uncompressed bytes consumed so far

    def _more(self) -> bool:
        data, offset = self._inflater.read()
        if not data:
            return False
        if not self._buf:
            self._buf_offsets = []
        if not self._buf_offsets or self._buf_offsets[-1][1] != offset:
            self._buf_offsets.append((len(self._buf), offset))
        self._buf += data
        return True

    def _consume(self, count: int) -> bytes:
        taken = bytes(self._buf[:count])
        del self._buf[:count]
        self._consumed += count
        shifted = [(max(0, i - count), off) for i, off in self._buf_offsets]
        # keep only the last segment that starts at or before the new buffer start
        while len(shifted) > 1 and shifted[1][0] == 0:
            shifted.pop(0)
        self._buf_offsets = shifted
        return taken

    def _offset_here(self) -> int:
        if not self._inflater.gzip:
            return self._consumed
        return self._buf_offsets[0][1]

    def __iter__(self) -> Iterator[RecordHead]:
        while True:
            if self._head is not None:
                for _ in self.iter_block():
                    pass
                self._finish_record()
            head = self._read_head()
            if head is None:
                return
            self._head = head
            yield head

    def _read_head(self) -> RecordHead | None:
        if not self._buf and not self._more():
            return None
        offset = self._offset_here()
        while (end := self._buf.find(b"\r\n\r\n")) < 0:
            if len(self._buf) > MAX_HEADER_BLOCK:
                raise WarcFormatError(f"offset {offset}: WARC header block over 1 MiB")
            if not self._more():
                raise WarcFormatError(f"offset {offset}: file ends inside a WARC header block")
        head = _parse_head(self._consume(end + 4), offset)
        self._pending_block = head.content_length
        return head

    def iter_block(self, chunk_size: int = READ_CHUNK) -> Iterator[bytes]:
        """The current record's block, in chunks; empty once consumed."""
        while self._pending_block > 0:
            if not self._buf and not self._more():
                offset = self._head.offset if self._head else "?"
                raise WarcFormatError(
                    f"offset {offset}: file ends inside a record block "
                    f"({self._pending_block} bytes missing)"
                )
            chunk = self._consume(min(self._pending_block, len(self._buf), chunk_size))
            self._pending_block -= len(chunk)
            yield chunk

    def _finish_record(self) -> None:
        head = self._head
        assert head is not None
        while len(self._buf) < 4 and self._more():
            pass
        if self._buf[:4] != b"\r\n\r\n":
            raise WarcFormatError(
                f"offset {head.offset}: record {head.record_id or '?'} does not end with CRLF CRLF"
            )
        self._consume(4)
        self._head = None


def parse_head(header_bytes: bytes, offset: int) -> RecordHead:
    """A record's header block (``WARC/1.1`` through the blank line), strictly parsed."""
    return _parse_head(header_bytes, offset)


def _parse_head(header_bytes: bytes, offset: int) -> RecordHead:
    lines = header_bytes[:-4].split(b"\r\n")
    version = lines[0].decode("ascii", "replace")
    if not version.startswith("WARC/"):
        raise WarcFormatError(f"offset {offset}: not a WARC record (starts {lines[0][:20]!r})")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (b" ", b"\t") and headers:  # continuation line (WARC 1.1 allows LWS)
            name, value = headers[-1]
            headers[-1] = (name, value + " " + line.strip().decode("utf-8", "replace"))
            continue
        raw_name, sep, raw_value = line.partition(b":")
        if not sep or not raw_name.strip():
            raise WarcFormatError(f"offset {offset}: malformed WARC header line {line[:60]!r}")
        headers.append((raw_name.decode("utf-8", "replace").strip(),
                        raw_value.decode("utf-8", "replace").strip()))
    head = RecordHead(offset, header_bytes, version, headers, 0)
    length = head.get("Content-Length")
    if length is None or not length.isdigit():
        raise WarcFormatError(f"offset {offset}: missing or invalid Content-Length {length!r}")
    head.content_length = int(length)
    return head
