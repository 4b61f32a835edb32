"""provenance.base.untrusted_zip: a ZIP read as hostile input (bounded directory, no
encrypted, exotic or bomb members, a corrupt stream a ZipMemberError, never a crash)."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import pytest

from provenance.base.untrusted_zip import (
    central_directory_size,
    member_problem,
    open_zip,
    read_member,
)
from provenance.errors import ZipDirectoryTooLarge, ZipMemberError


def make(path: Path, members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_members_round_trip_within_their_limit(tmp_path: Path) -> None:
    path = make(tmp_path / "a.zip", {"a.txt": b"hello " * 100, "b.bin": b"\0" * 10})
    with open_zip(path) as zf:
        info = zf.getinfo("a.txt")
        assert member_problem(info) is None
        assert read_member(zf, info, 600) == b"hello " * 100
        with pytest.raises(ZipMemberError, match="more than 599"):
            read_member(zf, info, 599)


def test_the_central_directory_size_is_bounded(tmp_path: Path) -> None:
    path = make(tmp_path / "a.zip", {f"m{i}": b"" for i in range(50)})
    with path.open("rb") as fh:
        declared = central_directory_size(fh)
    assert declared is not None and declared > 50 * 46
    with pytest.raises(ZipDirectoryTooLarge, match="central directory"):
        open_zip(path, max_directory=declared - 1)
    assert central_directory_size(io.BytesIO(b"not a zip")) is None


def test_not_a_zip_and_a_corrupt_member(tmp_path: Path) -> None:
    (tmp_path / "text.zip").write_bytes(b"plain text")
    with pytest.raises(ZipMemberError, match="not a readable ZIP"):
        open_zip(tmp_path / "text.zip")
    path = make(tmp_path / "c.zip", {"x": bytes(range(256)) * 64})
    data = bytearray(path.read_bytes())
    data[40:60] = b"\xff" * 20  # inside the deflate stream of the one member
    path.write_bytes(bytes(data))
    with open_zip(path) as zf, pytest.raises(ZipMemberError, match=r"^x: "):
        read_member(zf, zf.getinfo("x"), 1 << 20)


def test_members_prov_never_writes_are_refused_unread() -> None:
    info = zipfile.ZipInfo("m")
    info.compress_type = zipfile.ZIP_BZIP2
    assert member_problem(info) is not None and "compression method 12" in str(member_problem(info))
    info = zipfile.ZipInfo("m")
    info.flag_bits |= 0x1
    assert member_problem(info) == "member is encrypted"
    info = zipfile.ZipInfo("m")
    info.compress_type, info.compress_size, info.file_size = zipfile.ZIP_DEFLATED, 1, 1 << 40
    assert "decompression bomb" in str(member_problem(info))
    assert member_problem(zipfile.ZipInfo("")) == "member without a name"


def test_a_member_cannot_reach_into_the_next(tmp_path: Path) -> None:
    """A compressed size over the following members (how overlapping members inflate one
    stream many times) is clamped to the member's own slot of the file."""
    path = make(tmp_path / "x.zip", {"a": b"A" * 1000, "b": b"B" * 1000}, zipfile.ZIP_STORED)
    data = bytearray(path.read_bytes())
    at = data.find(b"PK\x01\x02")  # the central directory entry of "a"
    struct.pack_into("<I", data, at + 20, len(data))  # "a" claims the whole file
    path.write_bytes(bytes(data))
    with open_zip(path) as zf:
        a, b = sorted(zf.infolist(), key=lambda i: i.header_offset)
        assert a.header_offset + 30 + a.compress_size <= b.header_offset
        assert read_member(zf, a, 4096) == b"A" * 1000  # stored: it still reads its own


def test_an_empty_archive_opens(tmp_path: Path) -> None:
    (tmp_path / "x.zip").write_bytes(b"PK\x05\x06" + bytes(18))
    with open_zip(tmp_path / "x.zip") as zf:
        assert zf.infolist() == []
