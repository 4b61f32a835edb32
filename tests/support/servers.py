"""A real HTTP/1.1 server on 127.0.0.1 for capture tests (RFC 9112 framing, written by hand).

The server writes exact bytes on raw sockets, so tests know byte for byte what went over
the wire and can compare it with what the recorder stored. It runs plain or with TLS
(leaf plus intermediate chain from `testca.TestCA`), keeps connections alive across
requests, and records every request it receives.

    with LocalServer(tls=ca) as srv:
        fetch(srv.url("/page.html"))
        assert srv.requests[0].path == "/page.html"

`RESPONSES` maps each fixed route to the exact bytes it sends. Routes whose bytes depend on
the request (`/redirect/N`, `/big`, `/slow`, `/endless`) document their bytes in their
helper functions. `/gzip-bomb` is built lazily by `gzip_bomb_response()`.
"""

from __future__ import annotations

import contextlib
import gzip
import socket
import socketserver
import ssl
import struct
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from urllib.parse import parse_qs, urlsplit

from helpers import gzip_bomb
from testca import Leaf, TestCA

HOST = "127.0.0.1"
DATE = b"Mon, 01 Jan 2024 00:00:00 GMT"
MAX_REQUEST_HEAD = 64 * 1024
SOCKET_TIMEOUT = 30.0

# --- fixed bodies -------------------------------------------------------------------------

PAGE_BODY = (
    b"<!DOCTYPE html>\n"
    b'<html lang="en">\n<head><meta charset="utf-8"><title>Test page</title>\n'
    b'<link rel="stylesheet" href="/style.css"></head>\n'
    b"<body><h1>Test page</h1>\n"
    b'<p>A page served by the prov test server. <a href="/chunked">Chunked</a>.</p>\n'
    b'<img src="/image.png" alt="test image">\n'
    b"</body>\n</html>\n"
)

CHUNKS: tuple[bytes, ...] = (
    b"<!DOCTYPE html>\n<html><body>\n",
    b"<p>First chunk.</p>\n",
    b"<p>Second chunk, sent with a chunk extension.</p>\n",
    b"<p>Last chunk.</p>\n</body></html>\n",
)
CHUNKED_BODY = b"".join(CHUNKS)  # the body after transfer decoding

GZIP_PLAINTEXT = b"".join(
    b"Line %03d: the quick brown fox jumps over the lazy dog.\n" % i for i in range(200)
)
GZIP_BODY = gzip.compress(GZIP_PLAINTEXT, compresslevel=9, mtime=0)

STYLE_BODY = b"body { font-family: serif; }\nh1 { color: #1c2b4a; }\n"

NOT_FOUND_BODY = b"<!DOCTYPE html>\n<html><body><h1>404 Not Found</h1></body></html>\n"
SERVER_ERROR_BODY = (
    b"<!DOCTYPE html>\n<html><body><h1>500 Internal Server Error</h1></body></html>\n"
)

GZIP_BOMB_SIZE = 1 << 30  # decoded size of /gzip-bomb: 1 GiB of zero bytes


