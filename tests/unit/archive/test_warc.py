"""archive.warc.writer's writer: the cached WARC-Date is strftime's, and a record compressed in one
call (block in memory) is the same gzip member, byte for byte, as one streamed through a
compressobj (block spooled to disk), with the same leaf hash (WARC 1.1 annex D)."""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archive.warc.writer import (
    LEAF_PREFIX,
    ONE_SHOT_MAX,
    Block,
    Record,
    WarcWriter,
    encode_header,
    warc_date,
)

T0 = datetime(2024, 3, 4, 12, 0, 0, 250000, tzinfo=UTC)


@given(st.lists(st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1),
                             timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5)),
                                                        timezone(timedelta(minutes=330))])),
                min_size=1, max_size=20))
def test_warc_date_is_strftime_of_the_utc_time(moments: list[datetime]) -> None:
    for moment in moments:  # in any order: the cache must never answer for another second
        expected = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        assert warc_date(moment) == expected
        assert warc_date(moment.replace(microsecond=0)) == expected[:20] + "000000Z"


def _warcinfo(name: str) -> Record:
    return Record("warcinfo", "<urn:uuid:00000000-0000-4000-8000-000000000000>", T0,
                  Block.of(b"software: test\r\n"), [("WARC-Filename", name)],
                  content_type="application/warc-fields", with_payload_digest=False)


@pytest.mark.parametrize("size", [0, 1, 5000, ONE_SHOT_MAX, ONE_SHOT_MAX + 1, 3 * ONE_SHOT_MAX])
def test_one_shot_and_streamed_members_are_the_same_bytes(tmp_path: Path, size: int) -> None:
    body = (os.urandom(64) + b"compressible text " * 50) * (size // 964 + 1)
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n"
    data = (head + body)[:size]
    record = Record("response", "<urn:uuid:00000000-0000-4000-8000-000000000001>", T0,
                    Block.of(data), [("WARC-Target-URI", "http://example.com/")],
                    content_type="application/http;msgtype=response")
    whole = encode_header(record.header_lines()) + data + b"\r\n\r\n"
    writer = WarcWriter(tmp_path, warcinfo=_warcinfo)
    [location] = writer.write_group([record])
    [done] = writer.close()
    with open(tmp_path / done.name, "rb") as fh:
        fh.seek(location.offset)
        member = fh.read(location.length)
    streamed = zlib.compressobj(6, zlib.DEFLATED, 31)
    pieces = [whole[i:i + (1 << 20)] for i in range(0, len(whole), 1 << 20)]
    assert member == b"".join(streamed.compress(p) for p in pieces) + streamed.flush()
    assert member == zlib.compress(whole, 6, 31)
    assert gzip.decompress(member) == whole
    assert location.leaf_hash == hashlib.sha256(LEAF_PREFIX + whole).digest()
