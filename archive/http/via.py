"""Capturing through a proxy: HTTP CONNECT (RFC 9110 §9.3.6) and SOCKS5 (RFC 1928, RFC 1929).

``open_tunnel`` returns a raw socket to the origin, read no further than the proxy's reply,
so the recorder's TLS and HTTP bytes are exactly those it would send directly. ``http://``
and ``socks5h://`` let the proxy resolve the origin's name; ``socks5://`` resolves it here,
so that lookup leaves from this machine's own network. The private-address rule
(``archive.http.addresses``) is applied to the addresses prov itself connects the tunnel to: an
address literal, or what ``socks5://`` resolved here; a name the proxy resolves is the
proxy's to judge (docs/SECURITY.md). A proxy is a peer like any server:
one timeout bounds the handshake, ``MAX_CONNECT_HEAD`` a CONNECT reply, and every failure
is a one-line ``ViaError``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import os
import re
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import quote, unquote, urlsplit

from archive.errors import CaptureError
from archive.http.addresses import AddressPolicy, AddressRefused

MAX_CONNECT_HEAD = 16 << 10  # messages say "16 KiB"
SOCKS_PORT = 1080  # RFC 1928 §3: "conventionally located on TCP port 1080"
_T = TypeVar("_T")
_SCHEMES = ("http", "socks5", "socks5h")
_HOST_NAME = re.compile(rb"[A-Za-z0-9_.-]{1,255}")
_STATUS_LINE = re.compile(rb"HTTP/1\.[01] ([1-9][0-9][0-9])(?: ([^\r\n]*))?\r?\n")
_SOCKS_REPLIES = {  # RFC 1928 §6
    1: "general failure",
    2: "not allowed by the proxy's rules",
    3: "network unreachable",
    4: "host unreachable",
    5: "connection refused",
    6: "TTL expired",
    7: "command not supported",
    8: "address type not supported",
}
_ADDRESS_REPLIES = frozenset({3, 4, 5, 6})


class ViaError(CaptureError):
    """The proxy could not be reached, refused, or did not speak its protocol."""


class _SocksAddressError(ViaError):
    """A SOCKS reply about the one origin address tried (network/host unreachable, ...)."""


@dataclass(frozen=True)
class Via:
    """A parsed ``--via`` proxy URL; ``url`` and ``password`` stay out of ``repr``."""

    url: str = field(repr=False)
    scheme: str
    host: str
    port: int
    username: str | None
    password: str | None = field(repr=False)

    @property
    def display(self) -> str:
        """The URL without the password, for WARC metadata and messages."""
        user = f"{quote(self.username, safe='')}@" if self.username is not None else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{user}{host}:{self.port}"


def parse_via(url: str) -> Via:
    """Parse ``(http|socks5|socks5h)://[user:pass@]host:port``; messages omit the password."""
    url = url.strip()
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise ValueError(f"proxy URL: scheme {scheme!r} is not http, socks5 or socks5h")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("proxy URL: only scheme://[user:pass@]host:port is allowed")
    try:
        port = parts.port
        if port == 0:
            raise ValueError
    except ValueError:
        raise ValueError("proxy URL: the port is not a number from 1 to 65535") from None
    if not parts.hostname:
        raise ValueError("proxy URL: no host")
    if port is None and scheme == "http":
        raise ValueError("proxy URL: give the proxy's port (http://host:PORT)")
    username = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    if username is not None and scheme != "http":
        # RFC 1929: UNAME is 1 to 255 bytes, PASSWD up to 255.
        if not 0 < len(username.encode()) < 256 or len((password or "").encode()) > 255:
            raise ValueError("proxy URL: a SOCKS5 user name is 1 to 255 bytes, a password 0 to 255")
    elif username is not None and ":" in username:
        raise ValueError("proxy URL: a Basic user name cannot contain ':' (RFC 7617)")
    return Via(url, scheme, parts.hostname, port or SOCKS_PORT, username, password)


async def open_tunnel(
    via: Via, host: str, port: int, *, timeout: float, policy: AddressPolicy | None = None,
) -> tuple[socket.socket, str]:
    """A non-blocking socket tunnelled to ``host:port``, and how the peer is known.

    ``via <display>``; SOCKS adds the bound address the proxy reports (its own outgoing
    address, not the origin's), and socks5 prefixes the origin address it resolved here.
    """
    if not 0 < port < 65536:
        raise ValueError(f"port {port} is not from 1 to 65535")
    target = _target_host(host)
    if policy is not None and _is_ip(target):
        _check(policy, host, [target])
    try:
        async with asyncio.timeout(timeout):
            if via.scheme == "http":
                sock, _ = await _attempt(via, _http_connect, target, port)
                return sock, f"via {via.display}"
            return await _socks_tunnel(via, target, port, policy)
    except TimeoutError:
        raise ViaError(f"proxy {via.display}: no handshake within {timeout:g} s") from None


