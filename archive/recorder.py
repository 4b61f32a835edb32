"""Recording one HTTP/1.1 exchange byte for byte (RFC 9112) over asyncio sockets.

The request bytes are the bytes written to the socket; the response bytes are the bytes read
from it (after TLS), split from anything that follows by h11's own framing. h11 is used only
to find where the message ends and what its body is; nothing is re-serialised.

Limits bound every resource a hostile server could exhaust: header block size, body size
(the first ``max_body`` bytes after the header block, framing included, are recorded and
marked ``WARC-Truncated: length``), time per
request (``time``), and a connection closed mid-body (``disconnect``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import SplitResult, urlsplit

import h11

from archive import tls
from archive.warc import Block

READ_SIZE = 1 << 16
HEADER_END = re.compile(rb"\r?\n\r?\n")


@dataclass(frozen=True)
class FetchLimits:
    """The bounds of one request."""

    timeout: float = 30.0
    connect_timeout: float = 10.0
    max_body: int = 1 << 30
    max_header: int = 256 << 10
    user_agent: str = "prov"


@dataclass
class Exchange:
    """One request and what came back, or why nothing did."""

    url: str
    started_at: datetime
    request: Block | None = None
    response: Block | None = None
    status: int | None = None
    http_version: str | None = None
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    ip: str | None = None
    port: int | None = None
    addresses: list[str] = field(default_factory=list)
    tls: tls.TlsInfo | None = None
    truncated: str | None = None
    error: str | None = None
    decoded_sha256: bytes | None = None
    body_bytes: int = 0
    timings: dict[str, float] = field(default_factory=dict)

    def header(self, name: bytes) -> bytes | None:
        lname = name.lower()
        return next((v for k, v in self.headers if k.lower() == lname), None)


class FetchError(Exception):
    """A request that produced no response; ``str()`` is the one line for the summary."""


def _reason(exc: OSError) -> str:
    """"Connection refused", not asyncio's "[Errno 111] Connect call failed (...)"; never ""
    (an exception is truthy even when its message is empty, as wait_for's TimeoutError's is).
    """
    # SSLError's errno is OpenSSL's, gaierror's is negative: neither is an errno name
    if exc.errno and exc.errno > 0 and not isinstance(exc, ssl.SSLError):
        return os.strerror(exc.errno)
    if str(exc):
        return str(exc)
    return "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__


def request_target(parts: SplitResult) -> str:
    path = parts.path or "/"
    return f"{path}?{parts.query}" if parts.query else path


def host_header(parts: SplitResult) -> str:
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    default = 443 if parts.scheme == "https" else 80
    return host if parts.port in (None, default) else f"{host}:{parts.port}"


def build_request(url: str, limits: FetchLimits) -> tuple[h11.Connection, bytes]:
    parts = urlsplit(url)
    conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=limits.max_header)
    headers = [
        ("Host", host_header(parts)),
        ("User-Agent", limits.user_agent),
        ("Accept", "*/*"),
        ("Accept-Encoding", "gzip, deflate"),
        ("Connection", "close"),
    ]
    data = conn.send(h11.Request(method="GET", target=request_target(parts), headers=headers))
    data += conn.send(h11.EndOfMessage()) or b""
    return conn, data


async def _connect(
    parts: SplitResult, ex: Exchange, limits: FetchLimits, context: ssl.SSLContext | None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    loop = asyncio.get_running_loop()
    host = parts.hostname or ""
    # No phase of connecting waits longer than --timeout: a server that stalls the
    # handshake must not hold a capture for connect_timeout when the user asked for less.
    wait = min(limits.connect_timeout, limits.timeout)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), wait
        )
    except (OSError, TimeoutError) as exc:
        raise FetchError(f"cannot resolve {host}: {_reason(exc)}") from None
    ex.addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    last: str = "no address"
    for family, socktype, proto, _, sockaddr in infos:
        sock = socket.socket(family, socktype, proto)
        sock.setblocking(False)
        try:
            await asyncio.wait_for(loop.sock_connect(sock, sockaddr), wait)
        except (OSError, TimeoutError) as exc:
            sock.close()
            address = str(sockaddr[0])
            last = _reason(exc) if address == host else f"{address}: {_reason(exc)}"
            continue
        ex.ip, ex.port = str(sockaddr[0]), port
        ex.timings["connect"] = time.monotonic()
        try:
            return await asyncio.wait_for(
                asyncio.open_connection(
                    sock=sock, ssl=context, server_hostname=host if context else None
                ),
                wait,
            )
        except ssl.SSLCertVerificationError as exc:
            sock.close()
            raise FetchError(f"TLS certificate rejected by {host}: {exc.verify_message}") from None
        except (OSError, ssl.SSLError, TimeoutError) as exc:
            sock.close()
            raise FetchError(f"TLS handshake with {host} failed: {_reason(exc)}") from None
    raise FetchError(f"cannot connect to {host}:{port}: {last}")


class _ResponseReader:
    """Feeds received bytes to h11 and to the response block, marking the payload start."""

    def __init__(self, conn: h11.Connection, ex: Exchange, limits: FetchLimits) -> None:
        self.conn = conn
        self.ex = ex
        self.limits = limits
        self.block = Block()
        self.head = bytearray()
        self.in_body = False
        self.done = False
        self.decoded = hashlib.sha256()

    @property
    def full(self) -> bool:
        """Whether ``max_body`` bytes after the header block (framing included) are in."""
        offset = self.block.payload_offset
        return offset is not None and self.block.length - offset >= self.limits.max_body

    def _clip(self, data: bytes) -> bytes:
        # Cut before h11 sees the bytes, so the record, the decoded digest and the decoded
        # length all describe the same first ``max_body`` bytes of the body as sent.
        offset = self.block.payload_offset
        if offset is not None:
            room = self.limits.max_body - (self.block.length - offset)
        else:
            match = HEADER_END.search(bytes(self.head) + data)
            if match is None:
                return data
            room = match.end() - len(self.head) + self.limits.max_body
        return data[: max(0, room)]

    def feed(self, data: bytes) -> None:
        data = self._clip(data)
        if not data:  # h11 would take b"" for the end of the stream
            return
        self.conn.receive_data(data)
        self._events()
        if self.done:
            leftover = len(self.conn.trailing_data[0])
            data = data[: len(data) - leftover] if leftover else data
        self._record(data)

    def _record(self, data: bytes) -> None:
        if self.in_body or self.block.payload_offset is not None:
            self.block.write(data)
            return
        self.head += data
        match = HEADER_END.search(self.head)
        if match is None:
            return
        self.block.write(bytes(self.head[: match.end()]))
        self.block.mark_payload()
        self.block.write(bytes(self.head[match.end() :]))
        self.head.clear()
        self.in_body = True

    def _events(self) -> None:
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.InformationalResponse):
                continue
            if isinstance(event, h11.Response):
                self.ex.status = event.status_code
                self.ex.http_version = "HTTP/" + event.http_version.decode("ascii", "replace")
                self.ex.headers = [(bytes(k), bytes(v)) for k, v in event.headers.raw_items()]
            elif isinstance(event, h11.Data):
                self.decoded.update(event.data)
                self.ex.body_bytes += len(event.data)
            elif isinstance(event, h11.EndOfMessage):
                self.done = True
                return
            elif isinstance(event, h11.ConnectionClosed):
                return

    def finish(self) -> Block:
        if self.head:  # no complete header block arrived: keep what did
            self.block.write(bytes(self.head))
            self.head.clear()
        self.ex.decoded_sha256 = self.decoded.digest() if self.ex.status is not None else None
        return self.block


async def fetch(
    url: str,
    *,
    limits: FetchLimits,
    context: ssl.SSLContext | None,
    trust_store: str,
    now: Callable[[], datetime],
) -> Exchange:
    """Fetch ``url`` once (no redirects), recording exactly what was sent and received."""
    parts = urlsplit(url)
    ex = Exchange(url=url, started_at=now())
    start = time.monotonic()
    ex.timings["start"] = start
    conn, request_bytes = build_request(url, limits)
    try:
        use_tls = context if parts.scheme == "https" else None
        reader, writer = await _connect(parts, ex, limits, use_tls)
    except FetchError as exc:
        ex.error = str(exc)
        return ex
    try:
        if context is not None and parts.scheme == "https":
            ssl_object = writer.get_extra_info("ssl_object")
            verified = context.verify_mode != ssl.CERT_NONE
            ex.tls = tls.describe(ssl_object, parts.hostname or "", trust_store, verified)
        ex.request = Block.of(request_bytes, payload_offset=len(request_bytes))
        writer.write(request_bytes)
        await writer.drain()
        ex.timings["sent"] = time.monotonic()
        await _receive(reader, conn, ex, limits, start)
    finally:
        writer.close()
        with contextlib.suppress(OSError, TimeoutError, ssl.SSLError):
            await asyncio.wait_for(writer.wait_closed(), 1.0)
    ex.timings["end"] = time.monotonic()
    return ex


async def _receive(
    reader: asyncio.StreamReader,
    conn: h11.Connection,
    ex: Exchange,
    limits: FetchLimits,
    start: float,
) -> None:
    response = _ResponseReader(conn, ex, limits)
    deadline = start + limits.timeout
    try:
        while not response.done:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                ex.truncated = "time"
                break
            try:
                data = await asyncio.wait_for(reader.read(READ_SIZE), remaining)
            except TimeoutError:
                ex.truncated = "time"
                break
            if "first_byte" not in ex.timings:
                ex.timings["first_byte"] = time.monotonic()
            if not data:
                conn.receive_data(b"")
                response._events()
                if not response.done:
                    ex.truncated = "disconnect" if ex.status is not None else None
                    if ex.status is None:
                        ex.error = "connection closed before a complete response header"
                break
            response.feed(data)
            if response.full and not response.done:
                ex.truncated = "length"
                break
    except h11.RemoteProtocolError as exc:
        ex.error = f"malformed HTTP response: {exc}"
        if ex.status is not None:
            ex.truncated = "disconnect"
    except (OSError, ssl.SSLError) as exc:
        ex.error = f"connection failed while reading: {exc}"
        ex.truncated = "disconnect" if ex.status is not None else None
    if ex.truncated == "time" and ex.status is None:
        ex.error = f"no complete response header within {limits.timeout:g} s"
    ex.response = response.finish()


def metadata_fields(ex: Exchange, proxy: str | None = None) -> dict[str, Any]:
    """What WARC leaves out of scope, for the exchange's metadata record (docs/FORMATS.md)."""
    start = ex.timings.get("start", 0.0)
    out: dict[str, Any] = {
        "addresses": ex.addresses,
        "timingsMs": {
            k: round((v - start) * 1000, 3) for k, v in ex.timings.items() if k != "start"
        },
        "httpVersion": ex.http_version,
    }
    if ex.decoded_sha256 is not None:
        out["decodedBodySha256"] = "sha256:" + ex.decoded_sha256.hex()
        out["decodedBodyLength"] = ex.body_bytes
    if ex.tls is not None:
        out["tls"] = ex.tls.as_json()
    if ex.truncated:
        out["truncated"] = ex.truncated
    if ex.error:
        out["error"] = ex.error
    if proxy:
        out["proxy"] = proxy
    return out
