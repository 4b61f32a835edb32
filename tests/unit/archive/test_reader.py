"""archive.warc.reader: records read back as written, gzip per record or not; a file that lies
about its framing is a WarcFormatError naming the offset."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest
import warcs

from archive.errors import WarcFormatError
from archive.warc.reader import MAX_HEADER_BLOCK, WarcReader, parse_head

BODIES = [b"<p>one</p>", b"", b"x" * 70_000]


def read_all(data: bytes) -> list[tuple[str, int, bytes]]:
    reader = WarcReader(io.BytesIO(data))
    return [(h.warc_type, h.offset, b"".join(reader.iter_block(1000))) for h in reader]


@pytest.mark.parametrize("gz", [True, False])
def test_records_round_trip_with_their_offsets(tmp_path: Path, gz: bool) -> None:
    records = [
        warcs.warcinfo(),
        *(warcs.response(b, f"http://a.test/{i}") for i, b in enumerate(BODIES)),
    ]
    data = warcs.write(tmp_path / "a.warc", records, gz=gz).read_bytes()
    read = read_all(data)
    assert [t for t, _, _ in read] == ["warcinfo", "response", "response", "response"]
    assert [block.endswith(body) for (_, _, block), body in zip(read[1:], BODIES, strict=True)] == [
        True
    ] * 3
    sizes = [len(gzip.compress(r, mtime=0)) if gz else len(r) for r in records]
    assert [o for _, o, _ in read] == [sum(sizes[:i]) for i in range(len(records))]


def test_unread_blocks_are_skipped_and_headers_read() -> None:
    data = warcs.response(b"hello", "http://a.test/") + warcs.warcinfo()
    reader = WarcReader(io.BytesIO(data))
    heads = list(reader)  # no block read: each is skipped
    assert [h.warc_type for h in heads] == ["response", "warcinfo"]
    assert heads[0].get("warc-target-uri") == "http://a.test/"
    assert heads[0].get_all("WARC-Type") == ["response"]
    assert heads[0].record_id.startswith("<urn:uuid:")


def test_a_truncated_block_names_the_offset() -> None:
    data = warcs.warcinfo() + warcs.response(b"hello")
    first = len(warcs.warcinfo())
    with pytest.raises(WarcFormatError, match=rf"offset {first}: file ends inside a record"):
        read_all(data[:-10])


def test_a_record_without_its_closing_crlf_is_refused() -> None:
    data = warcs.response(b"hello")
    with pytest.raises(WarcFormatError, match="does not end with CRLF CRLF"):
        read_all(data[:-4] + b"XXXX")


def test_a_header_block_without_end_is_bounded() -> None:
    with pytest.raises(WarcFormatError, match="over 1 MiB"):
        read_all(b"WARC/1.1\r\nX: " + b"a" * (MAX_HEADER_BLOCK + 10))
    with pytest.raises(WarcFormatError, match="ends inside a WARC header block"):
        read_all(b"WARC/1.1\r\nWARC-Type: response\r\n")


def test_parse_head_is_strict() -> None:
    head = parse_head(b"WARC/1.1\r\nWARC-Type: x\r\n folded\r\nContent-Length: 0\r\n\r\n", 7)
    assert (head.offset, head.version, head.get("WARC-Type")) == (7, "WARC/1.1", "x folded")
    with pytest.raises(WarcFormatError, match="offset 3: not a WARC record"):
        parse_head(b"HTTP/1.1 200 OK\r\n\r\n", 3)
    with pytest.raises(WarcFormatError, match="malformed WARC header line"):
        parse_head(b"WARC/1.1\r\nno colon\r\n\r\n", 0)
