"""Real proxies on 127.0.0.1 for tests: HTTP CONNECT (RFC 9110 §9.3.6), SOCKS5 (RFC 1928/1929).

Each listens on port 0 in background threads, records every target it is asked for, relays
bytes to the real origin, and can be told to demand credentials, refuse, stall, send bytes
before the origin's (``early``), or answer one phase of its handshake with exact bytes of
the test's choosing and then close (``replies``), or reset the connection (``reset``). The
phases are "connect" for both, and "method" and "auth" for SOCKS5. ``Blackhole`` is a
listener whose accept queue is full, so connecting to it hangs.

    with Socks5Proxy(auth=("alice", "pw")) as proxy:
        via = parse_via(proxy.url("alice:pw", scheme="socks5h"))
        ...
        assert proxy.targets == [Target("localhost", 443, "domain")]
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import selectors
import socket
import socketserver
import struct
import threading
from dataclasses import dataclass
from http import HTTPStatus
from types import TracebackType
from typing import NoReturn, Self, TypedDict, Unpack

HOST = "127.0.0.1"
SOCKET_TIMEOUT = 10.0
MAX_HEAD = 64 * 1024


@dataclass(frozen=True)
class Target:
    """Where a client asked to go; ``kind`` is the SOCKS ATYP name or "authority" (CONNECT)."""

    host: str
    port: int
    kind: str


class Options(TypedDict, total=False):
    """What both proxies can be told (see the module docstring)."""

    auth: tuple[str, str]
    delay: float
    early: bytes
    replies: dict[str, bytes]
    reset: str


class _Done(Exception):
    """This connection's script is over: close it."""


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = False
    block_on_close = True  # server_close() joins every connection thread

    def __init__(self, owner: Proxy) -> None:
        self.owner = owner
        super().__init__((HOST, 0), _Handler)


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        self.server.owner._serve(self.request)


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        piece = sock.recv(size - len(data))
        if not piece:
            raise _Done
        data += piece
    return data


class Proxy:
    """What both proxies share: lifecycle, connection tracking, scripted replies, relaying."""

    scheme = ""

    def __init__(self, **options: Unpack[Options]) -> None:
        self.auth = options.get("auth")
        self.delay = options.get("delay", 0.0)
        self.early = options.get("early", b"")
        self.replies = options.get("replies", {})
        self.reset = options.get("reset")
        self.targets: list[Target] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        self.stopping.set()
        self._server.shutdown()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._server.server_close()
        self._thread.join()
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "proxy not started"
        return int(self._server.server_address[1])

    def url(self, userinfo: str = "", *, scheme: str | None = None) -> str:
        at = f"{userinfo}@" if userinfo else ""
        return f"{scheme or self.scheme}://{at}{HOST}:{self.port}"

    def _track(self, sock: socket.socket, add: bool) -> None:
        with self._lock:
            (self._conns.add if add else self._conns.discard)(sock)

    def _serve(self, sock: socket.socket) -> None:
        sock.settimeout(SOCKET_TIMEOUT)
        self._track(sock, True)
        upstream: socket.socket | None = None
        try:
            upstream = self.handshake(sock)
            self._track(upstream, True)
            self._relay(sock, upstream)
        except (OSError, _Done):
            pass  # the client went away, the script ended, or the proxy is stopping
        finally:
            for conn in (sock, upstream):
                if conn is not None:
                    self._track(conn, False)
                    conn.close()

    def handshake(self, sock: socket.socket) -> socket.socket:
        """Negotiate with the client; return the connected origin, or raise _Done."""
        raise NotImplementedError

    def _pause(self) -> None:
        if self.delay and self.stopping.wait(self.delay):
            raise _Done

    def _script(self, sock: socket.socket, phase: str) -> None:
        """At ``phase``: reset the connection, or send the test's bytes and end with a FIN."""
        if phase == self.reset:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            raise _Done  # closing now sends an RST
        if phase not in self.replies:
            return
        sock.sendall(self.replies[phase])
        sock.shutdown(socket.SHUT_WR)
        with contextlib.suppress(OSError):
            while sock.recv(65536):
                pass
        raise _Done

    def _relay(self, client: socket.socket, upstream: socket.socket) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(client, selectors.EVENT_READ, upstream)
            selector.register(upstream, selectors.EVENT_READ, client)
            while not self.stopping.is_set():
                for key, _ in selector.select(0.1):
                    source: socket.socket = key.fileobj  # type: ignore[assignment]
                    data = source.recv(65536)
                    if not data:
                        return
                    key.data.sendall(data)


