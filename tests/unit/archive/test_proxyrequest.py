"""archive.http.proxyrequest: reading a browser's request at the recording proxy."""

from __future__ import annotations

import asyncio

import pytest

from archive.http.proxyrequest import (
    MAX_REQUEST_BODY,
    ProxiedRequest,
    ProxyRequestError,
    error_response,
    read_request,
    target_url,
    tunnel_origin,
    url_key,
)


def read(data: bytes, buffer: bytes = b"") -> tuple[ProxiedRequest | None, bytes]:
    async def go() -> tuple[ProxiedRequest | None, bytes]:
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        return await read_request(reader, buffer)

    return asyncio.run(go())


def test_a_request_and_what_follows_it() -> None:
    raw = (
        b"POST http://a.test/form HTTP/1.1\r\nHost: a.test\r\nX-Case: Kept\r\n"
        b"Content-Length: 3\r\n\r\nabcGET http://a.test/next HTTP/1.1\r\n"
    )
    request, rest = read(raw[40:], raw[:40])  # the buffer first, then what the reader gives
    assert request is not None
    assert (request.method, request.target, request.body) == ("POST", "http://a.test/form", b"abc")
    assert request.header("x-case") == "Kept"
    assert ("X-Case", "Kept") in request.headers
    assert request.keep_alive
    assert rest == b"GET http://a.test/next HTTP/1.1\r\n"


def test_connection_close_and_http_1_0_are_not_kept_alive() -> None:
    one, _ = read(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n\r\n")
    old, _ = read(b"GET / HTTP/1.0\r\n\r\n")
    assert one is not None and old is not None
    assert not one.keep_alive and not old.keep_alive


def test_a_client_that_closes_mid_request_or_says_nothing() -> None:
    with pytest.raises(ProxyRequestError, match="closed"):
        read(b"GET http://a.test/ HTTP/1.1\r\nHost: ")
    assert read(b"") == (None, b"")


def test_a_malformed_request_is_refused() -> None:
    with pytest.raises(ProxyRequestError, match="malformed request"):
        read(b"GET / HTTP/1.1\r\nno colon here\r\n\r\n")


def test_a_body_over_the_limit_is_413() -> None:
    head = f"POST http://a/ HTTP/1.1\r\nHost: a\r\nContent-Length: {MAX_REQUEST_BODY + 1}\r\n\r\n"
    with pytest.raises(ProxyRequestError) as caught:
        read(head.encode() + b"x" * (MAX_REQUEST_BODY + 1))
    assert caught.value.status == 413
    with pytest.raises(ProxyRequestError) as caught:
        read(b"GET / HTTP/1.1\r\n\r\n")  # HTTP/1.1 with no Host
    assert caught.value.status == 400


def test_tunnel_origin_and_target_url() -> None:
    assert tunnel_origin("a.test:8443") == ("a.test", 8443)
    for bad in ("a.test", ":443", "a.test:99999", "a.test:x"):
        with pytest.raises(ProxyRequestError, match="CONNECT needs host:port"):
            tunnel_origin(bad)
    req = ProxiedRequest("GET", "/p?q=1", (), b"", True)
    assert target_url(req, ("a.test", 443)) == "https://a.test/p?q=1"
    assert target_url(req, ("::1", 8443)) == "https://[::1]:8443/p?q=1"
    with pytest.raises(ProxyRequestError, match="not a proxy request"):
        target_url(req, None)
    absolute = ProxiedRequest("GET", "https://a.test/", (), b"", True)
    with pytest.raises(ProxyRequestError, match="not a proxy request"):
        target_url(absolute, None)
    with pytest.raises(ProxyRequestError, match="not an origin-form target"):
        target_url(absolute, ("a.test", 443))


def test_url_key_spells_a_url_one_way() -> None:
    assert url_key("HTTP://A.Test:80/#frag") == "http://a.test/"
    assert url_key("https://a.test:443/x?y") == "https://a.test/x?y"
    assert url_key("https://a.test:8443/x") == "https://a.test:8443/x"
    assert url_key("http://[::1]:80/") == "http://[::1]/"


def test_error_response_is_framed() -> None:
    raw = error_response(502, "upstream refused")
    head, body = raw.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 502 Bad Gateway\r\n")
    assert f"Content-Length: {len(body)}".encode() in head
    assert body == b"prov recording proxy: upstream refused\n"
