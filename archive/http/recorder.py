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
from urllib.parse import SplitResult, quote, urlsplit

import h11

from archive.http import tls
from archive.http import via as via_mod
from archive.http.addresses import AddressPolicy, AddressRefused
from archive.warc.writer import Block

READ_SIZE = 1 << 16
SAMPLED_TYPES = frozenset({"text/html", "application/xhtml+xml", "text/css"})
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
    method: str = "GET"
    connection: int = 0  # which connection carried it (same number: reused)
    reused: bool = False
    body_sample: bytes = b""  # the first bytes of the transfer-decoded body, when asked for
    via: str | None = None
    time_limit: str | None = None  # the limit that cut it when not ``--timeout`` (the caller's)
    # addresses not connected to by the private-address rule (archive.http.addresses), with
    # their kind; ``refused``: every address was, so nothing was sent
    refused_addresses: list[tuple[str, str]] = field(default_factory=list)
    refused: bool = False

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


TARGET_SAFE = "/%:@!$&'()*+,;=-._~?"


def request_target(parts: SplitResult) -> str:
    """The origin-form target, non-ASCII characters percent-encoded (RFC 3986 2.1); existing
    escapes are kept as they are."""
    path = quote(parts.path or "/", safe=TARGET_SAFE)
    return f"{path}?{quote(parts.query, safe=TARGET_SAFE)}" if parts.query else path


def ascii_host(host: str) -> str:
    """An internationalised host name in its ASCII (IDNA) form."""
    try:
        return host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        return host


def host_header(parts: SplitResult) -> str:
    host = ascii_host(parts.hostname or "")
    if ":" in host:
        host = f"[{host}]"
    default = 443 if parts.scheme == "https" else 80
    return host if parts.port in (None, default) else f"{host}:{parts.port}"


@dataclass(frozen=True)
class RequestSpec:
    """What to send. ``headers`` None means prov's own GET headers; a browser's request
    (through the recording proxy) brings its own method, headers and body."""

    url: str
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] | None = None
    body: bytes = b""


def default_headers(parts: SplitResult, limits: FetchLimits, keep_alive: bool) -> list[
    tuple[str, str]
]:
    headers = [
        ("Host", host_header(parts)),
        ("User-Agent", limits.user_agent),
        ("Accept", "*/*"),
        ("Accept-Encoding", "gzip, deflate"),
    ]
    if not keep_alive:
        headers.append(("Connection", "close"))
    return headers


def build_request(spec: RequestSpec, conn: h11.Connection, limits: FetchLimits,
                  keep_alive: bool) -> bytes:
    """The exact bytes of the request, produced by ``conn`` (h11 frames the body)."""
    parts = urlsplit(spec.url)
    headers = list(spec.headers) if spec.headers is not None else default_headers(
        parts, limits, keep_alive)
    if spec.body and not any(k.lower() in ("content-length", "transfer-encoding")
                             for k, _ in headers):
        headers.append(("Content-Length", str(len(spec.body))))
    data = conn.send(h11.Request(method=spec.method, target=request_target(parts),
                                 headers=headers)) or b""
    if spec.body:
        data += conn.send(h11.Data(data=spec.body)) or b""
    data += conn.send(h11.EndOfMessage()) or b""
    return data


