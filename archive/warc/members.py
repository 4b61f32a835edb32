"""Reading a byte range of a WARC file as uncompressed bytes, and splitting a file into ranges
that start on record boundaries, so that several processes can read one file at once.

WARC 1.1 annex D: a ``.warc.gz`` file is a sequence of gzip members (RFC 1952), ideally one per
record. A range is inflated member by member (with ISA-L's inflate when ``isal`` is present,
about twice zlib's speed), each uncompressed byte labelled with the file offset of the member it
came from. Input is fed in small pieces so that ``unused_data`` never copies much, and output is
bounded per call (a gzip bomb inflates at most ``MAX_OUT`` bytes at a time).

A bomb is bounded as a whole too (``check_inflation``, shared with ``archive.warc.reader``): a
member may inflate to at most ``MAX_RATIO`` times the compressed bytes it has consumed plus
``RATIO_SLACK``, and never past ``MAX_MEMBER_OUT``; beyond that reading stops with a
``WarcFormatError`` (a finding), not minutes of CPU per member. prov's own records stay far
inside it: a response is stored as received (a compressed body stays compressed), and up to
``RATIO_SLACK`` bytes of anything, even one repeated byte, pass. A file whose sha256 is the one
a trusted seal names is the operator's own evidence, however compressible (a 200 MB body of one
repeating pattern inflates 1000:1): the case verifier reads such a file again unbounded
(``bounded=False``), so the bound costs an attacker's bytes a finding and the sealed bytes
nothing.

Splitting is a guess that the reader confirms: a split point is the first position after a
nominal offset where a gzip member (or, uncompressed, a record after ``CRLF CRLF``) starts and
inflates to ``WARC/``. A guess inside a member only makes the range before it end inside a
member, which its reader reports; callers then read the file in one piece. So a file read in
ranges yields exactly what one sequential reader yields, or an error.
"""

from __future__ import annotations

import os
import zlib
from collections import deque
from collections.abc import Iterator
from types import ModuleType
from typing import BinaryIO, Protocol

from archive.errors import WarcFormatError

_inflate_mod: ModuleType
try:  # ISA-L's inflate: same API and results as zlib, about twice as fast
    from isal import isal_zlib as _inflate_mod
except ImportError:  # pragma: no cover - isal is a dependency, zlib the fallback
    _inflate_mod = zlib

READ = 1 << 20  # bytes read from the file at a time
FEED = 1 << 16  # compressed bytes given to inflate at a time (bounds unused_data copies)
MAX_OUT = 1 << 20  # uncompressed bytes one inflate call may return
SCAN_WINDOW = 1 << 20
MAX_RATIO = 100  # uncompressed bytes per compressed byte, beyond the slack
RATIO_SLACK = 64 << 20
MAX_MEMBER_OUT = 8 << 30  # one record: far above --max-body's reach
GZIP_MAGIC = b"\x1f\x8b\x08"
INFLATE_ERRORS: tuple[type[Exception], ...] = (zlib.error,
                                               getattr(_inflate_mod, "error", zlib.error))


class _Decompressor(Protocol):
    eof: bool
    unused_data: bytes
    unconsumed_tail: bytes

    def decompress(self, data: bytes | memoryview, max_length: int = ...) -> bytes: ...


def _new_member() -> _Decompressor:
    obj: _Decompressor = _inflate_mod.decompressobj(31)
    return obj


BOMB = "a decompression bomb"  # in the message of the error check_inflation raises


def check_inflation(member: int, consumed: int, produced: int) -> None:
    """Raise once the gzip member at ``member`` has inflated ``produced`` bytes from
    ``consumed`` compressed ones past the bound (a decompression bomb)."""
    if produced > MAX_RATIO * consumed + RATIO_SLACK or produced > MAX_MEMBER_OUT:
        raise WarcFormatError(f"offset {member}: gzip member inflates to more than "
                              f"{produced:,} bytes from {consumed:,} ({BOMB}; "
                              f"at most {MAX_RATIO}:1 beyond {RATIO_SLACK >> 20} MiB)")


def inflate_head(data: bytes, size: int) -> bytes:
    """At most ``size`` uncompressed bytes from the start of the gzip member in ``data``."""
    try:
        return bytes(_new_member().decompress(data, size))
    except INFLATE_ERRORS:
        return b""


def is_gzip_file(fh: BinaryIO) -> bool:
    fh.seek(0)
    return fh.read(2) == GZIP_MAGIC[:2]


