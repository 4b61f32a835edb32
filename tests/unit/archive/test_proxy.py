"""archive.http.proxy: the recording proxy relays exactly what it records, and a request it
cannot forward gets a 502 and is still handed on as a failed attempt."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from helpers import free_port
from servers import LocalServer, response

from archive.http import recorder
from archive.http.addresses import AddressPolicy
from archive.http.mitmca import RunAuthority
from archive.http.proxy import RecordingProxy
from archive.http.tls import client_context

BODY = b"<p>relayed as recorded</p>"


async def through_proxy(url: str, *, allow_private: bool) -> tuple[bytes, list[recorder.Exchange]]:
    context, store = client_context()
    authority = RunAuthority(datetime.now(UTC))
    proxy = RecordingProxy(
        limits=recorder.FetchLimits(timeout=10),
        context=context,
        trust_store=store,
        now=lambda: datetime.now(UTC),
        authority=authority,
        policy=AddressPolicy(allow_private=allow_private),
    )
    seen: list[recorder.Exchange] = []
    try:
        session = await proxy.open_session(seen.append)
        reader, writer = await asyncio.open_connection("127.0.0.1", session.port)
        writer.write(f"GET {url} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 20)
        writer.close()
        return answer, seen
    finally:
        await proxy.close()
        authority.close()


def test_the_browser_gets_the_recorded_bytes(http_server: LocalServer) -> None:
    http_server.add_route("/page", response(b"200 OK", [(b"Content-Type", b"text/html")], BODY))
    answer, seen = asyncio.run(through_proxy(http_server.url("/page"), allow_private=True))
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and answer.endswith(BODY)
    [ex] = seen
    assert (ex.url, ex.status) == (http_server.url("/page"), 200)
    assert ex.response is not None
    assert b"".join(ex.response.iter_chunks()) == answer


def test_a_private_address_is_refused_with_a_502_and_recorded_as_failed(
    http_server: LocalServer,
) -> None:
    answer, seen = asyncio.run(through_proxy(http_server.url("/page"), allow_private=False))
    assert answer.startswith(b"HTTP/1.1 502 Bad Gateway\r\n")
    assert b"loopback" in answer
    assert len(seen) == 1 and seen[0].status is None and seen[0].refused


def test_an_unreachable_origin_is_a_502(http_server: LocalServer) -> None:
    url = f"http://127.0.0.1:{free_port()}/"
    answer, seen = asyncio.run(through_proxy(url, allow_private=True))
    assert answer.startswith(b"HTTP/1.1 502 Bad Gateway\r\n")
    assert seen and seen[0].error