async def _connect(
    parts: SplitResult, ex: Exchange, limits: FetchLimits, context: ssl.SSLContext | None,
    policy: AddressPolicy | None,
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
    if policy is not None:  # judged here, and the socket connects to the address judged
        allowed, ex.refused_addresses = policy.split(ex.addresses)
        if not allowed:
            raise AddressRefused(host, ex.refused_addresses)
        infos = [info for info in infos if str(info[4][0]) in allowed]
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

    def __init__(self, conn: h11.Connection, ex: Exchange, limits: FetchLimits,
                 sample_limit: int = 0) -> None:
        self.sample = bytearray()
        self.sample_limit = sample_limit
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

    @property
    def header_full(self) -> bool:
        """Whether ``max_header`` bytes came without the end of the header block."""
        return self.block.payload_offset is None and len(self.head) >= self.limits.max_header

    def _header_end(self, data: bytes) -> int | None:
        """Where the header block ends in ``head + data``; only the tail of ``head`` is
        searched again, so a server sending one byte at a time costs linear time."""
        start = max(0, len(self.head) - 3)
        match = HEADER_END.search(bytes(self.head[start:]) + data)
        return None if match is None else start + match.end()

    def _clip(self, data: bytes) -> bytes:
        # Cut before h11 sees the bytes, so the record, the decoded digest and the decoded
        # length all describe the same first ``max_body`` bytes of the body as sent, and a
        # header block is kept to its first ``max_header`` bytes.
        offset = self.block.payload_offset
        if offset is not None:
            room = self.limits.max_body - (self.block.length - offset)
        else:
            end = self._header_end(data)
            if end is None or end > self.limits.max_header:
                room = self.limits.max_header - len(self.head)
            else:
                room = end - len(self.head) + self.limits.max_body
        return data[: max(0, room)]

    def feed(self, data: bytes) -> None:
        data = self._clip(data)
        if not data:  # h11 would take b"" for the end of the stream
            return
        self.conn.receive_data(data)
        try:
            self._events()
        except h11.RemoteProtocolError:
            self._record(data)  # what the server sent is evidence, malformed or not
            raise
        if self.done:
            leftover = len(self.conn.trailing_data[0])
            data = data[: len(data) - leftover] if leftover else data
        self._record(data)

    def _record(self, data: bytes) -> None:
        if self.in_body or self.block.payload_offset is not None:
            self.block.write(data)
            return
        end = self._header_end(data)
        self.head += data
        if end is None:
            return
        self.block.write(bytes(self.head[:end]))
        self.block.mark_payload()
        self.block.write(bytes(self.head[end:]))
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
                kind = (self.ex.header(b"content-type") or b"").split(b";")[0].strip().lower()
                if kind.decode("latin-1") not in SAMPLED_TYPES:
                    self.sample_limit = 0  # only pages and stylesheets are parsed for links
            elif isinstance(event, h11.Data):
                self.decoded.update(event.data)
                self.ex.body_bytes += len(event.data)
                if len(self.sample) < self.sample_limit:
                    self.sample += event.data[: self.sample_limit - len(self.sample)]
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
        self.ex.body_sample = bytes(self.sample)
        return self.block


@dataclass
class Connection:
    """One TCP (and TLS) connection and its HTTP/1.1 state, reusable while keep-alive."""

    number: int
    origin: tuple[str, str, int]
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    h11: h11.Connection
    ip: str | None
    port: int | None
    addresses: list[str]
    tls: tls.TlsInfo | None

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError, TimeoutError, ssl.SSLError):
            await asyncio.wait_for(self.writer.wait_closed(), 1.0)


class Pool:
    """Idle keep-alive connections by origin (scheme, host, port)."""

    def __init__(self, max_idle_per_origin: int = 8) -> None:
        self._idle: dict[tuple[str, str, int], list[Connection]] = {}
        self._max = max_idle_per_origin
        self._count = 0

    def next_number(self) -> int:
        self._count += 1
        return self._count

    def take(self, origin: tuple[str, str, int]) -> Connection | None:
        idle = self._idle.get(origin)
        return idle.pop() if idle else None

    async def give(self, conn: Connection) -> None:
        idle = self._idle.setdefault(conn.origin, [])
        if len(idle) < self._max and not conn.reader.at_eof():
            idle.append(conn)
        else:
            await conn.close()

    async def close(self) -> None:
        for idle in self._idle.values():
            for conn in idle:
                await conn.close()
        self._idle.clear()


def origin_of(parts: SplitResult) -> tuple[str, str, int]:
    return (parts.scheme, (parts.hostname or "").lower(),
            parts.port or (443 if parts.scheme == "https" else 80))


