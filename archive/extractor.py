"""Running ``archive.links.extract`` where a hostile page cannot hang the capture.

HTML parsing is superlinear in nesting depth (a page of nothing but ``<div>`` takes minutes),
and CSS tokenising is pure Python: so pages are parsed in worker processes, each call within
a time limit. A call over the limit kills the workers (``Pool.terminate``) and is reported;
the capture goes on without that page's requisites and links.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from multiprocessing.pool import Pool

from archive import links

PARSE_TIMEOUT = 20.0


class Extractor:
    def __init__(self, *, workers: int = 2, timeout: float = PARSE_TIMEOUT) -> None:
        self._workers = workers
        self._timeout = timeout
        self._pool: Pool | None = None

    async def extract(self, body: bytes, content_type: str, url: str,
                      content_encoding: str | None) -> links.Links | str:
        """The page's links, or a one-line reason why they could not be had."""
        if self._pool is None:
            self._pool = multiprocessing.get_context("spawn").Pool(self._workers)
        pending = self._pool.apply_async(links.extract, (body, content_type, url),
                                         {"content_encoding": content_encoding})
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(None, pending.get, self._timeout)
        except multiprocessing.TimeoutError:
            self.close()
            return f"page not parsed within {self._timeout:g} s: its requisites and links " \
                   "were not followed"
        except Exception as exc:
            self.close()
            return f"page not parsed ({type(exc).__name__}): requisites and links not followed"

    def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None
