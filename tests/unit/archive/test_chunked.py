"""archive.warc.chunked: streaming removal of HTTP/1.1 chunked coding (RFC 9112, 7.1)."""

from __future__ import annotations

import pytest

from archive.warc.chunked import MAX_SIZE_LINE, Dechunker

BODY = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nTrailer: x\r\n\r\n"


def decode(data: bytes, step: int) -> tuple[bytes, Dechunker]:
    dechunker = Dechunker()
    out = b"".join(dechunker.feed(data[i : i + step]) for i in range(0, len(data), step))
    return out, dechunker


@pytest.mark.parametrize("step", [1, 2, 7, len(BODY)])
def test_decodes_in_pieces_of_any_size(step: int) -> None:
    out, dechunker = decode(BODY, step)
    assert out == b"Wikipedia in\r\n\r\nchunks."
    assert dechunker.done and dechunker.error is None


def test_bytes_after_the_last_chunk_are_ignored() -> None:
    out, dechunker = decode(b"1\r\na\r\n0\r\n\r\nextra", 3)
    assert (out, dechunker.done) == (b"a", True)


def test_a_bad_size_stops_decoding_and_is_remembered() -> None:
    out, dechunker = decode(b"1\r\na\r\nzz\r\nmore", 4)
    assert out == b"a"
    assert not dechunker.done
    assert dechunker.error == "bad chunk size b'zz'"
    assert dechunker.feed(b"1\r\nb\r\n") == b""  # nothing more once bad


def test_a_chunk_longer_than_its_size_is_refused() -> None:
    _, dechunker = decode(b"1\r\nab\r\n0\r\n\r\n", 100)
    assert dechunker.error == "chunk not followed by CRLF"


def test_a_size_line_without_end_is_bounded() -> None:
    dechunker = Dechunker()
    dechunker.feed(b"1" * MAX_SIZE_LINE)
    assert dechunker.error is None
    dechunker.feed(b"1")
    assert dechunker.error == "chunk line too long"


def test_truncated_input_is_not_done() -> None:
    out, dechunker = decode(b"5\r\nab", 2)
    assert (out, dechunker.done, dechunker.error) == (b"ab", False, None)
