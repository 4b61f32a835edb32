"""The local test servers and test CA behave as the capture tests assume."""

from __future__ import annotations

import gzip
import http.client
import socket
import ssl
import threading
import time
import zlib
from pathlib import Path

import pytest
from servers import (
    CHUNKED_BODY,
    GZIP_PLAINTEXT,
    PAGE_BODY,
    RESPONSES,
    LocalServer,
    big_body,
    gzip_bomb_response,
    redirect_chain_response,
)
from testca import TestCA


def raw_get(
    server: LocalServer, path: str, ctx: ssl.SSLContext | None = None, limit: int = 1 << 24
) -> bytes:
    """Send one `Connection: close` GET and return every byte received until EOF."""
    sock: socket.socket = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    if ctx is not None:
        sock = ctx.wrap_socket(sock, server_hostname="127.0.0.1")
    with sock:
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        data = b""
        while len(data) < limit:
            piece = sock.recv(65536)
            if not piece:
                break
            data += piece
    return data


def test_page_bytes_are_exact_and_request_is_recorded(http_server: LocalServer) -> None:
    assert raw_get(http_server, "/page.html") == RESPONSES["/page.html"]
    [request] = http_server.requests
    assert (request.method, request.path) == ("GET", "/page.html")
    assert request.raw.startswith(b"GET /page.html HTTP/1.1\r\nHost: 127.0.0.1:")
    assert request.raw.endswith(b"Connection: close\r\n\r\n")


def test_keep_alive_header_case_and_order(http_server: LocalServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", http_server.port, timeout=10)
    try:
        for path in ("/", "/chunked", "/gzip", "/page.html"):
            conn.request("GET", path)
            resp = conn.getresponse()
            body = resp.read()
            if path in ("/", "/page.html"):
                assert body == PAGE_BODY
                assert [k for k, _ in resp.getheaders()][:3] == [
                    "Content-Type",
                    "X-Custom-Header",
                    "content-length",
                ]
            elif path == "/chunked":
                assert body == CHUNKED_BODY
            else:
                assert gzip.decompress(body) == GZIP_PLAINTEXT
    finally:
        conn.close()
    assert {r.connection for r in http_server.requests} == {1}
    assert len(http_server.requests) == 4


def test_chunked_and_gzip_chunked_wire_bytes(http_server: LocalServer) -> None:
    chunked = raw_get(http_server, "/chunked")
    assert chunked == RESPONSES["/chunked"]
    assert b";note=extension\r\n" in chunked and chunked.endswith(b"\r\n0\r\n\r\n")
    assert raw_get(http_server, "/gzip-chunked") == RESPONSES["/gzip-chunked"]


def test_redirects_errors_and_added_routes(http_server: LocalServer) -> None:
    assert raw_get(http_server, "/redirect/3") == redirect_chain_response(3)
    assert b"\r\nLocation: /redirect/2\r\n" in redirect_chain_response(3)
    assert b"\r\nLocation: /page.html\r\n" in redirect_chain_response(1)
    assert raw_get(http_server, "/redirect-loop-a") == RESPONSES["/redirect-loop-a"]
    assert raw_get(http_server, "/500").startswith(b"HTTP/1.1 500 ")
    assert raw_get(http_server, "/no-such-path").startswith(b"HTTP/1.1 404 ")
    custom = b"HTTP/1.1 204 No Content\r\nX-Test: yes\r\n\r\n"
    http_server.add_route("/custom", custom)
    assert raw_get(http_server, "/custom") == custom


def test_misbehaving_routes(http_server: LocalServer) -> None:
    assert raw_get(http_server, "/close-mid") == RESPONSES["/close-mid"]
    assert raw_get(http_server, "/malformed-header") == RESPONSES["/malformed-header"]
    huge = raw_get(http_server, "/headers-huge")
    assert huge == RESPONSES["/headers-huge"] and len(huge) > 1_000_000
    big = raw_get(http_server, "/big?size=300000")
    assert big.split(b"\r\n\r\n", 1)[1] == big_body(300_000)
    endless = raw_get(http_server, "/endless", limit=200_000)
    assert len(endless) >= 200_000 and b"Transfer-Encoding: chunked" in endless


def test_slow_drips(http_server: LocalServer) -> None:
    started = time.monotonic()
    data = raw_get(http_server, "/slow?delay=0.05&pieces=4")
    assert time.monotonic() - started >= 0.2
    assert data.endswith(b"slow piece 003\n")


def test_gzip_bomb_is_small_and_inflates_to_a_gibibyte() -> None:
    data = gzip_bomb_response()
    body = data.split(b"\r\n\r\n", 1)[1]
    assert len(body) < 2_000_000
    inflater = zlib.decompressobj(31)
    assert inflater.decompress(body, 1 << 20) == bytes(1 << 20)  # bounded: first MiB only


def test_tls_chain_verifies_with_the_test_root_only(
    https_server: LocalServer, test_ca: TestCA
) -> None:
    # The client trusts only the root, so this also proves the intermediate was sent.
    assert raw_get(https_server, "/page.html", test_ca.client_context()) == RESPONSES["/page.html"]
    assert https_server.url("/x").startswith("https://127.0.0.1:")
    with pytest.raises(ssl.SSLCertVerificationError):
        raw_get(https_server, "/page.html", ssl.create_default_context())


@pytest.mark.parametrize(
    ("flaw", "reason"),
    [
        ("expired", "certificate has expired"),
        ("not_yet_valid", "certificate is not yet valid"),
        ("wrong_host", "IP address mismatch"),
        ("self_signed", "self-signed certificate"),
    ],
)
def test_broken_leaves_are_refused(test_ca: TestCA, flaw: str, reason: str) -> None:
    leaf = test_ca.issue(
        expired=flaw == "expired",
        not_yet_valid=flaw == "not_yet_valid",
        wrong_host=flaw == "wrong_host",
        self_signed=flaw == "self_signed",
    )
    with LocalServer(tls=test_ca, leaf=leaf) as server:
        with pytest.raises(ssl.SSLCertVerificationError, match=reason):
            raw_get(server, "/", test_ca.client_context())
        assert server.requests == []


def test_ca_writes_pem_files(test_ca: TestCA, tmp_path: Path) -> None:
    root_path = test_ca.write_root(tmp_path)
    assert root_path == tmp_path / "root.pem" and root_path.read_bytes() == test_ca.root_pem
    chain = test_ca.write_chain(tmp_path).read_bytes()
    assert chain.count(b"BEGIN CERTIFICATE") == 2 and chain == test_ca.chain_pem
    key_path = test_ca.write_key(tmp_path)
    assert key_path.stat().st_mode & 0o777 == 0o600
    assert test_ca.root_sha256.startswith("sha256:")


def test_stop_leaves_no_threads(test_ca: TestCA) -> None:
    before = set(threading.enumerate())
    with LocalServer(tls=test_ca, slow_delay=5) as server:
        # An idle connection stuck in the TLS handshake, and a busy one in /slow.
        idle = socket.create_connection(("127.0.0.1", server.port))
        busy = threading.Thread(target=raw_get, args=(server, "/slow", test_ca.client_context()))
        busy.start()
        while not server.requests:
            time.sleep(0.01)
        started = time.monotonic()
    assert time.monotonic() - started < 2
    idle.close()
    busy.join(5)
    assert set(threading.enumerate()) <= before
