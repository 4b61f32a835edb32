"""The recording proxy between Chromium and the network (RFC 9110 9.3.6 CONNECT, RFC 9112).

Chromium sends every request here: absolute-form requests for ``http://`` and ``CONNECT``
for ``https://``. A tunnel's TLS is terminated with a certificate from the run's own
authority (``archive.http.mitmca``), the request inside is read with h11 (server side), and the
request is sent to the origin by ``recorder.fetch`` — the same code, the same TLS
verification and the same byte-exact recording as a plain capture. The browser then gets the
recorded response bytes, unchanged; a request that got no response is answered ``502`` and
is still handed on, as a failed attempt.

The proxy stores and forwards (a response reaches the browser once it is complete or cut by
a limit); nothing it relays differs from what it records. Each browser context talks to its
own ``Session`` (its own port), so every exchange is known to belong to one page's context;
the session's ``on_exchange`` is that page's collector. A session opened with
``forward=False`` contacts nothing and only counts what arrives (Chromium's own traffic).

Every fetch obeys the run's private-address rule (``archive.http.addresses``): a page that asks
for an address of this machine's own networks gets a ``502`` naming the refusal, and the
refusal is handed on like any failed attempt.

Everything is bounded: header block and request body size, idle time, connections, requests
per session, and the time of each fetch (never past the session's deadline); reading the
browser's requests is ``archive.http.proxyrequest``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

import h11

from archive.http import recorder
from archive.http.addresses import AddressPolicy
from archive.http.mitmca import RunAuthority
from archive.http.proxyrequest import (
    ProxiedRequest,
    ProxyRequestError,
    error_response,
    read_request,
    reusable,
    target_url,
    tunnel_origin,
)

HANDSHAKE_TIMEOUT = 10.0
MAX_CONNECTIONS = 256
MAX_REQUESTS = 10_000
NOT_FORWARDED = frozenset({"proxy-connection", "proxy-authorization"})


class Session:
    """One listening port and what arrives on it: one browser context's traffic."""

    def __init__(self, proxy: RecordingProxy, on_exchange: Callable[[recorder.Exchange], None]
                 | None, deadline: float | None, forward: bool) -> None:
        self.proxy = proxy
        self.on_exchange = on_exchange
        self.deadline = deadline
        self.forward = forward
        self.pool = recorder.Pool()
        self.refused: list[tuple[str, str]] = []  # (url or target, why)
        self.abandoned: list[str] = []  # fetches still running when the session closed
        self.requests = 0
        # each client connection's handler: its stream, and the URL it is fetching if any
        self._clients: dict[asyncio.Task[None], tuple[asyncio.StreamWriter, str | None]] = {}
        self._server: asyncio.Server | None = None

    async def start(self) -> Session:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is None or len(self._clients) >= MAX_CONNECTIONS:
            writer.close()
            return
        self._clients[task] = (writer, None)
        try:
            await self._serve(reader, writer, task)
        except (OSError, ssl.SSLError, TimeoutError, h11.ProtocolError):
            pass  # the browser went away or spoke nonsense; nothing was forwarded
        except asyncio.CancelledError:
            # only close() cancels, and gathers us; re-raising would make asyncio's
            # start_server log the cancellation as an error (Python 3.11)
            pass
        finally:
            self._clients.pop(task, None)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     task: asyncio.Task[None]) -> None:
        tunnel: tuple[str, int] | None = None
        buffer = b""
        while True:
            request: ProxiedRequest | None = None
            try:
                request, buffer = await read_request(reader, buffer)
                if request is None:
                    return
                if request.method == "CONNECT":
                    if tunnel is not None or buffer:
                        raise ProxyRequestError("CONNECT inside a tunnel, or data before TLS")
                    tunnel = await self._open_tunnel(request, writer)
                    continue
                url = target_url(request, tunnel)
            except ProxyRequestError as exc:
                self.refused.append((request.target if request else "", str(exc)))
                writer.write(error_response(exc.status, str(exc)))
                await writer.drain()
                return
            self._clients[task] = (writer, url)
            keep = await self._forward(request, url, writer)
            self._clients[task] = (writer, None)
            if not keep:
                return

    async def _open_tunnel(self, request: ProxiedRequest, writer: asyncio.StreamWriter) -> tuple[
        str, int
    ]:
        host, port = tunnel_origin(request.target)
        try:
            context = self.proxy.authority.server_context(host)
        except ValueError as exc:
            raise ProxyRequestError(str(exc)) from None
        writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        await writer.drain()
        await writer.start_tls(context, ssl_handshake_timeout=HANDSHAKE_TIMEOUT)
        return host, port

    def _refusal(self, request: ProxiedRequest) -> str | None:
        if not self.forward:
            return "not made by a page being captured (not forwarded)"
        if request.header("upgrade"):
            return "protocol upgrades (WebSocket) are not recorded"
        if self.requests >= MAX_REQUESTS:
            return f"more than {MAX_REQUESTS} requests for one page"
        return None

    async def _forward(self, request: ProxiedRequest, url: str,
                       writer: asyncio.StreamWriter) -> bool:
        why = self._refusal(request)
        if why is not None:
            self.refused.append((url, why))
            writer.write(error_response(502, why))
            await writer.drain()
            return request.keep_alive
        self.requests += 1
        headers = tuple((k, v) for k, v in request.headers if k.lower() not in NOT_FORWARDED)
        ex = await recorder.fetch(
            recorder.RequestSpec(url, request.method, headers, request.body),
            limits=self._limits(), context=self.proxy.context,
            trust_store=self.proxy.trust_store, now=self.proxy.now, pool=self.pool,
            via=self.proxy.via, policy=self.proxy.policy)
        if self.on_exchange is not None:
            self.on_exchange(ex)  # first: evidence even if the browser has gone meanwhile
        if ex.status is None:
            writer.write(error_response(502, ex.error or "no response"))
        elif ex.response is not None:
            for chunk in ex.response.iter_chunks():
                writer.write(chunk)
                await writer.drain()
        await writer.drain()
        return (ex.status is None and request.keep_alive) or reusable(request, ex)

    def _limits(self) -> recorder.FetchLimits:
        limits = self.proxy.limits
        if self.deadline is None:
            return limits
        left = max(1.0, self.deadline - time.monotonic())
        return replace(limits, timeout=min(limits.timeout, left),
                       connect_timeout=min(limits.connect_timeout, left))

    async def close(self, grace: float = 5.0) -> None:
        """Stop listening; let fetches in flight finish (at most ``grace`` seconds), so their
        exchanges reach ``on_exchange``; then drop every connection."""
        if self._server is not None:
            self._server.close()
        for writer, url in list(self._clients.values()):
            if url is None:  # idle between requests: ending the stream ends the handler
                writer.close()
        busy = [task for task, (_, url) in self._clients.items() if url is not None]
        if busy:
            await asyncio.wait(busy, timeout=grace)
        self.abandoned += [url for _, url in self._clients.values() if url is not None]
        rest = list(self._clients)
        for task in rest:
            task.cancel()
        await asyncio.gather(*rest, return_exceptions=True)
        await self.pool.close()


class RecordingProxy:
    """What every session shares: fetch limits, the origin TLS context, the run authority."""

    def __init__(self, *, limits: recorder.FetchLimits, context: ssl.SSLContext,
                 trust_store: str, now: Callable[[], datetime], authority: RunAuthority,
                 via: Any | None = None, policy: AddressPolicy | None = None) -> None:
        self.via = via  # an upstream proxy (archive.http.via), as in plain captures
        self.policy = policy or AddressPolicy()
        self.limits = limits
        self.context = context
        self.trust_store = trust_store
        self.now = now
        self.authority = authority
        self.sessions: list[Session] = []

    async def open_session(self, on_exchange: Callable[[recorder.Exchange], None] | None = None,
                           *, deadline: float | None = None, forward: bool = True) -> Session:
        session = await Session(self, on_exchange, deadline, forward).start()
        self.sessions.append(session)
        return session

    async def close(self, grace: float = 5.0) -> None:
        for session in self.sessions:
            with contextlib.suppress(Exception):
                await session.close(grace)
        self.sessions.clear()
