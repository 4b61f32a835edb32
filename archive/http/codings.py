"""Streaming removal of HTTP content codings (RFC 9110 section 8.4.1): gzip, deflate, br.

``archive.links.decode_body`` decodes a body held in memory, cut at a limit, for parsing;
this decodes a body of any size as it streams by, for writing it out (``prov extract``). The
codings of a ``Content-Encoding`` list were applied in order, so they are undone in reverse.

Threat: a recorded body is whatever a server sent, a decompression bomb included. Output is
produced in pieces of at most ``PIECE`` bytes, and the whole is bounded as a WARC member is
(``archive.members``): at most ``MAX_RATIO`` times the encoded bytes plus ``RATIO_SLACK``.
Damaged or truncated coded data raises ``CodingError``; nothing is guessed.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from typing import Protocol

from archive.errors import ExitCode, ProvError
from archive.http.links import brotli  # Google's Brotli, even beside pywb's brotlipy
from archive.warc.members import MAX_RATIO, RATIO_SLACK

PIECE = 1 << 20
KNOWN = frozenset({"gzip", "x-gzip", "deflate", "br"})


class CodingError(ProvError):
    """Coded data that cannot be decoded: damaged, cut short, a bomb, or an unknown coding.
    The bytes as recorded are fine (exit 2: ask for them as recorded)."""

    exit_code = ExitCode.USAGE


class _Stage(Protocol):
    def feed(self, data: bytes) -> Iterator[bytes]: ...

    def finish(self) -> Iterator[bytes]: ...


class _Inflate:
    """gzip (members one after another, RFC 1952), zlib, or raw deflate as browsers accept."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        self._obj: zlib._Decompress | None = None
        self._started = False
        self._held = b""

    def _new(self, head: bytes) -> zlib._Decompress:
        if self.coding != "deflate":
            return zlib.decompressobj(32 + zlib.MAX_WBITS)  # gzip, or zlib labelled gzip
        zlib_header = len(head) >= 2 and head[0] & 0x0F == 8 and (head[0] << 8 | head[1]) % 31 == 0
        return zlib.decompressobj(zlib.MAX_WBITS if zlib_header else -zlib.MAX_WBITS)

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self.coding == "deflate" and not self._started:
            self._held += data  # zlib or raw deflate: told by the first two bytes
            if len(self._held) < 2:
                return
            data, self._held = self._held, b""
        while data:
            if self._obj is None:
                if self._started and not (self.coding != "deflate" and data[:2] == b"\x1f\x8b"):
                    raise CodingError(f"{self.coding}: data after the end of the coded stream")
                self._obj, self._started = self._new(data), True
            try:
                out = self._obj.decompress(data, PIECE)
            except zlib.error as exc:
                raise CodingError(f"{self.coding}: damaged coded data ({exc})") from None
            if out:
                yield out
            if self._obj.eof:
                data, self._obj = self._obj.unused_data, None
            else:
                data = self._obj.unconsumed_tail

    def finish(self) -> Iterator[bytes]:
        if self._obj is not None or self._held:
            raise CodingError(f"{self.coding}: the coded stream is cut short")
        return iter(())


class _Brotli:
    def __init__(self) -> None:
        self._obj = brotli.Decompressor()

    def feed(self, data: bytes) -> Iterator[bytes]:
        try:
            out = self._obj.process(data, output_buffer_limit=PIECE)
            while True:
                if out:
                    yield out
                if self._obj.can_accept_more_data():
                    return
                out = self._obj.process(b"", output_buffer_limit=PIECE)
        except brotli.error as exc:
            raise CodingError(f"br: damaged coded data ({exc})") from None

    def finish(self) -> Iterator[bytes]:
        if not self._obj.is_finished():
            raise CodingError("br: the coded stream is cut short")
        return iter(())


def codings_of(content_encoding: str | None) -> list[str]:
    """The codings of a Content-Encoding value, in the order the server applied them."""
    found = [c.strip().lower() for c in (content_encoding or "").split(",")]
    return [c for c in found if c and c != "identity"]


def decode_stream(chunks: Iterable[bytes], codings: list[str]) -> Iterator[bytes]:
    """The decoded bytes of ``chunks``, coded with ``codings`` (``codings_of``), in pieces."""
    unknown = [c for c in codings if c not in KNOWN]
    if unknown:
        raise CodingError(f"content coding {unknown[0]!r} is not one prov decodes "
                          "(gzip, deflate, br)")
    stages: list[_Stage] = [_Brotli() if c == "br" else _Inflate(c) for c in reversed(codings)]
    coded = out = 0
    for chunk in chunks:
        coded += len(chunk)
        for piece in _through(stages, chunk):
            out += len(piece)
            if out > coded * MAX_RATIO + RATIO_SLACK:
                raise CodingError(f"decoded body past {MAX_RATIO} times its {coded:,} coded "
                                  "bytes: a decompression bomb")
            yield piece
    yield from _finish(stages)


def _through(stages: list[_Stage], data: bytes) -> Iterator[bytes]:
    if not stages:
        yield data
        return
    for piece in stages[0].feed(data):
        yield from _through(stages[1:], piece)


def _finish(stages: list[_Stage]) -> Iterator[bytes]:
    for number, stage in enumerate(stages):
        for piece in stage.finish():
            yield from _through(stages[number + 1:], piece)
