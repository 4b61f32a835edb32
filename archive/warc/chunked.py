"""Streaming removal of HTTP/1.1 chunked transfer coding (RFC 9112, section 7.1).

Used to check payload digests that were computed over the transfer-decoded body (some WARC
writers do so) without holding the body: bytes go in as they come, decoded bytes come out.
Malformed framing stops decoding and is remembered, never raised.
"""

from __future__ import annotations

MAX_SIZE_LINE = 4096


class Dechunker:
    def __init__(self) -> None:
        self._line = bytearray()
        self._remaining = 0  # data bytes left in the current chunk
        self._state = "size"  # size | data | data-crlf | trailer | done | bad
        self.error: str | None = None

    @property
    def done(self) -> bool:
        return self._state == "done"

    def feed(self, data: bytes) -> bytes:
        out = bytearray()
        view = memoryview(data)
        while view and self._state not in ("done", "bad"):
            if self._state == "data":
                take = min(self._remaining, len(view))
                out += view[:take]
                view = view[take:]
                self._remaining -= take
                if self._remaining == 0:
                    self._state = "data-crlf"
                continue
            view = self._take_line(view)
        return bytes(out)

    def _take_line(self, view: memoryview) -> memoryview:
        cut = bytes(view).find(b"\n")
        if cut < 0:
            self._line += view
            if len(self._line) > MAX_SIZE_LINE:
                self._fail("chunk line too long")
            return view[len(view):]
        self._line += view[: cut + 1]
        line = bytes(self._line).rstrip(b"\r\n")
        self._line.clear()
        self._on_line(line)
        return view[cut + 1 :]

    def _on_line(self, line: bytes) -> None:
        if self._state == "data-crlf":
            if line:
                self._fail("chunk not followed by CRLF")
            else:
                self._state = "size"
        elif self._state == "size":
            size = line.split(b";", 1)[0].strip()
            try:
                self._remaining = int(size, 16)
            except ValueError:
                self._fail(f"bad chunk size {size[:20]!r}")
                return
            self._state = "data" if self._remaining else "trailer"
        elif self._state == "trailer" and not line:
            self._state = "done"

    def _fail(self, why: str) -> None:
        self._state = "bad"
        self.error = why
