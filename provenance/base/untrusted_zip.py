"""Reading a ZIP an attacker may have written (APPNOTE 6.3.x, the format of a WACZ), in place.

Threat (docs/SECURITY.md, "Hostile input"): whoever writes the archive chooses every byte of
it, and Python's ``zipfile`` answers a damaged one with a dozen exception classes from as many
layers: ``BadZipFile`` for a bad header or CRC, ``zlib.error`` for a corrupt deflate stream,
``RuntimeError`` for a member flagged encrypted, ``NotImplementedError`` for a compression
method it does not know, ``EOFError`` for a cut stream, ``UnicodeDecodeError`` for a name,
``OSError`` from the file itself. Any of them escaping the verifier is exit 1, which hides
every finding made before it. It also builds one object per central directory entry before
any check could run, and bzip2 and LZMA members are inflated a whole chunk at a time.

So every ZIP prov reads is read through this module, which turns each of those failures into
``ZipMemberError`` (an integrity error: a finding, exit 3) and bounds the work:

- ``open_zip``: the central directory's declared size is capped before ``zipfile`` reads it,
  and each member is read only from its own slot of the file (overlapping members are the
  classic way to make one stream inflate many times).
- ``member_problem``: what makes a member unreadable before a byte of it is inflated: an
  encryption or patch flag, a method other than stored or deflated (all a WACZ may use), a
  declared inflation past ``MAX_RATIO`` (``archive.warc.members``' bound).
- ``open_member`` / ``read_member``: a stream (or the bytes, under a cap) whose every read
  turns a failure into ``ZipMemberError``.
"""

from __future__ import annotations

import io
import lzma
import os
import struct
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, BinaryIO

from archive.warc.members import MAX_RATIO, RATIO_SLACK
from provenance.base.untrusted import _short, open_regular, read_capped
from provenance.errors import UntrustedInputError, ZipDirectoryTooLarge, ZipMemberError

# zipfile makes an object per central directory entry (at least 46 bytes each) before any
# check can run: 8 MiB is some 80,000 members of a real export, and bounded memory
MAX_DIRECTORY = 8 << 20
READABLE_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}
# what zipfile and the codecs under it raise on damaged input (UnicodeDecodeError is a
# ValueError; RuntimeError is "encrypted, password required")
ZIP_FAILURES = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, lzma.LZMAError, OSError,
                EOFError, ValueError, struct.error, NotImplementedError, RuntimeError,
                OverflowError)
_ENCRYPTED, _PATCHED, _STRONG = 0x1, 0x20, 0x40


def central_directory_size(fh: BinaryIO) -> int | None:
    """The central directory's size as the end records declare it (APPNOTE 4.3.16, 4.3.14;
    the larger if both give one), or None when no end record is found (zipfile says why)."""
    try:
        size = fh.seek(0, 2)
        fh.seek(max(0, size - (0xFFFF + 22)))
        tail = fh.read(0xFFFF + 22)
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or len(tail) < at + 22:
            return None
        declared = int.from_bytes(tail[at + 12 : at + 16], "little")
        locator = tail[at - 20 : at] if at >= 20 else b""
        if locator[:4] == b"PK\x06\x07":
            fh.seek(int.from_bytes(locator[8:16], "little"))
            record = fh.read(56)
            if record[:4] == b"PK\x06\x06" and len(record) == 56:
                declared = max(declared, int.from_bytes(record[40:48], "little"))
        return declared
    except (OSError, ValueError, OverflowError):
        return None