async def open_connection(
    parts: SplitResult, ex: Exchange, limits: FetchLimits, context: ssl.SSLContext | None,
    trust_store: str, pool: Pool, via: Any | None, policy: AddressPolicy | None = None,
) -> Connection:
    use_tls = context if parts.scheme == "https" else None
    if via is not None:
        reader, writer = await _connect_via(parts, ex, limits, use_tls, via, policy)
    else:
        reader, writer = await _connect(parts, ex, limits, use_tls, policy)
    info = None
    if use_tls is not None:
        verified = use_tls.verify_mode != ssl.CERT_NONE
        info = tls.describe(writer.get_extra_info("ssl_object"), parts.hostname or "",
                            trust_store, verified)
    conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=limits.max_header)
    return Connection(pool.next_number(), origin_of(parts), reader, writer, conn, ex.ip,
                      ex.port, list(ex.addresses), info)


async def _connect_via(
    parts: SplitResult, ex: Exchange, limits: FetchLimits, context: ssl.SSLContext | None,
    via: Any, policy: AddressPolicy | None,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    wait = min(limits.connect_timeout, limits.timeout)
    try:
        sock, peer = await via_mod.open_tunnel(via, host, port, timeout=wait, policy=policy)
    except AddressRefused as exc:
        ex.refused_addresses = exc.refused
        raise
    except Exception as exc:
        raise FetchError(str(exc) or type(exc).__name__) from None
    ex.via = via.display
    ex.timings["connect"] = time.monotonic()
    ex.port = port
    ex.addresses = [peer] if peer else []
    try:
        return await asyncio.wait_for(
            asyncio.open_connection(sock=sock, ssl=context,
                                    server_hostname=host if context else None), wait)
    except ssl.SSLCertVerificationError as exc:
        sock.close()
        raise FetchError(f"TLS certificate rejected by {host}: {exc.verify_message}") from None
    except (OSError, ssl.SSLError, TimeoutError) as exc:
        sock.close()
        raise FetchError(f"TLS handshake with {host} failed: {_reason(exc)}") from None


async def fetch(
    spec: RequestSpec | str,
    *,
    limits: FetchLimits,
    context: ssl.SSLContext | None,
    trust_store: str,
    now: Callable[[], datetime],
    pool: Pool | None = None,
    via: Any | None = None,
    sample_limit: int = 0,
    policy: AddressPolicy | None = None,
) -> Exchange:
    """Send one request (no redirects), recording exactly what was sent and received.

    With a ``pool`` the connection is kept alive and reused; a reused connection that the
    server had closed is retried once on a new one (nothing was received on it). With a
    ``policy``, a new connection uses only the addresses it allows (``ex.refused`` when
    none is left: nothing was sent).
    """
    if isinstance(spec, str):
        spec = RequestSpec(spec)
    for attempt in (0, 1):
        own_pool = pool or Pool()
        ex = await _fetch_once(spec, limits, context, trust_store, now, own_pool, via,
                               sample_limit, keep_alive=pool is not None, policy=policy)
        if pool is None:
            await own_pool.close()
        # A kept-alive connection the server had closed fails at once; one that timed out
        # carried the request to a server that did not answer in time: never sent again.
        stale = ex.reused and ex.status is None and ex.error is not None and not (
            ex.response and ex.response.length) and ex.truncated != "time"
        if not stale or attempt:
            return ex
    return ex


async def _fetch_once(
    spec: RequestSpec, limits: FetchLimits, context: ssl.SSLContext | None, trust_store: str,
    now: Callable[[], datetime], pool: Pool, via: Any | None, sample_limit: int,
    keep_alive: bool, policy: AddressPolicy | None = None,
) -> Exchange:
    parts = urlsplit(spec.url)
    ex = Exchange(url=spec.url, started_at=now(), method=spec.method)
    start = time.monotonic()
    ex.timings["start"] = start
    conn = pool.take(origin_of(parts)) if keep_alive else None
    if conn is None:
        try:
            conn = await open_connection(parts, ex, limits, context, trust_store, pool, via,
                                         policy)
        except AddressRefused as exc:
            ex.error, ex.refused = str(exc), True
            return ex
        except FetchError as exc:
            ex.error = str(exc)
            return ex
    else:
        ex.reused = True
        ex.ip, ex.port, ex.addresses = conn.ip, conn.port, list(conn.addresses)
    ex.tls, ex.connection = conn.tls, conn.number
    ex.via = ex.via or (via.display if via is not None else None)
    reusable = False
    try:
        request_bytes = build_request(spec, conn.h11, limits, keep_alive)
        ex.request = Block.of(request_bytes, payload_offset=_head_length(request_bytes))
        conn.writer.write(request_bytes)
        await conn.writer.drain()
        ex.timings["sent"] = time.monotonic()
        await _receive(conn.reader, conn.h11, ex, limits, start, sample_limit)
        reusable = (keep_alive and ex.error is None and ex.truncated is None
                    and conn.h11.our_state is h11.DONE and conn.h11.their_state is h11.DONE)
    except (OSError, ssl.SSLError) as exc:
        ex.error = f"connection failed while sending: {_reason(exc)}"
    except h11.LocalProtocolError as exc:
        ex.error = f"cannot send this request: {exc}"
    finally:
        if reusable:
            conn.h11.start_next_cycle()
            await pool.give(conn)
        else:
            await conn.close()
    ex.timings["end"] = time.monotonic()
    return ex


def _head_length(request: bytes) -> int:
    match = HEADER_END.search(request)
    return match.end() if match else len(request)


async def _read_response(
    reader: asyncio.StreamReader, conn: h11.Connection, ex: Exchange, limits: FetchLimits,
    response: _ResponseReader,
) -> None:
    """Read until the response ends or a limit (body, header block) cuts it."""
    while not response.done:
        data = await reader.read(READ_SIZE)
        if "first_byte" not in ex.timings:
            ex.timings["first_byte"] = time.monotonic()
        if not data:
            conn.receive_data(b"")
            response._events()
            if not response.done:
                ex.truncated = "disconnect" if ex.status is not None else None
                if ex.status is None:
                    ex.error = "connection closed before a complete response header"
            return
        response.feed(data)
        if response.full and not response.done:
            ex.truncated = "length"
            return
        if response.header_full:
            ex.truncated = "length"
            ex.error = (f"response header block larger than {limits.max_header} bytes "
                        "(the header limit): not parsed")
            return


async def _receive(
    reader: asyncio.StreamReader,
    conn: h11.Connection,
    ex: Exchange,
    limits: FetchLimits,
    start: float,
    sample_limit: int = 0,
) -> None:
    response = _ResponseReader(conn, ex, limits, sample_limit)
    # One timer for the whole response, not a wait_for (a new task) per read: cheaper, and
    # 3.11's wait_for can swallow a cancellation that arrives as a read completes.
    timer = asyncio.timeout(max(0.0, start + limits.timeout - time.monotonic()))
    try:
        async with timer:
            await _read_response(reader, conn, ex, limits, response)
    except TimeoutError as exc:
        if not timer.expired():  # the socket's own timeout, not --timeout
            ex.error = f"connection failed while reading: {_reason(exc)}"
        ex.truncated = "time" if timer.expired() else (
            "disconnect" if ex.status is not None else None)
    except h11.RemoteProtocolError as exc:
        ex.error = f"malformed HTTP response: {_protocol_message(exc)}"
        if ex.status is not None:
            ex.truncated = "disconnect"
    except (OSError, ssl.SSLError) as exc:
        ex.error = f"connection failed while reading: {exc}"
        ex.truncated = "disconnect" if ex.status is not None else None
    if ex.truncated == "time" and ex.status is None:
        ex.error = f"no complete response header within {limits.timeout:g} s"
    ex.response = response.finish()


def _protocol_message(exc: h11.RemoteProtocolError) -> str:
    """h11's message with the offending bytes shown as text, not as ``bytearray(b'...')``."""
    return re.sub(r"bytearray\((b'[^']*'|b\"[^\"]*\")\)", lambda m: m[1][1:], str(exc))


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
    if ex.time_limit:
        out["limit"] = ex.time_limit
    if ex.refused_addresses:
        out["addressesRefused"] = [{"address": a, "range": kind}
                                   for a, kind in ex.refused_addresses]
    if ex.error:
        out["error"] = ex.error
    if proxy or ex.via:
        out["proxy"] = proxy or ex.via
    if ex.connection:
        out["connection"] = {"number": ex.connection, "reused": ex.reused}
    return out
