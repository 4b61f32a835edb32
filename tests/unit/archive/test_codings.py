"""archive.http.codings: content codings undone as the body streams, in any piece size,
and every way coded data can be wrong refused with CodingError (exit 2), never a crash."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator

import brotli  # type: ignore[import-untyped, unused-ignore]
import pytest

from archive.errors import ExitCode
from archive.http.codings import CodingError, codings_of, decode_stream

TEXT = b"The archived page, as the server sent it. " * 500


def pieces(data: bytes, size: int) -> Iterator[bytes]:
    return (data[i:i + size] for i in range(0, len(data), size))


def deflate_raw(data: bytes) -> bytes:
    obj = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return obj.compress(data) + obj.flush()


CODED = {
    "gzip": gzip.compress(TEXT),
    "x-gzip": gzip.compress(TEXT),
    "deflate": zlib.compress(TEXT),
    "br": brotli.compress(TEXT),
}


@pytest.mark.parametrize("coding", sorted(CODED))
@pytest.mark.parametrize("size", [1, 7, 4096, 1 << 20])
def test_each_coding_is_undone_in_any_piece_size(coding: str, size: int) -> None:
    assert b"".join(decode_stream(pieces(CODED[coding], size), [coding])) == TEXT


def test_raw_deflate_and_gzip_members_one_after_another() -> None:
    assert b"".join(decode_stream([deflate_raw(TEXT)], ["deflate"])) == TEXT
    two = gzip.compress(TEXT[:100]) + gzip.compress(TEXT[100:])
    assert b"".join(decode_stream(pieces(two, 10), ["gzip"])) == TEXT


def test_layered_codings_are_undone_in_reverse() -> None:
    coded = brotli.compress(gzip.compress(TEXT))
    assert codings_of("gzip, identity, BR") == ["gzip", "br"]
    assert b"".join(decode_stream([coded], codings_of("gzip, br"))) == TEXT
    assert b"".join(decode_stream(pieces(TEXT, 99), [])) == TEXT


@pytest.mark.parametrize(("coding", "data", "message"), [
    ("gzip", CODED["gzip"][:-20], "cut short"),
    ("gzip", CODED["gzip"][:30] + b"\xff" * 40 + CODED["gzip"][70:], "damaged"),
    ("gzip", CODED["gzip"] + b"trailing junk", "after the end"),
    ("br", CODED["br"][:-5], "cut short"),
    ("br", b"\xff" * 50, "damaged"),
    ("zstd", b"anything", "not one prov decodes"),
])
def test_bad_coded_data_is_refused(coding: str, data: bytes, message: str) -> None:
    with pytest.raises(CodingError, match=message) as caught:
        b"".join(decode_stream([data], [coding]))
    assert caught.value.exit_code == ExitCode.USAGE


def test_a_bomb_stops_at_the_bound() -> None:
    bomb = gzip.compress(b"\0" * (200 << 20), compresslevel=9)  # about 200 KB coded
    out = 0
    with pytest.raises(CodingError, match="decompression bomb"):
        for piece in decode_stream(pieces(bomb, 1 << 16), ["gzip"]):
            out += len(piece)
            assert len(piece) <= 1 << 20
    assert out < 100 << 20