class RangeReader:
    """Appends the uncompressed bytes of ``[start, end)`` to ``buf``, a piece per ``fill()``.

    ``marks`` holds (uncompressed position, member offset) for each member begun, positions
    counted from ``start``; ``member_at(pos)`` is the offset of the member holding ``pos``.
    Positions already consumed may be dropped from ``buf`` by ``discard()``.
    """

    def __init__(self, fh: BinaryIO, start: int, end: int, gzip: bool, *,
                 bounded: bool = True) -> None:
        self._fh = fh
        self._bounded = bounded  # False only for bytes already proven to be the sealed ones
        self._fpos = start  # file offset of the next byte to read
        self._end = end
        self.gzip = gzip
        self.start = start
        self.buf = bytearray()
        self.base = 0  # uncompressed position of buf[0]
        self.marks: deque[tuple[int, int]] = deque()
        self._raw = b""
        self._rpos = 0
        self._zobj: _Decompressor | None = None
        self._member = start
        self._member_in = self._member_out = 0  # compressed consumed, inflated, this member
        fh.seek(start)

    @property
    def end_offset(self) -> int:
        """File offset of the next byte to read (the range's end once ``fill()`` is False)."""
        return self._fpos

    def _read_raw(self) -> bool:
        size = min(READ, self._end - self._fpos)
        self._raw = self._fh.read(size) if size > 0 else b""
        self._rpos = 0
        self._fpos += len(self._raw)
        return bool(self._raw)

    def fill(self) -> bool:
        """Append more uncompressed bytes to ``buf``; False at the end of the range."""
        if not self.gzip:
            if not self._read_raw():
                return False
            self.buf += self._raw
            self._raw = b""
            return True
        while True:
            if self._rpos >= len(self._raw) and not self._read_raw():
                if self._zobj is not None:
                    raise WarcFormatError(f"offset {self._member}: file ends inside a gzip member")
                return False
            if self._zobj is None:
                self._member = self._fpos - len(self._raw) + self._rpos
                self.marks.append((self.base + len(self.buf), self._member))
                self._zobj = _new_member()
                self._member_in = self._member_out = 0
            if self._inflate():
                return True

    def _inflate(self) -> bool:
        zobj = self._zobj
        assert zobj is not None
        with memoryview(self._raw) as view:
            piece = view[self._rpos : self._rpos + FEED]
            try:
                out = zobj.decompress(piece, MAX_OUT)
            except INFLATE_ERRORS as exc:
                raise WarcFormatError(f"offset {self._member}: bad gzip data ({exc})") from None
            left = len(zobj.unused_data) if zobj.eof else len(zobj.unconsumed_tail)
            self._rpos += len(piece) - left
            self._member_in += len(piece) - left
            self._member_out += len(out)
            piece.release()
        if self._bounded:
            check_inflation(self._member, self._member_in, self._member_out)
        if zobj.eof:
            self._zobj = None
        if out:
            self.buf += out
            return True
        return False

    def member_start(self) -> int | None:
        """File offset of the next gzip member when every byte read so far was handed out
        in ``buf`` and no member is half read; None otherwise (or uncompressed)."""
        if not self.gzip or self._zobj is not None:
            return None
        return self._fpos - len(self._raw) + self._rpos

    def member_at(self, pos: int) -> int:
        """File offset of the member (or, uncompressed, of the byte) at position ``pos``."""
        if not self.gzip:
            return self.start + pos
        marks = self.marks
        while len(marks) > 1 and marks[1][0] <= pos:
            marks.popleft()
        return marks[0][1] if marks else self._member

    def discard(self, upto: int) -> None:
        """Forget ``buf`` before position ``upto`` (relative to ``buf``)."""
        if upto:
            del self.buf[:upto]
            self.base += upto


def whole_members(fh: BinaryIO, start: int, end: int) -> Iterator[tuple[int, int, bytes]]:
    """(offset, compressed size, uncompressed bytes) of each gzip member of ``[start, end)``
    that inflates, whole, from at most ``FEED`` compressed bytes to at most ``MAX_OUT`` (one
    inflate call each: the fast way through a file of small members). Iteration stops before
    the first member that is not such a member (or at ``end``)."""
    fh.seek(start)
    data = fh.read(min(2 * FEED, end - start))  # little, in case the first is a large member
    base, pos = start, 0  # file offset of data[0], position in data
    guess = FEED  # compressed bytes given at first: about twice the last member's (the bytes
    # after a member's end are copied into ``unused_data``, so a whole FEED costs a copy)
    while True:
        if len(data) - pos < FEED and base + len(data) < end:  # keep a whole piece ahead
            data = data[pos:] + fh.read(min(READ, end - base - len(data)))
            base, pos = base + pos, 0
        if pos >= len(data):
            return
        zobj = _new_member()
        with memoryview(data) as view:
            piece = view[pos : pos + guess]
            try:
                out = zobj.decompress(piece, MAX_OUT)
                size = len(piece)
                if not zobj.eof and not zobj.unconsumed_tail and size < FEED and \
                        len(out) < MAX_OUT and pos + size < len(data):  # the rest of FEED
                    rest = view[pos + size : pos + FEED]
                    out += zobj.decompress(rest, MAX_OUT - len(out))
                    size += len(rest)
                    rest.release()
            except INFLATE_ERRORS:
                return
            finally:
                piece.release()
        if not zobj.eof:  # larger than one piece, or a member cut by the range's end
            return
        # at most MAX_OUT bytes out, far inside check_inflation's slack: no bomb to bound
        used = size - len(zobj.unused_data)
        yield base + pos, used, out
        pos += used
        guess = min(FEED, max(4096, 2 * used))


