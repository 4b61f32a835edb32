"""Capturing through proxies (archive.http.via) against real local CONNECT and SOCKS5 proxies."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from helpers import free_port
from hypothesis import given, settings
from hypothesis import strategies as st
from proxies import Blackhole, ConnectProxy, Proxy, Socks5Proxy, Target, basic
from servers import RESPONSES, LocalServer
from testca import TestCA

from archive.errors import CaptureError, ExitCode
from archive.http.via import Via, ViaError, open_tunnel, parse_via

PAGE = RESPONSES["/page.html"]
SECRET = "s:cr@t ü"  # needs percent-encoding in a URL, and UTF-8 on the wire


def tunnel(via: Via, host: str, port: int, timeout: float = 5.0) -> tuple[socket.socket, str]:
    return asyncio.run(open_tunnel(via, host, port, timeout=timeout))


async def _get(via: Via, host: str, port: int, ca: TestCA | None) -> tuple[bytes, str]:
    sock, peer = await open_tunnel(via, host, port, timeout=5)
    assert not sock.getblocking()
    context = ca.client_context() if ca else None
    reader, writer = await asyncio.open_connection(
        sock=sock, ssl=context, server_hostname=host if ca else None
    )
    writer.write(b"GET /page.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = b""
    while chunk := await reader.read(65536):
        data += chunk
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return data, peer


def get(via: Via, server: LocalServer, host: str = "127.0.0.1") -> tuple[bytes, str]:
    return asyncio.run(_get(via, host, server.port, server.ca))


@pytest.fixture
def origin() -> Iterator[LocalServer]:
    with LocalServer() as server:
        yield server


# --- parse_via ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "fields", "display"),
    [
        ("http://127.0.0.1:3128", ("http", "127.0.0.1", 3128, None, None), None),
        (
            "http://alice:s%3Acr%40t@proxy.test:8080",
            ("http", "proxy.test", 8080, "alice", "s:cr@t"),
            "http://alice@proxy.test:8080",
        ),
        (
            "socks5://proxy.test",
            ("socks5", "proxy.test", 1080, None, None),
            "socks5://proxy.test:1080",
        ),
        (
            "SOCKS5H://bob:pw@[::1]:9050",
            ("socks5h", "::1", 9050, "bob", "pw"),
            "socks5h://bob@[::1]:9050",
        ),
    ],
)
def test_parse_via(url: str, fields: tuple[Any, ...], display: str | None) -> None:
    via = parse_via(url)
    assert (via.scheme, via.host, via.port, via.username, via.password) == fields
    assert via.display == (display or url)
    assert via.password is None or via.password not in repr(via) + via.display


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "scheme '' is not"),
        ("127.0.0.1:8080", "is not http, socks5 or socks5h"),
        ("https://proxy.test:8443", "scheme 'https' is not"),
        ("http://proxy.test", "give the proxy's port"),
        ("http://proxy.test:0", "port is not a number"),
        ("http://proxy.test:99999", "port is not a number"),
        ("http://proxy.test:x", "port is not a number"),
        ("http://:8080", "no host"),
        ("http://proxy.test:8080/path", "only scheme://"),
        ("socks5://proxy.test?x=1", "only scheme://"),
        ("socks5://:secret@proxy.test", "SOCKS5 user name is 1 to 255 bytes"),
        (f"socks5://{'u' * 256}:secret@proxy.test", "SOCKS5 user name is 1 to 255 bytes"),
        ("http://a%3Ab:secret@proxy.test:8080", "cannot contain ':'"),
    ],
)
def test_parse_via_rejects(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        parse_via(url)
    assert "\n" not in str(info.value) and "secret" not in str(info.value)


# --- through each proxy -------------------------------------------------------------------


def test_connect_plain_and_exact_request(origin: LocalServer) -> None:
    with ConnectProxy() as proxy:
        via = parse_via(proxy.url())
        assert get(via, origin) == (PAGE, f"via {via.display}")
    authority = b"127.0.0.1:%d" % origin.port
    assert proxy.heads == [b"CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (authority, authority)]
    assert proxy.targets == [Target("127.0.0.1", origin.port, "authority")]
    assert origin.requests[0].path == "/page.html"


def test_connect_tls_with_basic_auth(test_ca: TestCA) -> None:
    with LocalServer(tls=test_ca) as origin, ConnectProxy(auth=("alice", SECRET)) as proxy:
        data, _ = get(parse_via(proxy.url(f"alice:{quote(SECRET, safe='')}")), origin, "localhost")
        port = origin.port
    assert data == PAGE
    assert proxy.targets == [Target("localhost", port, "authority")]
    assert proxy.authorizations == [basic("alice", SECRET)]


@pytest.mark.parametrize("scheme", ["socks5", "socks5h"])
@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_socks(scheme: str, tls: bool, test_ca: TestCA) -> None:
    with LocalServer(tls=test_ca if tls else None) as origin, Socks5Proxy() as proxy:
        via = parse_via(proxy.url(scheme=scheme))
        data, peer = get(via, origin, "localhost")
        port = origin.port
    assert data == PAGE
    bound = "(proxy-reported bound address 127.0.0.1:"
    if scheme == "socks5":  # resolved here: the proxy sees only addresses
        assert proxy.targets[-1] == Target("127.0.0.1", port, "ipv4")
        assert all(target.kind != "domain" for target in proxy.targets)
        assert peer.startswith(f"127.0.0.1:{port} via {via.display} {bound}")
    else:
        assert proxy.targets == [Target("localhost", port, "domain")]
        assert peer.startswith(f"via {via.display} {bound}")


def test_socks5h_sends_ip_literals_as_addresses(origin: LocalServer) -> None:
    with Socks5Proxy() as proxy:
        assert get(parse_via(proxy.url(scheme="socks5h")), origin)[0] == PAGE
    assert proxy.targets == [Target("127.0.0.1", origin.port, "ipv4")]


def test_socks5_login(origin: LocalServer) -> None:
    with Socks5Proxy(auth=("alice", SECRET)) as proxy:
        via = parse_via(proxy.url(f"alice:{quote(SECRET, safe='')}"))
        assert get(via, origin)[0] == PAGE
    assert proxy.methods == [b"\x00\x02"]
    assert proxy.logins == [("alice", SECRET)]


@pytest.fixture
def names(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """A local resolver for ``*.test`` names (no DNS): fill in name → addresses."""
    table: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if not str(host).endswith(".test"):
            return real(host, port, *args, **kwargs)
        if not table.get(host):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port)) for ip in table[host]]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return table


@pytest.mark.parametrize("first_works", [False, True])
def test_socks5_tries_each_resolved_address(
    first_works: bool, origin: LocalServer, names: dict[str, list[str]]
) -> None:
    # 127.0.0.2 is loopback too, but nothing listens there: the proxy answers 0x05.
    names["dual.test"] = ["127.0.0.1", "127.0.0.2"] if first_works else ["127.0.0.2", "127.0.0.1"]
    with Socks5Proxy() as proxy:
        sock, peer = tunnel(parse_via(proxy.url()), "dual.test", origin.port)
        sock.close()
    tried = names["dual.test"][: 1 if first_works else 2]
    assert proxy.targets == [Target(ip, origin.port, "ipv4") for ip in tried]
    assert peer.startswith(f"127.0.0.1:{origin.port} via ")


def test_unresolvable_names(names: dict[str, list[str]]) -> None:
    with pytest.raises(ViaError, match=r"^cannot resolve proxy socks5://proxy\.test:1080: Name or"):
        tunnel(parse_via("socks5://proxy.test"), "127.0.0.1", 80)
    error = failure(Socks5Proxy(), host="origin.test")
    assert str(error) == "cannot resolve origin.test: Name or service not known"
    assert error.hint is not None and "socks5h://" in error.hint


@pytest.mark.parametrize("make", [ConnectProxy, Socks5Proxy])
def test_tunnel_starts_right_after_the_handshake(make: type[Proxy], origin: LocalServer) -> None:
    async def first_bytes(via: Via) -> bytes:
        sock, _ = await open_tunnel(via, "127.0.0.1", origin.port, timeout=5)
        with sock:
            return await asyncio.get_running_loop().sock_recv(sock, 64)

    with make(early=b"\r\n\r\nEARLY") as proxy:
        assert asyncio.run(first_bytes(parse_via(proxy.url()))) == b"\r\n\r\nEARLY"


# --- refusals and failures ----------------------------------------------------------------


def failure(proxy: Proxy, userinfo: str = "", host: str = "127.0.0.1", port: int = 80) -> ViaError:
    with proxy, pytest.raises(ViaError) as info:
        tunnel(parse_via(proxy.url(userinfo)), host, port)
    error = info.value
    assert isinstance(error, CaptureError) and error.exit_code == ExitCode.CAPTURE_FAILED
    assert "\n" not in str(error) and "secret" not in str(error)
    return error


def test_connect_auth_required_and_rejected() -> None:
    error = failure(ConnectProxy(auth=("alice", "pw")))
    assert "requires authentication for CONNECT 127.0.0.1:80 (407 Proxy Auth" in str(error)
    assert error.hint is not None
    error = failure(ConnectProxy(auth=("alice", "pw")), "alice:secret")
    assert "rejected the credentials of 'alice': 407 Proxy Authentication Required" in str(error)


def test_connect_refusals() -> None:
    error = failure(ConnectProxy(status=403), host="::1", port=443)
    assert str(error).endswith("refused CONNECT [::1]:443: 403 Forbidden")
    proxy = ConnectProxy()
    assert str(failure(proxy, port=free_port())).endswith(": 502 Bad Gateway")
    assert proxy.heads[0].startswith(b"CONNECT 127.0.0.1:")


def test_socks5_auth_required_and_rejected() -> None:
    error = failure(Socks5Proxy(auth=("alice", "pw")))
    assert "requires authentication: it refused no authentication" in str(error)
    assert error.hint is not None
    proxy = Socks5Proxy(auth=("alice", "pw"))
    error = failure(proxy, "alice:secret")
    assert "rejected the credentials of 'alice' (0x01)" in str(error)
    assert proxy.logins == [("alice", "secret")] and proxy.targets == []


@pytest.mark.parametrize(
    ("code", "name"),
    [
        (1, "general failure"),
        (2, "not allowed"),
        (3, "network unreachable"),
        (4, "host unreachable"),
        (5, "connection refused"),
        (6, "TTL expired"),
        (7, "command not supported"),
        (8, "address type not supported"),
        (0x2A, "unassigned reply"),
    ],
)
def test_socks5_reply_codes(code: int, name: str) -> None:
    error = failure(Socks5Proxy(reply=code), host="::1", port=443)
    assert f"could not connect to [::1]:443: {name}" in str(error)
    assert str(error).endswith(f"({code:#04x})")


@pytest.mark.parametrize("scheme", ["http", "socks5", "socks5h"])
def test_proxy_down(scheme: str) -> None:
    url = f"{scheme}://127.0.0.1:{free_port()}"
    with pytest.raises(ViaError, match=f"cannot reach proxy {url}: Connection refused"):
        tunnel(parse_via(url), "127.0.0.1", 80)


@pytest.mark.parametrize("make", [ConnectProxy, Socks5Proxy])
def test_slow_proxy_times_out(make: type[Proxy]) -> None:
    with make(delay=30) as proxy:
        start = time.monotonic()
        with pytest.raises(ViaError, match=r"no handshake within 0\.3 s"):
            tunnel(parse_via(proxy.url()), "127.0.0.1", 80, timeout=0.3)
        assert time.monotonic() - start < 5


@pytest.mark.parametrize("make", [ConnectProxy, Socks5Proxy])
def test_connecting_to_the_proxy_times_out(make: type[Proxy]) -> None:
    with Blackhole() as blackhole, pytest.raises(ViaError, match=r"no handshake within 0\.3 s"):
        tunnel(parse_via(blackhole.url(make.scheme)), "127.0.0.1", 80, timeout=0.3)


@pytest.mark.parametrize(("make", "phase"), [(ConnectProxy, "connect"), (Socks5Proxy, "method")])
def test_reset_during_the_handshake(make: type[Proxy], phase: str) -> None:
    error = failure(make(reset=phase))
    assert str(error).endswith("handshake failed: Connection reset by peer")


@pytest.mark.parametrize("port", [0, 65536])
def test_port_out_of_range(port: int) -> None:
    with pytest.raises(ValueError, match="is not from 1 to 65535"):
        tunnel(parse_via("socks5://127.0.0.1"), "127.0.0.1", port)


@pytest.mark.parametrize("host", ["evil\r\nX-Injected: 1", "a b", "", "x" * 256, "bad..dots"])
def test_invalid_target_hosts_never_reach_the_proxy(host: str) -> None:
    proxy = ConnectProxy()
    assert "not a valid host name" in str(failure(proxy, host=host))
    assert proxy.targets == []


# --- hostile proxies ----------------------------------------------------------------------

HEAD_17K = b"HTTP/1.1 200 OK\r\n" + b"X-Pad: %s\r\n" % (b"a" * 17000)
MALFORMED: list[tuple[type[Proxy], str, bytes, str]] = [
    (ConnectProxy, "connect", b"", "closed the connection during the handshake"),
    (ConnectProxy, "connect", b"SSH-2.0-OpenSSH_9.6\r\n\r\n", "not answer CONNECT with HTTP"),
    (ConnectProxy, "connect", b"HTTP/1.1 2OO OK\r\n\r\n", "not answer CONNECT with HTTP"),
    (ConnectProxy, "connect", b"\xff\xfe\x00\x01\r\n\r\n", "not answer CONNECT with HTTP"),
    (ConnectProxy, "connect", HEAD_17K, "CONNECT response head over 16 KiB"),
    (ConnectProxy, "connect", b"HTTP/1.1 200 OK\r\nVia: x\r\n", "closed the connection"),
    (ConnectProxy, "connect", b"HTTP/1.1 407 \x1b[2Jx\r\n\r\n", "(407 ?[2Jx)"),
    (Socks5Proxy, "method", b"", "closed the connection during the handshake"),
    (Socks5Proxy, "method", b"\x05", "closed the connection"),
    (Socks5Proxy, "method", b"\x04\x00", "does not speak SOCKS5 (reply version 4)"),
    (Socks5Proxy, "method", b"HTTP/1.1 400", "does not speak SOCKS5 (reply version 72)"),
    (Socks5Proxy, "method", b"\x05\x02", "chose SOCKS5 method 0x02, which was not offered"),
    (Socks5Proxy, "method", b"\x05\x80", "chose SOCKS5 method 0x80"),
    (Socks5Proxy, "connect", b"\x05\x00\x00", "closed the connection"),
    (Socks5Proxy, "connect", b"\x05\x00\x00\x09", "address type 0x09"),
    (Socks5Proxy, "connect", b"\x06\x00\x00\x01" + bytes(6), "SOCKS5 reply with version 6"),
    (Socks5Proxy, "connect", b"\x05\x00\x00\x03\x05ab", "closed the connection"),
    (Socks5Proxy, "connect", b"\x05\x00\x00\x01\x7f\x00", "closed the connection"),
]


@pytest.mark.parametrize(("make", "phase", "reply", "message"), MALFORMED)
def test_malformed_replies(make: type[Proxy], phase: str, reply: bytes, message: str) -> None:
    assert message in str(failure(make(replies={phase: reply})))


def test_malformed_login_reply() -> None:
    error = failure(Socks5Proxy(auth=("alice", "pw"), replies={"auth": b"\x01"}), "alice:pw")
    assert "closed the connection" in str(error)


def test_socks5_bound_domain_is_made_printable(origin: LocalServer) -> None:
    reply = b"\x05\x00\x00\x03\x08evil\x1b[2J\x00\x50"
    with Socks5Proxy(replies={"connect": reply}) as proxy:
        sock, peer = tunnel(parse_via(proxy.url(scheme="socks5h")), "localhost", 80)
    sock.close()
    assert peer.endswith("(proxy-reported bound address evil?[2J:80)")


@pytest.mark.parametrize(
    ("make", "phase"),
    [(ConnectProxy, "connect"), (Socks5Proxy, "method"), (Socks5Proxy, "connect")],
)
def test_any_reply_is_a_tunnel_or_a_via_error(make: type[Proxy], phase: str) -> None:
    with make() as proxy:

        @settings(max_examples=80, deadline=None)
        @given(reply=st.binary(max_size=64))
        def check(reply: bytes) -> None:
            proxy.replies[phase] = reply
            try:
                sock, _ = tunnel(parse_via(proxy.url()), "localhost", 80)
            except ViaError as exc:
                assert "\n" not in str(exc)
            else:
                sock.close()

        check()