def png_bytes(width: int, height: int, pixel: Callable[[int, int], tuple[int, int, int]]) -> bytes:
    """A valid 8-bit RGB PNG (PNG spec, ISO/IEC 15948) built with zlib and struct."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    rows = b"".join(
        b"\x00" + b"".join(bytes(pixel(x, y)) for x in range(width)) for y in range(height)
    )
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


PNG_BODY = png_bytes(16, 16, lambda x, y: (x * 16, y * 16, 128))


# --- response builders --------------------------------------------------------------------


def response(
    status: bytes, headers: list[tuple[bytes, bytes]], body: bytes = b"", *, length: bool = True
) -> bytes:
    """Exact response bytes; headers are written in the order and case given."""
    lines = [b"HTTP/1.1 " + status]
    lines += [name + b": " + value for name, value in headers]
    if length:
        lines.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def chunked(
    chunks: list[bytes] | tuple[bytes, ...], extensions: dict[int, bytes] | None = None
) -> bytes:
    """Chunked transfer coding (RFC 9112 §7.1) of `chunks`, no trailers."""
    out = []
    for i, data in enumerate(chunks):
        ext = (extensions or {}).get(i, b"")
        out.append(b"%x%s\r\n%s\r\n" % (len(data), ext, data))
    out.append(b"0\r\n\r\n")
    return b"".join(out)


def redirect_response(location: bytes, status: bytes = b"302 Found") -> bytes:
    return response(status, [(b"Location", location), (b"Date", DATE)])


def redirect_chain_response(hops: int) -> bytes:
    """`/redirect/N` → `/redirect/N-1` → … → `/redirect/1` → `/page.html`."""
    target = b"/page.html" if hops <= 1 else b"/redirect/%d" % (hops - 1)
    return redirect_response(target)


def big_head(size: int) -> bytes:
    """The head of `/big?size=N`; the body is `big_body(N)`."""
    return response(
        b"200 OK",
        [
            (b"Content-Type", b"application/octet-stream"),
            (b"Date", DATE),
            (b"Content-Length", b"%d" % size),
        ],
        length=False,
    )


_BIG_BLOCK = bytes(range(256)) * 256  # 64 KiB


def iter_big_body(size: int) -> Iterator[bytes]:
    """The body of `/big?size=N`: bytes 0..255 repeating, in 64 KiB pieces."""
    while size > 0:
        piece = _BIG_BLOCK[:size]
        size -= len(piece)
        yield piece


def big_body(size: int) -> bytes:
    return b"".join(iter_big_body(size))


def slow_pieces(pieces: int) -> list[bytes]:
    """The body of `/slow`, one element per write."""
    return [b"slow piece %03d\n" % i for i in range(pieces)]


def slow_head(pieces: int) -> bytes:
    length = sum(len(p) for p in slow_pieces(pieces))
    return response(
        b"200 OK",
        [(b"Content-Type", b"text/plain"), (b"Content-Length", b"%d" % length)],
        length=False,
    )


ENDLESS_HEAD = response(
    b"200 OK",
    [(b"Content-Type", b"text/plain"), (b"Transfer-Encoding", b"chunked")],
    length=False,
)
ENDLESS_CHUNK = chunked([b"endless " * 2048])[:-5]  # one 16 KiB chunk, no terminator


_bomb_lock = threading.Lock()
_bomb: bytes | None = None


def gzip_bomb_response() -> bytes:
    """The exact bytes of `/gzip-bomb`: about 1 MB of gzip that inflates to 1 GiB of zeros
    (`helpers.gzip_bomb`), built once."""
    global _bomb
    with _bomb_lock:
        if _bomb is None:
            _bomb = response(
                b"200 OK",
                [(b"Content-Type", b"application/octet-stream"), (b"Content-Encoding", b"gzip")],
                gzip_bomb(GZIP_BOMB_SIZE >> 20),
            )
        return _bomb


def _huge_headers() -> list[tuple[bytes, bytes]]:
    # 1024 headers of 1 KiB each: 1 MiB, far past any sane client limit.
    return [(b"X-Filler-%04d" % i, b"f" * (1024 - 17)) for i in range(1024)]


_PAGE = response(
    b"200 OK",
    [
        (b"Content-Type", b"text/html; charset=utf-8"),
        (b"X-Custom-Header", b"MiXeD-Case-Value"),
        (b"content-length", b"%d" % len(PAGE_BODY)),
        (b"Date", DATE),
        (b"SERVER", b"prov-test/1"),
    ],
    PAGE_BODY,
    length=False,
)

RESPONSES: dict[str, bytes] = {
    "/": _PAGE,
    "/page.html": _PAGE,
    "/chunked": response(
        b"200 OK",
        [
            (b"Content-Type", b"text/html; charset=utf-8"),
            (b"Transfer-Encoding", b"chunked"),
            (b"Date", DATE),
        ],
        chunked(CHUNKS, {2: b";note=extension"}),
        length=False,
    ),
    "/gzip": response(
        b"200 OK",
        [
            (b"Content-Type", b"text/plain; charset=utf-8"),
            (b"Content-Encoding", b"gzip"),
            (b"Date", DATE),
        ],
        GZIP_BODY,
    ),
    "/gzip-chunked": response(
        b"200 OK",
        [
            (b"Content-Type", b"text/plain; charset=utf-8"),
            (b"Content-Encoding", b"gzip"),
            (b"Transfer-Encoding", b"chunked"),
            (b"Date", DATE),
        ],
        chunked([GZIP_BODY[i : i + 100] for i in range(0, len(GZIP_BODY), 100)]),
        length=False,
    ),
    "/redirect": redirect_response(b"/page.html"),
    "/redirect-loop-a": redirect_response(b"/redirect-loop-b"),
    "/redirect-loop-b": redirect_response(b"/redirect-loop-a"),
    "/404": response(
        b"404 Not Found", [(b"Content-Type", b"text/html; charset=utf-8")], NOT_FOUND_BODY
    ),
    "/500": response(
        b"500 Internal Server Error",
        [(b"Content-Type", b"text/html; charset=utf-8")],
        SERVER_ERROR_BODY,
    ),
    "/style.css": response(b"200 OK", [(b"Content-Type", b"text/css")], STYLE_BODY),
    "/image.png": response(b"200 OK", [(b"Content-Type", b"image/png")], PNG_BODY),
    "/headers-huge": response(
        b"200 OK", [(b"Content-Type", b"text/plain"), *_huge_headers()], b"ok"
    ),
    "/malformed-status": (
        b"HTTP/1.1 OK-ish\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"
    ),
    "/malformed-header": (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nThis line has no colon\r\n"
        b"Content-Length: 2\r\n\r\nok"
    ),
    # Promises 1000 bytes, sends 10, then closes the connection.
    "/close-mid": (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000\r\n"
        b"\r\n0123456789"
    ),
}
NOT_FOUND = RESPONSES["/404"]  # also sent for any path without a route
CLOSING_ROUTES = frozenset({"/malformed-status", "/malformed-header", "/close-mid"})


# --- requests and exchanges ---------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """One request as received: `raw` is the exact bytes, head and body."""

    method: str
    target: str
    version: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    raw: bytes
    connection: int  # ordinal of the TCP connection it arrived on (keep-alive checks)

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.target).query)

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


@dataclass
class Exchange:
    """What a route gets: the request, a way to write, and the server's stop signal."""

    request: Request
    sock: socket.socket
    stopping: threading.Event
    close: bool = field(default=False)  # set by a route to close the connection after it

    def write(self, data: bytes) -> None:
        self.sock.sendall(data)

    def sleep(self, seconds: float) -> bool:
        """Wait; False means the server is stopping and the route should return."""
        return not self.stopping.wait(seconds)