class ConnectProxy(Proxy):
    """An HTTP proxy that speaks only CONNECT; ``status`` refuses every request with it."""

    scheme = "http"

    def __init__(self, *, status: int | None = None, **options: Unpack[Options]) -> None:
        super().__init__(**options)
        self.status = status
        self.heads: list[bytes] = []
        self.authorizations: list[str | None] = []

    def handshake(self, sock: socket.socket) -> socket.socket:
        head = b""
        while not head.endswith(b"\r\n\r\n") and len(head) < MAX_HEAD:
            head += _recv_exact(sock, 1)  # no further: the tunnel's bytes follow the head
        lines = head.decode("latin-1").split("\r\n")
        method, authority, _ = lines[0].split(" ", 2)
        host, _, port = authority.rpartition(":")
        host = host.removeprefix("[").removesuffix("]")
        fields = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
        with self._lock:
            self.heads.append(head)
            self.targets.append(Target(host, int(port), "authority"))
            self.authorizations.append(fields.get("Proxy-Authorization"))
        self._pause()
        self._script(sock, "connect")
        if self.auth and fields.get("Proxy-Authorization") != basic(*self.auth):
            self._refuse(sock, 407, b'Proxy-Authenticate: Basic realm="prov"\r\n')
        if method != "CONNECT" or self.status is not None:
            self._refuse(sock, self.status or 405)
        try:
            upstream = socket.create_connection((host, int(port)), SOCKET_TIMEOUT)
        except OSError:
            self._refuse(sock, 502)
        sock.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n" + self.early)
        return upstream

    @staticmethod
    def _refuse(sock: socket.socket, status: int, fields: bytes = b"") -> NoReturn:
        line = f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n".encode()
        sock.sendall(line + fields + b"Content-Length: 0\r\n\r\n")
        raise _Done


def basic(user: str, password: str) -> str:
    """The Proxy-Authorization value for Basic credentials (RFC 7617, UTF-8)."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


class Socks5Proxy(Proxy):
    """A SOCKS5 proxy for CONNECT; ``reply`` other than 0 fails every request with that code."""

    scheme = "socks5"

    def __init__(self, *, reply: int = 0, **options: Unpack[Options]) -> None:
        super().__init__(**options)
        self.reply = reply
        self.methods: list[bytes] = []
        self.logins: list[tuple[str, str]] = []

    def handshake(self, sock: socket.socket) -> socket.socket:
        _, count = _recv_exact(sock, 2)
        methods = _recv_exact(sock, count)
        with self._lock:
            self.methods.append(methods)
        self._pause()
        self._script(sock, "method")
        wanted = 0x02 if self.auth else 0x00
        sock.sendall(bytes([5, wanted if wanted in methods else 0xFF]))
        if wanted not in methods:
            raise _Done
        if wanted == 0x02:
            self._login(sock)
        _, _, _, atyp = _recv_exact(sock, 4)
        target = self._target(sock, atyp)
        self._script(sock, "connect")
        if self.reply:
            sock.sendall(bytes([5, self.reply, 0, 1, 0, 0, 0, 0, 0, 0]))
            raise _Done
        try:
            upstream = socket.create_connection((target.host, target.port), SOCKET_TIMEOUT)
        except OSError:
            sock.sendall(bytes([5, 5, 0, 1, 0, 0, 0, 0, 0, 0]))  # connection refused
            raise _Done from None
        address, port = upstream.getsockname()[:2]
        ip = ipaddress.ip_address(address)
        bound = bytes([1 if ip.version == 4 else 4]) + ip.packed + port.to_bytes(2, "big")
        sock.sendall(b"\x05\x00\x00" + bound + self.early)
        return upstream

    def _login(self, sock: socket.socket) -> None:
        _, size = _recv_exact(sock, 2)
        user = _recv_exact(sock, size).decode()
        password = _recv_exact(sock, _recv_exact(sock, 1)[0]).decode()
        with self._lock:
            self.logins.append((user, password))
        self._script(sock, "auth")
        ok = (user, password) == self.auth
        sock.sendall(b"\x01\x00" if ok else b"\x01\x01")
        if not ok:
            raise _Done

    def _target(self, sock: socket.socket, atyp: int) -> Target:
        if atyp == 3:
            host, kind = _recv_exact(sock, _recv_exact(sock, 1)[0]).decode(), "domain"
        else:
            packed = _recv_exact(sock, 4 if atyp == 1 else 16)
            host, kind = str(ipaddress.ip_address(packed)), "ipv4" if atyp == 1 else "ipv6"
        target = Target(host, int.from_bytes(_recv_exact(sock, 2), "big"), kind)
        with self._lock:
            self.targets.append(target)
        return target


class Blackhole:
    """A listening port that never completes a connection: its accept queue is full."""

    def __enter__(self) -> Self:
        self._listener = socket.create_server((HOST, 0), backlog=0)
        self._held: list[socket.socket] = []
        for _ in range(4):  # Linux lets backlog + 1 connections wait; then SYNs are dropped
            sock = socket.socket()
            sock.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                sock.connect(self._listener.getsockname())
            self._held.append(sock)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for sock in [*self._held, self._listener]:
            sock.close()

    def url(self, scheme: str) -> str:
        return f"{scheme}://{HOST}:{self._listener.getsockname()[1]}"
