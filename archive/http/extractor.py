"""Running ``archive.http.links.extract`` where a hostile page cannot hang the capture.

HTML parsing is superlinear in nesting depth (a page of nothing but ``<div>`` takes minutes),
and CSS tokenising is pure Python: so pages are parsed in worker processes, each page within
a time limit (``PROV_PARSE_TIMEOUT`` seconds, default 20) counted from when its worker got
it. A page over the limit has its worker killed and is reported; the capture goes on without
that page's requisites and links, and the other workers are not disturbed.

The workers are plain child processes driven by the event loop through their stdin and stdout
(no threads, so the capture's event loop never waits for the GIL behind a pool's helper
threads). Frames are length-prefixed; results come back as JSON, never pickle, because a
worker has parsed hostile input and its answer is data, not code.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from typing import Any

from archive.http import links

PARSE_TIMEOUT = 20.0
MAX_RESULT = 64 << 20  # bytes of one worker answer (the URLs of one page)
WORKER_MAIN = "from archive.http.extractor import serve; serve()"


def parse_timeout() -> float:
    """The per-page limit: ``PROV_PARSE_TIMEOUT`` if it is a positive number, else 20 s."""
    try:
        value = float(os.environ.get("PROV_PARSE_TIMEOUT", PARSE_TIMEOUT))
    except ValueError:
        return PARSE_TIMEOUT
    return value if value > 0 else PARSE_TIMEOUT


def _job(body: bytes, content_type: str, url: str, content_encoding: str | None) -> bytes:
    head = json.dumps({"type": content_type, "url": url, "encoding": content_encoding}).encode()
    return len(head).to_bytes(4, "big") + len(body).to_bytes(4, "big") + head + body


def _answer(head: dict[str, Any], body: bytes) -> dict[str, Any]:
    try:
        found = links.extract(body, head["type"], head["url"],
                              content_encoding=head["encoding"])
    except Exception as exc:  # a parser bug must cost one page, never the worker
        return {"error": type(exc).__name__}
    return {"requisites": found.requisites, "links": found.links, "truncated": found.truncated}


def serve() -> None:
    """A worker: answer framed jobs from stdin on stdout until stdin closes."""
    jobs, answers = sys.stdin.buffer, sys.stdout.buffer
    while True:
        sizes = jobs.read(8)
        if len(sizes) < 8:
            return
        head = json.loads(jobs.read(int.from_bytes(sizes[:4], "big")))
        body = jobs.read(int.from_bytes(sizes[4:], "big"))
        out = json.dumps(_answer(head, body)).encode()
        answers.write(len(out).to_bytes(4, "big") + out)
        answers.flush()


class _WorkerError(Exception):
    """The worker died or answered nonsense."""


class _Worker:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    async def run(self, job: bytes) -> links.Links:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write(job)
            await self.proc.stdin.drain()
            size = int.from_bytes(await self.proc.stdout.readexactly(4), "big")
            if size > MAX_RESULT:
                raise _WorkerError(f"answer of {size} bytes")
            answer = json.loads(await self.proc.stdout.readexactly(size))
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            raise _WorkerError(type(exc).__name__) from None
        if "error" in answer:
            raise _WorkerError(str(answer["error"]))
        return links.Links(tuple(answer["requisites"]), tuple(answer["links"]),
                           bool(answer["truncated"]))

    async def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await self.proc.wait()


class Extractor:
    def __init__(self, *, workers: int = 2, timeout: float | None = None) -> None:
        self._workers = workers
        self._timeout = parse_timeout() if timeout is None else timeout
        self._idle: list[_Worker] = []
        self._slots: asyncio.Semaphore | None = None
        self._spawning: set[asyncio.Task[None]] = set()
        self._dying: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        """Start the workers now (an interpreter takes ~0.1 s to import the parsers), so the
        first page's links are not waited for behind it. Needs a running event loop."""
        for _ in range(self._workers - len(self._idle)):
            task = asyncio.get_running_loop().create_task(self._prestart())
            self._spawning.add(task)
            task.add_done_callback(self._spawning.discard)

    async def _prestart(self) -> None:
        with contextlib.suppress(OSError):
            self._release(await self._spawn(), reuse=True, count=False)

    async def _spawn(self) -> _Worker:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", WORKER_MAIN, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL)
        return _Worker(proc)

    def _release(self, worker: _Worker, *, reuse: bool, count: bool = True) -> None:
        if reuse and len(self._idle) < self._workers:
            self._idle.append(worker)
        else:
            task = asyncio.get_running_loop().create_task(worker.kill())
            self._dying.add(task)
            task.add_done_callback(self._dying.discard)
        if count and self._slots is not None:
            self._slots.release()

    async def extract(self, body: bytes, content_type: str, url: str,
                      content_encoding: str | None) -> links.Links | str:
        """The page's links, or a one-line reason why they could not be had."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._workers)
        await self._slots.acquire()
        try:
            worker = self._idle.pop() if self._idle else await self._spawn()
        except OSError as exc:
            self._slots.release()
            return f"page not parsed (cannot start a parser: {exc}): requisites and links " \
                   "not followed"
        reuse = False
        try:
            async with asyncio.timeout(self._timeout):
                found = await worker.run(_job(body, content_type, url, content_encoding))
            reuse = True
            return found
        except TimeoutError:
            return f"page not parsed within {self._timeout:g} s: its requisites and links " \
                   "were not followed"
        except _WorkerError as exc:
            return f"page not parsed ({exc}): requisites and links not followed"
        finally:
            self._release(worker, reuse=reuse)

    async def aclose(self) -> None:
        """Stop every worker: call it once the callers of ``extract`` are done (their
        workers are then idle, or already being killed)."""
        for task in list(self._spawning):
            task.cancel()
        await asyncio.gather(*self._spawning, return_exceptions=True)
        idle, self._idle = self._idle, []
        await asyncio.gather(*(worker.kill() for worker in idle), *self._dying)