def open_zip(path: Path, *, what: str | None = None,
             max_directory: int = MAX_DIRECTORY) -> zipfile.ZipFile:
    """``path`` (a regular file; a symlink the verifier named is followed) opened as a ZIP
    whose central directory is at most ``max_directory`` bytes, each member confined to its
    own slot of the file; ZipMemberError otherwise. The caller closes it."""
    label = what or path.name
    fh = _open_file(path, label)
    try:
        directory = central_directory_size(fh)
        if directory is not None and directory > max_directory:
            raise ZipDirectoryTooLarge(label, f"the ZIP's central directory is {directory:,} "
                                       f"bytes, more than {max_directory:,}: its members were "
                                       "not read")
        try:
            zf = zipfile.ZipFile(fh)
        except ZIP_FAILURES as exc:
            raise ZipMemberError(label, f"not a readable ZIP: {_short(exc)}") from None
        _keep_apart(zf, os.fstat(fh.fileno()).st_size)
        return zf
    except BaseException:
        fh.close()
        raise


def _keep_apart(zf: zipfile.ZipFile, size: int) -> None:
    """Clamp each member's compressed size to the bytes before the next member's header (or
    the central directory, or the end of the file). Overlapping members are how one
    deflate stream is inflated many times (a 42 KB "zip bomb" of petabytes); with every
    member in a slot of its own, what all of them inflate to is bounded by deflate's own ratio
    times the file's size. An honest archive is unchanged: a member whose declared size
    reached past its slot reads short and fails its CRC, or ends its stream in time and reads
    as it is."""
    infos = sorted(zf.infolist(), key=lambda i: i.header_offset)
    end = min(size, getattr(zf, "start_dir", size))
    afters = [*(i.header_offset for i in infos[1:]), end]
    for info, after in zip(infos, afters[: len(infos)], strict=True):
        slot = max(0, min(after, end) - info.header_offset - 30)
        info.compress_size = min(info.compress_size, slot)


def member_problem(info: zipfile.ZipInfo) -> str | None:
    """Why ``info`` cannot be read without inflating an unbounded amount, or None."""
    if not info.filename:
        return "member without a name"
    if info.flag_bits & (_ENCRYPTED | _STRONG):
        return "member is encrypted"
    if info.flag_bits & _PATCHED:
        return "member holds compressed patch data"
    if info.compress_type not in READABLE_METHODS:
        return (f"compression method {info.compress_type} (a WACZ member is stored or "
                "deflated)")
    if info.file_size > MAX_RATIO * info.compress_size + RATIO_SLACK:
        return (f"inflates to {info.file_size:,} bytes from {info.compress_size:,} (a "
                "decompression bomb)")
    return None


@contextmanager
def open_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> Iterator[BinaryIO]:
    """A buffered stream of one member; every failure to read it is ZipMemberError."""
    name = info.filename[:200]
    problem = member_problem(info)
    if problem is not None:
        raise ZipMemberError(name, problem)
    try:
        raw = zf.open(info)
    except ZIP_FAILURES as exc:
        raise ZipMemberError(name, f"cannot be read: {_short(exc)}") from None
    with raw, io.BufferedReader(_Guarded(raw, name), 1 << 16) as stream:
        yield stream


def read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    """The whole of a member of at most ``limit`` bytes (declared and read)."""
    name = info.filename[:200]
    if info.file_size > limit:
        raise ZipMemberError(name, f"{info.file_size:,} bytes, more than {limit:,}")
    with open_member(zf, info) as fh:
        return read_capped(fh, limit, what=name,
                           error=lambda _: ZipMemberError(name, f"more than {limit:,} bytes"))


class _Guarded(io.RawIOBase):
    """A member's raw stream whose failures are ZipMemberError (one place, every read)."""

    def __init__(self, inner: IO[bytes], name: str) -> None:
        self._inner, self._name = inner, name

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        try:
            data = self._inner.read(len(buffer))
        except ZIP_FAILURES as exc:
            raise ZipMemberError(self._name, f"cannot be read: {_short(exc)}") from None
        buffer[: len(data)] = data
        return len(data)


def _open_file(path: Path, label: str) -> BinaryIO:
    try:  # a FIFO named as the target cannot hang the open
        fd = open_regular(path, what=label, follow=True)
    except UntrustedInputError as exc:
        raise ZipMemberError(label, str(exc).removeprefix(f"{label}: ")) from None
    return os.fdopen(fd, "rb")