def _member_inflates_to_warc(fh: BinaryIO, offset: int) -> bool:
    fh.seek(offset)
    head = fh.read(4096)
    if len(head) < 10 or head[3] & 0xE0:  # reserved FLG bits must be zero (RFC 1952)
        return False
    return inflate_head(head, 16).startswith(b"WARC/")


def find_record_start(fh: BinaryIO, pos: int, limit: int, gzip: bool) -> int | None:
    """The first offset in ``[pos, limit)`` where a record seems to start, or None."""
    while pos < limit:
        fh.seek(pos)
        window = fh.read(min(SCAN_WINDOW, limit - pos) + 8)
        if not window:
            return None
        needle = GZIP_MAGIC if gzip else b"\r\n\r\nWARC/"
        at = window.find(needle)
        while at >= 0 and pos + at < limit:
            if not gzip:
                return pos + at + 4
            if _member_inflates_to_warc(fh, pos + at):
                return pos + at
            at = window.find(needle, at + 1)
        pos += SCAN_WINDOW
    return None


def member_end(fh: BinaryIO, offset: int, limit: int) -> int | None:
    """The offset just past the gzip member at ``offset``; None if it does not inflate to its
    end before ``limit``. Output is thrown away, at most ``MAX_OUT`` bytes at a time."""
    fh.seek(offset)
    zobj = _new_member()
    pos = offset
    produced = 0
    while pos < limit:
        raw = fh.read(min(READ, limit - pos))
        if not raw:
            return None
        pos += len(raw)
        data = raw
        while data:
            try:
                out = zobj.decompress(data, MAX_OUT)
                produced += len(out)
                while len(out) == MAX_OUT and not zobj.eof and not zobj.unconsumed_tail:
                    out = zobj.decompress(b"", MAX_OUT)
                    produced += len(out)
                check_inflation(offset, pos - offset, produced)  # a bomb is not walked
            except INFLATE_ERRORS:
                return None
            except WarcFormatError:
                return None
            if zobj.eof:
                return pos - len(zobj.unused_data)
            data = zobj.unconsumed_tail
    return None


def next_record_member(fh: BinaryIO, offset: int, limit: int) -> int | None:
    """Where reading can resume after a damaged record in the gzip member at ``offset``: the
    next member, walking member by member, that inflates to ``WARC/``; past a member that does
    not inflate, the first gzip header found that does. None if there is none before ``limit``."""
    last, pos = offset, member_end(fh, offset, limit)
    while pos is not None and pos < limit:
        if _member_inflates_to_warc(fh, pos):
            return pos
        last, pos = pos, member_end(fh, pos, limit)
    if pos is None:
        return find_record_start(fh, last + 1, limit, True)
    return None


def first_bytes(fh: BinaryIO, size: int, gzip: bool) -> bytes:
    """Up to ``size`` uncompressed bytes from the start of the file, past any empty gzip members
    (some tools begin a file with one)."""
    fh.seek(0)
    if not gzip:
        return fh.read(size)
    reader = RangeReader(fh, 0, os.fstat(fh.fileno()).st_size, True)
    try:
        while len(reader.buf) < size and reader.fill():
            pass
    except WarcFormatError:
        pass
    return bytes(reader.buf[:size])


def split_points(fh: BinaryIO, parts: int, gzip: bool) -> list[int]:
    """Offsets that cut the file into about ``parts`` ranges: 0, then guessed record starts."""
    size = os.fstat(fh.fileno()).st_size
    points = [0]
    for i in range(1, parts):
        nominal = size * i // parts
        if nominal <= points[-1]:
            continue
        found = find_record_start(fh, nominal, size * (i + 1) // parts, gzip)
        if found is not None and found > points[-1]:
            points.append(found)
    return points