Route = Callable[[Exchange], bytes | None]
"""A route returns the exact response bytes, or writes them itself and returns None."""


def _static(data: bytes, *, close: bool = False) -> Route:
    def route(ex: Exchange) -> bytes:
        ex.close = ex.close or close
        if ex.request.method == "HEAD":
            return data.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
        return data

    return route


def _int_param(ex: Exchange, name: str, default: int) -> int:
    values = ex.request.query.get(name)
    return int(values[0]) if values else default


def _float_param(ex: Exchange, name: str, default: float) -> float:
    values = ex.request.query.get(name)
    return float(values[0]) if values else default


def _route_big(ex: Exchange) -> None:
    size = _int_param(ex, "size", 1 << 20)
    ex.write(big_head(size))
    for piece in iter_big_body(size):
        ex.write(piece)


def _route_endless(ex: Exchange) -> None:
    ex.close = True
    ex.write(ENDLESS_HEAD)
    while not ex.stopping.is_set():
        ex.write(ENDLESS_CHUNK)


def _route_redirect_chain(ex: Exchange) -> bytes:
    hops = ex.request.path.rsplit("/", 1)[1]
    return redirect_chain_response(int(hops)) if hops.isdigit() else NOT_FOUND


def _route_gzip_bomb(ex: Exchange) -> bytes:
    return gzip_bomb_response()


# --- the server ---------------------------------------------------------------------------


class _TCPServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = False
    block_on_close = True  # server_close() joins every connection thread

    def __init__(self, owner: LocalServer) -> None:
        self.owner = owner
        super().__init__((owner.bind, 0), _Handler)


class _Handler(socketserver.BaseRequestHandler):
    server: _TCPServer

    def handle(self) -> None:
        self.server.owner._serve_connection(self.request)


