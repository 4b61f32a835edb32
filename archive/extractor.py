"""Running ``archive.links.extract`` where a hostile page cannot hang the capture.

HTML parsing is superlinear in nesting depth (a page of nothing but ``<div>`` takes minutes),
and CSS tokenising is pure Python: so pages are parsed in worker processes, each call within
a time limit (``PROV_PARSE_TIMEOUT`` seconds, default 20). A call over the limit kills the
workers (``Pool.terminate``) and is reported; the capture goes on without that page's
requisites and links. Other pages that were in the killed workers are parsed again.

No thread waits on a result: the pool's callbacks resolve asyncio futures, so a capture that
stops (``--total-timeout``) leaves nothing behind that the event loop must wait for.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
from multiprocessing.pool import Pool

from archive import links

PARSE_TIMEOUT = 20.0


def parse_timeout() -> float:
    """The per-page limit: ``PROV_PARSE_TIMEOUT`` if it is a positive number, else 20 s."""
    try:
        value = float(os.environ.get("PROV_PARSE_TIMEOUT", PARSE_TIMEOUT))
    except ValueError:
        return PARSE_TIMEOUT
    return value if value > 0 else PARSE_TIMEOUT


class _Restarted(Exception):
    """The workers were killed because of another page; this one is worth another try."""


def _settle(future: asyncio.Future[links.Links], value: object) -> None:
    if future.done():
        return
    if isinstance(value, BaseException):
        future.set_exception(value)
    else:
        assert isinstance(value, links.Links)
        future.set_result(value)


class Extractor:
    def __init__(self, *, workers: int = 2, timeout: float | None = None) -> None:
        self._workers = workers
        self._timeout = parse_timeout() if timeout is None else timeout
        self._pool: Pool | None = None
        self._pending: set[asyncio.Future[links.Links]] = set()

    async def extract(self, body: bytes, content_type: str, url: str,
                      content_encoding: str | None) -> links.Links | str:
        """The page's links, or a one-line reason why they could not be had."""
        for _ in range(2):
            try:
                return await self._extract_once(body, content_type, url, content_encoding)
            except _Restarted:
                continue
            except TimeoutError:
                self.close()
                return f"page not parsed within {self._timeout:g} s: its requisites and " \
                       "links were not followed"
            except Exception as exc:
                self.close()
                return f"page not parsed ({type(exc).__name__}): requisites and links " \
                       "not followed"
        return "page not parsed: the parser was restarted twice while it waited"

    def start(self) -> None:
        """Start the workers now (a spawned interpreter takes ~0.1 s to import the parsers),
        so the first page's links are not waited for behind it."""
        if self._pool is None:
            self._pool = multiprocessing.get_context("spawn").Pool(self._workers)

    async def _extract_once(self, body: bytes, content_type: str, url: str,
                            content_encoding: str | None) -> links.Links:
        self.start()
        assert self._pool is not None
        loop = asyncio.get_running_loop()
        done: asyncio.Future[links.Links] = loop.create_future()

        def deliver(value: object) -> None:  # runs on the pool's result thread
            with contextlib.suppress(RuntimeError):  # the loop has already closed
                loop.call_soon_threadsafe(_settle, done, value)

        self._pending.add(done)
        try:
            self._pool.apply_async(links.extract, (body, content_type, url),
                                   {"content_encoding": content_encoding},
                                   callback=deliver, error_callback=deliver)
            return await asyncio.wait_for(done, self._timeout)
        finally:
            self._pending.discard(done)

    def close(self) -> None:
        """Kill the workers; pages still waiting for them are parsed again by new ones."""
        for future in self._pending:
            _settle(future, _Restarted())
        self._pending.clear()
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None