def _target_host(host: str) -> str:
    """An IP address or an ASCII (IDNA) host name, safe to put in a request line."""
    if _is_ip(host):
        return ipaddress.ip_address(host).compressed
    name = b""
    with contextlib.suppress(UnicodeError):
        name = host.encode("idna")
    if not _HOST_NAME.fullmatch(name):
        raise ViaError(f"cannot tunnel to {host!r}: not a valid host name")
    return name.decode("ascii")


def _check(policy: AddressPolicy, host: str, addresses: list[str]) -> list[str]:
    """The addresses the rule allows; AddressRefused when it allows none."""
    allowed, refused = policy.split(addresses)
    if not allowed:
        raise AddressRefused(host, refused)
    return allowed


def _is_ip(host: str) -> bool:
    with contextlib.suppress(ValueError):
        return bool(ipaddress.ip_address(host))
    return False


def _join(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _printable(data: bytes, limit: int = 80) -> str:
    """Bytes a hostile proxy chose, made safe for a one-line message."""
    return re.sub(r"[^ -~]", "?", data[:limit].decode("latin-1")).strip()


def _reason(exc: OSError) -> str:
    """ "Connection refused", not asyncio's "[Errno 111] Connect call failed (...)"."""
    if exc.errno and exc.errno > 0:
        return os.strerror(exc.errno)
    return exc.strerror or str(exc) or type(exc).__name__  # gaierror: errno < 0


class _Handshake:
    """One connection to the proxy while it is negotiated: exact reads, named failures."""

    def __init__(self, via: Via, sock: socket.socket) -> None:
        self.via = via
        self.sock = sock
        self.loop = asyncio.get_running_loop()

    def error(self, what: str, hint: str | None = None) -> ViaError:
        return ViaError(f"proxy {self.via.display} {what}", hint=hint)

    async def send(self, data: bytes) -> None:
        await self.loop.sock_sendall(self.sock, data)

    async def recv(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            piece = await self.loop.sock_recv(self.sock, size - len(data))
            if not piece:
                raise self.error("closed the connection during the handshake")
            data += piece
        return data

    async def recv_head(self) -> bytes:
        """Read a response head and not one byte more: what follows is the origin's."""
        head = b""
        while not head.endswith((b"\n\n", b"\n\r\n")):
            if len(head) >= MAX_CONNECT_HEAD:
                raise self.error("sent a CONNECT response head over 16 KiB")
            # The fewest bytes that could end the head from here, so no read overshoots.
            head += await self.recv(1 if head.endswith((b"\n", b"\n\r")) else 2)
        return head


async def _attempt(
    via: Via, step: Callable[[_Handshake, str, int], Awaitable[_T]], target: str, port: int
) -> tuple[socket.socket, _T]:
    """Connect to the proxy and run ``step``; the socket is closed unless it succeeds."""
    sock = await _connect(via)
    try:
        return sock, await step(_Handshake(via, sock), target, port)
    except BaseException as exc:  # cancelled by the timeout too: leak no socket
        sock.close()
        if isinstance(exc, OSError):
            raise ViaError(f"proxy {via.display} handshake failed: {_reason(exc)}") from None
        raise


async def _connect(via: Via) -> socket.socket:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(via.host, via.port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ViaError(f"cannot resolve proxy {via.display}: {_reason(exc)}") from None
    last = "no address"
    for family, socktype, proto, _, sockaddr in infos:
        sock = socket.socket(family, socktype, proto)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, sockaddr)
            return sock
        except BaseException as exc:  # cancelled by the timeout too: leak no socket
            sock.close()
            if not isinstance(exc, OSError):
                raise
            last = _reason(exc)
    raise ViaError(f"cannot reach proxy {via.display}: {last}")


async def _http_connect(h: _Handshake, target: str, port: int) -> None:
    authority = _join(target, port)
    lines = [f"CONNECT {authority} HTTP/1.1", f"Host: {authority}"]
    if h.via.username is not None:
        token = f"{h.via.username}:{h.via.password or ''}".encode()
        lines.append("Proxy-Authorization: Basic " + base64.b64encode(token).decode("ascii"))
    await h.send("".join(line + "\r\n" for line in lines).encode("ascii") + b"\r\n")
    head = await h.recv_head()
    match = _STATUS_LINE.match(head)
    if match is None:
        found = _printable(head.split(b"\n", 1)[0])
        raise h.error(f"did not answer CONNECT with HTTP: {found!r}")
    status = int(match[1])
    if 200 <= status < 300:  # RFC 9110 §9.3.6: any 2xx response opens the tunnel
        return
    found = f"{status} {_printable(match[2] or b'')}".strip()
    if status == 407 and h.via.username is None:
        raise h.error(
            f"requires authentication for CONNECT {authority} ({found})",
            hint="put USER:PASS@ in the proxy URL",
        )
    if status == 407:
        raise h.error(f"rejected the credentials of {h.via.username!r}: {found}")
    raise h.error(f"refused CONNECT {authority}: {found}")


async def _socks_tunnel(via: Via, target: str, port: int,
                        policy: AddressPolicy | None) -> tuple[socket.socket, str]:
    # socks5h hands the name to the proxy; socks5 resolves it here and, like a direct
    # connection, tries each address while the proxy says that one address failed.
    local = via.scheme == "socks5" and not _is_ip(target)
    addresses = await _resolve(target, port) if local else [target]
    if local and policy is not None:
        addresses = _check(policy, target, addresses)
    for address in addresses[:-1]:
        with contextlib.suppress(_SocksAddressError):
            sock, bound = await _attempt(via, _socks_handshake, address, port)
            break
    else:
        address = addresses[-1]
        sock, bound = await _attempt(via, _socks_handshake, address, port)
    origin = f"{_join(address, port)} " if local else ""
    return sock, f"{origin}via {via.display} (proxy-reported bound address {bound})"


async def _resolve(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ViaError(
            f"cannot resolve {host}: {_reason(exc)}",
            hint="socks5:// resolves names on this machine; socks5h:// lets the proxy do it",
        ) from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _socks_address(address: str) -> bytes:
    """ATYP and DST.ADDR (RFC 1928 §5) for an IP address or a host name."""
    if not _is_ip(address):
        return b"\x03" + bytes([len(address)]) + address.encode("ascii")
    ip = ipaddress.ip_address(address)
    return (b"\x01" if ip.version == 4 else b"\x04") + ip.packed


async def _socks_handshake(h: _Handshake, address: str, port: int) -> str:
    """RFC 1928 method negotiation, RFC 1929 login, CONNECT; returns BND.ADDR:BND.PORT."""
    user = h.via.username
    await h.send(b"\x05\x01\x00" if user is None else b"\x05\x02\x00\x02")
    version, method = await h.recv(2)
    if version != 5:
        raise h.error(f"does not speak SOCKS5 (reply version {version})")
    if method == 0xFF:
        offered = "no authentication" if user is None else "either offered method"
        raise h.error(
            f"requires authentication: it refused {offered}",
            hint=None if user else "put USER:PASS@ in the proxy URL",
        )
    if method == 0x02 and user is not None:
        await _socks_login(h, user.encode(), (h.via.password or "").encode())
    elif method != 0x00:
        raise h.error(f"chose SOCKS5 method {method:#04x}, which was not offered")
    await h.send(b"\x05\x01\x00" + _socks_address(address) + port.to_bytes(2, "big"))
    version, reply = await h.recv(2)
    if version != 5:
        raise h.error(f"sent a SOCKS5 reply with version {version}")
    if reply != 0:
        name = _SOCKS_REPLIES.get(reply, "unassigned reply")
        kind = _SocksAddressError if reply in _ADDRESS_REPLIES else ViaError
        where = _join(address, port)
        raise kind(f"proxy {h.via.display} could not connect to {where}: {name} ({reply:#04x})")
    return await _socks_bound(h)


async def _socks_login(h: _Handshake, user: bytes, password: bytes) -> None:
    await h.send(b"\x01" + bytes([len(user)]) + user + bytes([len(password)]) + password)
    # Only STATUS counts: some servers answer VER 5 instead of RFC 1929's 1.
    _, status = await h.recv(2)
    if status != 0:
        raise h.error(f"rejected the credentials of {h.via.username!r} ({status:#04x})")


async def _socks_bound(h: _Handshake) -> str:
    _, atyp = await h.recv(2)
    if atyp == 3:
        size = (await h.recv(1))[0]
    elif atyp in (1, 4):
        size = 4 if atyp == 1 else 16
    else:
        raise h.error(f"sent a SOCKS5 reply with address type {atyp:#04x}")
    raw = await h.recv(size + 2)
    host = _printable(raw[:size], 255) if atyp == 3 else str(ipaddress.ip_address(raw[:size]))
    return _join(host, int.from_bytes(raw[-2:], "big"))
