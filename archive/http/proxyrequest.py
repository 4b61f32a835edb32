"""The browser's side of the recording proxy: reading its requests (RFC 9112, h11 server
side), naming the URL each is for (absolute-form, or origin-form inside a ``CONNECT``
tunnel, RFC 9110 9.3.6), and deciding whether its connection can carry another one.

Bounded: the header block (``MAX_HEAD``), the body (``MAX_REQUEST_BODY``) and the wait for
a request (``IDLE_TIMEOUT``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlsplit

import h11

from archive.http import recorder

READ_SIZE = 1 << 16
MAX_HEAD = 256 << 10
MAX_REQUEST_BODY = 64 << 20
IDLE_TIMEOUT = 30.0


class ProxyRequestError(Exception):
    """A request the proxy will not forward; ``str()`` says why (sent back in the 4xx/5xx)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ProxiedRequest:
    """A request as the browser sent it (header names in the browser's own case)."""

    method: str
    target: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    keep_alive: bool

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name), None)


async def read_request(reader: asyncio.StreamReader, buffer: bytes) -> tuple[
    ProxiedRequest | None, bytes
]:
    """The next request on a client connection and what followed it; None when the client
    closed or stayed idle for ``IDLE_TIMEOUT``."""
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
    if buffer:  # b"" would tell h11 the stream ended
        conn.receive_data(buffer)
    head: h11.Request | None = None
    body = bytearray()
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as exc:
            raise ProxyRequestError(f"malformed request: {exc}") from None
        if event is h11.NEED_DATA:
            try:
                data = await asyncio.wait_for(reader.read(READ_SIZE), IDLE_TIMEOUT)
            except TimeoutError:
                return None, b""
            conn.receive_data(data)
        elif isinstance(event, h11.Request):
            head = event
        elif isinstance(event, h11.Data):
            body += event.data
            if len(body) > MAX_REQUEST_BODY:
                raise ProxyRequestError("request body too large for the recording proxy", 413)
        elif isinstance(event, h11.EndOfMessage) and head is not None:
            headers = tuple((bytes(k).decode("latin-1"), bytes(v).decode("latin-1"))
                            for k, v in head.headers.raw_items())
            connection = b",".join(v for k, v in head.headers if k == b"connection").lower()
            keep_alive = head.http_version == b"1.1" and b"close" not in connection
            request = ProxiedRequest(head.method.decode("ascii"), head.target.decode("ascii"),
                                     headers, bytes(body), keep_alive)
            return request, conn.trailing_data[0]
        else:  # ConnectionClosed, or PAUSED before a whole request
            return None, b""


def error_response(status: int, message: str) -> bytes:
    body = f"prov recording proxy: {message}\n".encode()
    reason = {400: "Bad Request", 413: "Content Too Large", 502: "Bad Gateway"}.get(
        status, "Error")
    return (f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\n\r\n").encode() + body


def tunnel_origin(authority: str) -> tuple[str, int]:
    parts = urlsplit("//" + authority)
    try:
        port = parts.port
    except ValueError:
        port = None
    if not parts.hostname or port is None:
        raise ProxyRequestError(f"CONNECT needs host:port, got {authority[:200]!r}")
    return parts.hostname, port


def target_url(request: ProxiedRequest, tunnel: tuple[str, int] | None) -> str:
    """The URL a request is for: its absolute-form target, or the tunnel's origin + path."""
    if tunnel is None:
        parts = urlsplit(request.target)
        if parts.scheme != "http" or not parts.hostname:
            raise ProxyRequestError(f"not a proxy request: {request.target[:200]!r}")
        return request.target
    if not request.target.startswith("/"):
        raise ProxyRequestError(f"not an origin-form target: {request.target[:200]!r}")
    host, port = tunnel
    shown = f"[{host}]" if ":" in host else host
    return f"https://{shown}{'' if port == 443 else f':{port}'}{request.target}"


def reusable(request: ProxiedRequest, ex: recorder.Exchange) -> bool:
    """Whether the client connection can carry another request after this response: the
    response ended by its own framing, and nobody asked to close."""
    if not request.keep_alive or ex.error or ex.truncated or ex.status is None:
        return False
    if b"close" in (ex.header(b"connection") or b"").lower():
        return False
    framed = (request.method == "HEAD" or ex.status in (204, 304) or ex.status < 200
              or ex.header(b"content-length") is not None
              or b"chunked" in (ex.header(b"transfer-encoding") or b"").lower())
    return framed


def url_key(url: str) -> str:
    """A URL as both Chromium and the proxy spell it: lower-case scheme and host, no
    default port, no fragment."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    host = f"[{host}]" if ":" in host else host
    try:
        port = parts.port
    except ValueError:
        return url
    if port is not None and port != {"http": 80, "https": 443}.get(parts.scheme):
        host += f":{port}"
    query = f"?{parts.query}" if parts.query else ""
    return f"{parts.scheme.lower()}://{host}{parts.path or '/'}{query}"