class LocalServer:
    """An HTTP/1.1 server on 127.0.0.1, port 0, in background threads.

    `tls` is a `TestCA` (serving `leaf`, default `tls.leaf`) or None for plain HTTP.
    `bind` is the loopback address it listens on (127.0.0.2 stands for an internal host).
    `slow_delay` × `slow_pieces` is how long `/slow` takes (override per request with
    `?delay=SECONDS&pieces=N`).
    """

    def __init__(
        self,
        tls: TestCA | None = None,
        *,
        leaf: Leaf | None = None,
        slow_delay: float = 0.5,
        slow_pieces: int = 8,
        bind: str = HOST,
    ) -> None:
        self.bind = bind
        self.ca = tls
        self.leaf = leaf if leaf is not None or tls is None else tls.leaf
        self._ssl = self.leaf.server_context() if self.leaf is not None else None
        self.slow_delay = slow_delay
        self.slow_pieces = slow_pieces
        self._routes: dict[str, Route] = {
            p: _static(b, close=p in CLOSING_ROUTES) for p, b in RESPONSES.items()
        }
        self._routes.update(
            {
                "/big": _route_big,
                "/endless": _route_endless,
                "/slow": self._route_slow,
                "/gzip-bomb": _route_gzip_bomb,
            }
        )
        self._prefix_routes: dict[str, Route] = {"/redirect/": _route_redirect_chain}
        self._requests: list[Request] = []
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._conn_count = 0
        self._stopping = threading.Event()
        self._server: _TCPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> LocalServer:
        self._server = _TCPServer(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"LocalServer:{self.port}",
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        self._stopping.set()
        self._server.shutdown()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            # The base class method, not SSLSocket's: this only wakes the blocked thread.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(conn, socket.SHUT_RDWR)
        self._server.server_close()
        self._thread.join()
        self._server = self._thread = None

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- public API ------------------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return int(self._server.server_address[1])

    @property
    def scheme(self) -> str:
        return "https" if self._ssl is not None else "http"

    def origin(self, host: str | None = None) -> str:
        return f"{self.scheme}://{host or self.bind}:{self.port}"

    def url(self, path: str = "/", host: str | None = None) -> str:
        """`host` may be `localhost`, which the default TLS leaf also covers."""
        return self.origin(host) + path

    def add_route(self, path: str, route: Route | bytes, *, prefix: bool = False) -> None:
        """Serve `route` (exact bytes, or a function) at `path`, or under it if `prefix`."""
        handler = _static(route) if isinstance(route, bytes) else route
        with self._lock:
            (self._prefix_routes if prefix else self._routes)[path] = handler

    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    # -- connection handling ---------------------------------------------------------------

    def _route_slow(self, ex: Exchange) -> None:
        delay = _float_param(ex, "delay", self.slow_delay)
        pieces = _int_param(ex, "pieces", self.slow_pieces)
        ex.write(slow_head(pieces))
        for piece in slow_pieces(pieces):
            if not ex.sleep(delay):
                return
            ex.write(piece)

    def _find_route(self, path: str) -> Route:
        with self._lock:
            if path in self._routes:
                return self._routes[path]
            for prefix, route in self._prefix_routes.items():
                if path.startswith(prefix):
                    return route
        return _static(NOT_FOUND)

    def _track(self, sock: socket.socket, add: bool) -> bool:
        with self._lock:
            if add:
                if self._stopping.is_set():
                    return False
                self._conns.add(sock)
            else:
                self._conns.discard(sock)
            return True

    def _serve_connection(self, raw: socket.socket) -> None:
        raw.settimeout(SOCKET_TIMEOUT)
        if not self._track(raw, True):
            return
        sock = raw
        try:
            if self._ssl is not None:
                # wrap_socket detaches `raw`; track the wrapper before the handshake so that
                # stop() can interrupt a client that connects and never says hello.
                sock = self._ssl.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
                if not self._track(sock, True):
                    return
                sock.do_handshake()
            with self._lock:
                self._conn_count += 1
                conn_id = self._conn_count
            self._serve_requests(sock, conn_id)
        except OSError:
            pass  # client went away, TLS handshake refused, or the server is stopping
        finally:
            _close(sock)  # still tracked, so stop() can cut short a wait for close_notify
            self._track(raw, False)
            self._track(sock, False)

    def _serve_requests(self, sock: socket.socket, conn_id: int) -> None:
        buf = b""
        while not self._stopping.is_set():
            request, buf = _read_request(sock, buf, conn_id)
            if request is None:
                return
            with self._lock:
                self._requests.append(request)
            ex = Exchange(request, sock, self._stopping)
            data = self._find_route(request.path)(ex)
            if data is not None:
                sock.sendall(data)
            if ex.close or _wants_close(request):
                return


def _close(sock: socket.socket) -> None:
    """End the connection cleanly: TLS close_notify, or a FIN before close (never an RST)."""
    try:
        if isinstance(sock, ssl.SSLSocket):
            sock.settimeout(1.0)  # unwrap waits for the peer's close_notify; don't wait long
            sock.unwrap()
        else:
            sock.shutdown(socket.SHUT_WR)
    except (OSError, ValueError):
        pass
    sock.close()


def _read_request(sock: socket.socket, buf: bytes, conn_id: int) -> tuple[Request | None, bytes]:
    """Read one request (head and Content-Length body) from `sock`; None at end of stream."""
    while b"\r\n\r\n" not in buf:
        if len(buf) > MAX_REQUEST_HEAD:
            sock.sendall(response(b"431 Request Header Fields Too Large", []))
            return None, b""
        data = sock.recv(65536)
        if not data:
            return None, b""
        buf += data
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    try:
        method, target, version = lines[0].split(" ")
        headers = tuple(
            (name.strip(), value.strip())
            for name, value in (line.split(":", 1) for line in lines[1:])
        )
    except ValueError:
        sock.sendall(response(b"400 Bad Request", []))
        return None, b""
    length = next((int(v) for k, v in headers if k.lower() == "content-length"), 0)
    while len(rest) < length:
        data = sock.recv(65536)
        if not data:
            return None, b""
        rest += data
    body, rest = rest[:length], rest[length:]
    raw = head + b"\r\n\r\n" + body
    return Request(method, target, version, headers, body, raw, conn_id), rest


def _wants_close(request: Request) -> bool:
    connection = (request.header("Connection") or "").lower()
    if request.version == "HTTP/1.0":
        return connection != "keep-alive"
    return connection == "close"
