"""archive.warc.members: gzip members of a WARC, walked without trusting them (bombs bounded,
damaged members skipped to the next record)."""

from __future__ import annotations

import gzip
import io
import zlib
from pathlib import Path

import pytest
import warcs

from archive.errors import WarcFormatError
from archive.warc.members import (
    BOMB,
    MAX_RATIO,
    RATIO_SLACK,
    check_inflation,
    first_bytes,
    is_gzip_file,
    member_end,
    next_record_member,
    split_points,
)


def members(count: int) -> list[bytes]:
    return [gzip.compress(warcs.response(b"body %d" % i * 300), mtime=0) for i in range(count)]


def test_check_inflation_bound() -> None:
    check_inflation(0, 1000, MAX_RATIO * 1000 + RATIO_SLACK)  # at the bound: fine
    with pytest.raises(WarcFormatError, match=BOMB):
        check_inflation(42, 1000, MAX_RATIO * 1000 + RATIO_SLACK + 1)


def test_member_end_and_next_record_member(tmp_path: Path) -> None:
    parts = members(3)
    data = b"".join(parts)
    fh = io.BytesIO(data)
    assert member_end(fh, 0, len(data)) == len(parts[0])
    assert member_end(fh, 0, len(parts[0]) - 1) is None  # cut before its end
    assert next_record_member(fh, 0, len(data)) == len(parts[0])
    assert next_record_member(fh, len(parts[0]) + len(parts[1]), len(data)) is None


def test_a_damaged_member_is_skipped_to_the_next_record() -> None:
    parts = members(3)
    broken = parts[1][:20] + bytes(len(parts[1]) - 20)  # header kept, deflate stream zeroed
    data = parts[0] + broken + parts[2]
    fh = io.BytesIO(data)
    assert next_record_member(fh, len(parts[0]), len(data)) == len(parts[0]) + len(broken)


def test_first_bytes_skips_an_empty_leading_member(tmp_path: Path) -> None:
    path = tmp_path / "a.warc.gz"
    path.write_bytes(gzip.compress(b"", mtime=0) + members(1)[0])
    with path.open("rb") as fh:
        assert is_gzip_file(fh)
        assert first_bytes(fh, 8, True) == b"WARC/1.1"
    plain = io.BytesIO(warcs.warcinfo())
    assert not is_gzip_file(plain)
    assert first_bytes(plain, 5, False) == b"WARC/"


def test_split_points_fall_on_record_starts(tmp_path: Path) -> None:
    parts = members(8)
    path = tmp_path / "a.warc.gz"
    path.write_bytes(b"".join(parts))
    starts = {sum(len(p) for p in parts[:i]) for i in range(len(parts))}
    with path.open("rb") as fh:
        points = split_points(fh, 4, True)
    assert points[0] == 0 and len(points) > 1
    assert set(points) <= starts
    assert points == sorted(set(points))


def test_a_bomb_member_does_not_end() -> None:
    bomb = gzip.compress(b"\0" * (RATIO_SLACK + (16 << 20)), mtime=0, compresslevel=9)
    assert len(bomb) * MAX_RATIO < RATIO_SLACK  # far more than the allowed ratio
    assert member_end(io.BytesIO(bomb), 0, len(bomb)) is None
    assert zlib.decompress(bomb[10:-8], -15)[:1] == b"\0"
