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


def test_whole_members_read_as_record_by_record(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Leaf mode's fast way through one-record members gives exactly what record-by-record
    reading gives: members of one record, a member too large for one piece, a member of two
    records, a record cut over two members, a metadata record's decoded digest, a revisit."""
    import os

    from archive.warc import members as members_module
    from archive.warc.scan import scan_range

    original = warcs.response(b"same body", uri="http://a.example/")
    rid = warcs.new_id()
    metadata = warcs.record("metadata", b'{"decodedBodySha256": "sha256:' + b"0" * 64 + b'"}',
                            extra=[("WARC-Concurrent-To", rid)])
    revisit = warcs.record("revisit", b"", uri="http://a.example/", extra=[
        ("WARC-Refers-To", rid), ("WARC-Profile", "http://netpreserve.org/warc/1.1/revisit/"
                                                  "identical-payload-digest")])
    big = warcs.response(os.urandom(300_000))  # stored: more than one piece compressed
    cut = warcs.response(b"cut in two " * 50)
    data = b"".join([
        *(gzip.compress(warcs.response(b"small %d" % i * 50), mtime=0) for i in range(5)),
        gzip.compress(original, mtime=0), gzip.compress(metadata, mtime=0),
        gzip.compress(big, mtime=0), gzip.compress(revisit, mtime=0),
        gzip.compress(original + metadata, mtime=0),  # two records in one member
        gzip.compress(cut[:100], mtime=0), gzip.compress(cut[100:], mtime=0),
        *(gzip.compress(warcs.response(b"after %d" % i * 50), mtime=0) for i in range(5)),
    ])
    path = tmp_path / "mixed.warc.gz"
    path.write_bytes(data)

    def leaf(start: int, end: int) -> tuple[object, ...]:
        r = scan_range(path, start, end, "leaf")
        return (r.leaves, r.count, r.uncompressed, r.end, r.error, r.responses, r.heads,
                r.decoded)

    taken: list[int] = []
    real = members_module.whole_members

    def counting(*args: object) -> object:
        for item in real(*args):  # type: ignore[arg-type]
            taken.append(item[0])
            yield item

    monkeypatch.setattr("archive.warc.scan.whole_members", counting)
    fast = leaf(0, len(data))
    assert len(taken) >= 12  # the one-record members went the fast way
    monkeypatch.setattr(members_module, "FEED", 8)  # no member fits a piece: record by record
    taken.clear()
    assert leaf(0, len(data)) == fast and not taken
    assert fast[1] == 17 and fast[4] is None and len(fast[7]) == 2  # type: ignore[arg-type]
    cut_slow = leaf(0, len(data) - 5)  # a range that ends inside a member: the same error
    monkeypatch.setattr(members_module, "FEED", 1 << 16)
    assert leaf(0, len(data) - 5) == cut_slow and cut_slow[4] is not None
