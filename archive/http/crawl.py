"""Capturing a list of URLs into WARC records: redirects followed, every hop recorded.

Each exchange becomes a ``request``, a ``response`` and a ``metadata`` record written
together (WARC 1.1 sections 6.4-6.7); a fetch that got no response becomes a ``metadata``
record that says why (after the ``request`` record, if one was sent), so a failed attempt is
evidence too.

The total time limit (``total_timeout``) is a deadline every fetch knows: a fetch in flight
when it comes ends by its own timer and writes what it received (``WARC-Truncated: time``),
as with the per-request limit; nothing new starts after it, and the URLs still queued are
reported as not fetched.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag, urljoin, urlsplit

from archive.http import recorder, tls
from archive.http.addresses import AddressPolicy, seed_policy
from archive.http.extractor import Extractor
from archive.http.links import MAX_DECODED
from archive.http.revisit import DedupHook, revisit_record
from archive.http.scope import Scope
from archive.http.via import parse_via
from archive.warc.writer import Block, Record, RecordLocation, WarcWriter

REDIRECT_STATUSES = {301, 302, 303, 307, 308}
RETRY_STATUSES = {429, 500, 502, 503, 504}
SAMPLE_LIMIT = 8 << 20  # bytes of a body kept for finding requisites and links
PARSED_TYPES = recorder.SAMPLED_TYPES
#: Seconds the fetches in flight get, after the total time limit, to write what they
#: received (their own timers end them at the limit; this bounds the writing and closing).
DEADLINE_GRACE = 5.0
TOTAL_LIMIT = "--total-timeout"  # the metadata record's ``limit`` when it cut a fetch


def new_record_id() -> str:
    return f"<urn:uuid:{uuid.uuid4()}>"


@dataclass(frozen=True)
class CaptureOptions:
    """How to capture: limits, politeness, what to follow, TLS trust, the route out."""

    limits: recorder.FetchLimits = field(default_factory=recorder.FetchLimits)
    max_redirects: int = 10
    concurrency: int = 8
    per_host: int = 4
    delay: float = 0.0  # seconds between two requests to the same host
    ca_file: Path | None = None
    insecure_skip_tls_verify: bool = False
    requisites: bool = False
    depth: int = 0
    scope: str = "host"  # host | domain | prefix
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    retries: int = 2
    max_retry_wait: float = 30.0
    total_timeout: float | None = None
    via: str | None = None
    max_urls: int = 100_000
    allow_private_addresses: bool = False  # archive.http.addresses: the private-address rule


@dataclass
class Hop:
    """One exchange of a URL's redirect chain, as the summary reports it."""

    url: str
    status: int | None
    bytes: int
    records: int
    truncated: str | None = None
    error: str | None = None


@dataclass
class UrlOutcome:
    """What happened to one URL: a seed, a page requisite, or a followed link."""

    seed: str
    hops: list[Hop] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    kind: str = "seed"
    parent: str | None = None
    attempts: int = 1
    note: str | None = None
    total_time_limit: bool = False  # the total time limit cut it short or left it unfetched
    refused: bool = False  # its address is private (archive.http.addresses): nothing was sent
    shown: str | None = None  # a browser page: the URL its screenshot shows

    @property
    def final(self) -> Hop | None:
        return self.hops[-1] if self.hops else None

    @property
    def ok(self) -> bool:
        final = self.final
        return self.error is None and final is not None and final.status is not None

    @property
    def not_fetched(self) -> bool:
        """The total time limit left it without a response (never started, or cut before
        a complete response header)."""
        return self.total_time_limit and not self.ok

    @property
    def failed(self) -> bool:
        """Not captured, and not merely left by the total time limit the user set: a seed
        that was not captured always fails; a URL the crawl found (a requisite or a link)
        that the limit left unfetched does not, nor one refused by the private-address rule
        (docs/DECISIONS.md)."""
        return not self.ok and not (
            (self.not_fetched or self.refused) and self.kind != "seed")

    def as_json(self) -> dict[str, Any]:
        final = self.final
        return {
            "url": self.seed,
            "kind": self.kind,
            "finalUrl": self.shown or (final.url if final else None),
            "status": final.status if final else None,
            "bytes": sum(h.bytes for h in self.hops),
            "records": sum(h.records for h in self.hops),
            "seconds": round(self.seconds, 3),
            "truncated": final.truncated if final else None,
            "error": self.error,
            "hops": [h.url for h in self.hops],
            "attempts": self.attempts,
            "note": self.note,
            "totalTimeLimit": self.total_time_limit,
            "notFetched": self.not_fetched,
            "refused": self.refused,
            "failed": self.failed,
        }


class NotStarted(Exception):
    """The total time limit came before the fetch could start: nothing was sent."""


@dataclass(frozen=True)
class Task:
    url: str
    kind: str
    depth: int
    parent: str | None
    root: str  # the seed whose scope applies


def validate_url(url: str) -> str:
    """The URL if it can be captured; ValueError with a one-line reason otherwise."""
    try:
        parts = urlsplit(url)
    except ValueError:
        raise ValueError(f"not an http(s) URL: {url!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    try:
        _ = parts.port
    except ValueError:
        raise ValueError(f"bad port in URL: {url!r}") from None
    return url


def _cut_by_deadline(ex: recorder.Exchange) -> None:
    """Say in the exchange (and so in its metadata record) that the total time limit, not
    ``--timeout``, ended it; a fetch without a complete response header fails saying so."""
    ex.time_limit = TOTAL_LIMIT
    if ex.status is None and ex.truncated == "time":
        ex.error = "no complete response header before the total time limit (--total-timeout)"


def json_block(value: Any) -> Block:
    return Block.of(json.dumps(value, sort_keys=True, ensure_ascii=False).encode())


def retry_after(ex: recorder.Exchange, attempt: int, cap: float) -> float:
    """Seconds to wait before retrying: Retry-After (RFC 9110 10.2.3) if given, else
    exponential backoff; never more than ``cap``."""
    value = ex.header(b"retry-after")
    wait = 0.5 * 2.0**attempt
    if value:
        text = value.decode("latin-1").strip()
        if text.isdigit():
            wait = float(text)
        else:
            with contextlib.suppress(TypeError, ValueError, IndexError):
                wait = float((parsedate_to_datetime(text) - datetime.now(UTC)).total_seconds())
    return max(0.0, min(wait, cap))


async def _stop(workers: Sequence[asyncio.Task[None]]) -> None:
    """Cancel the workers and wait for them. Python 3.11's ``wait_for`` can lose a
    cancellation that arrives as its inner read completes (gh-86296), so any worker still
    running is cancelled again; one that missed every cancel stops at its next task."""
    pending = {w for w in workers if not w.done()}
    while pending:
        for worker in pending:
            worker.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.2)


class Capturer:
    """Fetches seeds, and what they need or link to, concurrently into one WARC writer."""

    def __init__(
        self,
        writer: WarcWriter,
        options: CaptureOptions,
        *,
        now: Callable[[], datetime],
        new_id: Callable[[], str] = new_record_id,
        on_progress: Callable[[UrlOutcome, dict[str, int]], None] | None = None,
        dedup: DedupHook | None = None,
    ) -> None:
        self.writer = writer
        self.dedup = dedup  # asked before each response is written: store it as a revisit?
        self.options = options
        self.now = now
        self.new_id = new_id
        self.on_progress = on_progress
        self.context, self.trust_store = tls.client_context(
            options.ca_file, insecure=options.insecure_skip_tls_verify
        )
        self.via = parse_via(options.via) if options.via else None
        self.scope = Scope(options.scope, options.include, options.exclude)
        self.outcomes: list[UrlOutcome] = []
        self.seen: set[str] = set()
        self.counts = {"done": 0, "queued": 0, "failed": 0, "notFetched": 0, "bytes": 0}
        self.deadline: float | None = None  # the total time limit, as time.monotonic()
        self.policy = AddressPolicy(allow_private=options.allow_private_addresses)

    async def address_policy(self, seeds: Sequence[str]) -> AddressPolicy:
        """The run's private-address rule: the seeds' own addresses, resolved now (names a
        proxy resolves are not looked up here)."""
        self.policy = await seed_policy(
            seeds, allow_private=self.options.allow_private_addresses,
            resolve_names=self.via is None or self.via.scheme == "socks5",
            timeout=min(self.options.limits.connect_timeout, self.options.limits.timeout))
        return self.policy

    async def capture(self, seeds: Sequence[str]) -> list[UrlOutcome]:
        await self.address_policy(seeds)
        self.pool = recorder.Pool(max(8, self.options.per_host))
        self.gates: dict[str, asyncio.Semaphore] = {}
        self.last_start: dict[str, float] = {}
        self.queue: asyncio.Queue[Task] = asyncio.Queue()
        self.extractor = Extractor()
        if self.options.requisites or self.options.depth:
            self.extractor.start()
        self.stopping = False
        total = self.options.total_timeout
        self.deadline = None if total is None else time.monotonic() + total
        for seed in seeds:
            self._enqueue(Task(seed, "seed", self.options.depth, None, seed))
        workers = [asyncio.create_task(self._worker())
                   for _ in range(max(1, self.options.concurrency))]
        try:
            await asyncio.wait_for(self.queue.join(), total)
        except TimeoutError:
            self.stopping = True
            self._abandon_queue()
            # the fetches in flight end at the deadline by their own timers: let them write
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.queue.join(), DEADLINE_GRACE)
        finally:
            self.stopping = True
            await _stop(workers)
            await self.pool.close()
            await self.extractor.aclose()
        return self.outcomes

    def _abandon_queue(self) -> None:
        while not self.queue.empty():
            self._unfinished(self.queue.get_nowait(), "not fetched")
            self.queue.task_done()

    def _unfinished(self, task: Task, what: str) -> None:
        outcome = UrlOutcome(task.url, error=f"{what}: total time limit reached",
                             kind=task.kind, parent=task.parent, total_time_limit=True)
        self._count(outcome)
        if self.on_progress:  # a summary streamed line by line must list it too
            self.on_progress(outcome, dict(self.counts))

    def _count(self, outcome: UrlOutcome) -> None:
        self.outcomes.append(outcome)
        self.counts["done"] += 1
        self.counts["failed"] += 1 if outcome.failed else 0
        self.counts["notFetched"] += 1 if outcome.not_fetched and not outcome.failed else 0
        self.counts["bytes"] += sum(h.bytes for h in outcome.hops)

    def _enqueue(self, task: Task) -> None:
        key = urldefrag(task.url)[0]
        if self.stopping or key in self.seen or len(self.seen) >= self.options.max_urls:
            return
        self.seen.add(key)
        self.counts["queued"] += 1
        self.queue.put_nowait(task)

    async def _worker(self) -> None:
        while not self.stopping:
            task = await self.queue.get()
            try:
                try:
                    outcome, last = await self.fetch_chain(task)
                except NotStarted:
                    self._unfinished(task, "not fetched")
                    continue
                except asyncio.CancelledError:  # DEADLINE_GRACE ran out
                    self._unfinished(task, "not finished")
                    raise
                self._count(outcome)
                if last is not None and outcome.ok and not self.stopping:
                    await self._discover(task, last, outcome)
                if self.on_progress:
                    self.on_progress(outcome, dict(self.counts))
            finally:
                self.queue.task_done()

    async def _discover(self, task: Task, ex: recorder.Exchange, outcome: UrlOutcome) -> None:
        if not ex.body_sample or not (self.options.requisites or task.depth > 0):
            return
        content_type = (ex.header(b"content-type") or b"").decode("latin-1")
        if content_type.split(";")[0].strip().lower() not in PARSED_TYPES:
            return
        encoding = (ex.header(b"content-encoding") or b"").decode("latin-1") or None
        found = await self.extractor.extract(ex.body_sample, content_type, ex.url, encoding)
        if isinstance(found, str):
            outcome.note = found
            return
        if found.truncated:
            outcome.note = (f"page parsed in part (decoded to at most {MAX_DECODED >> 20} MiB, "
                            "or damaged): requisites and links may be missing")
        if self.options.requisites:
            for url in found.requisites:
                if self.scope.allows_requisite(url):
                    self._enqueue(Task(url, "requisite", 0, ex.url, task.root))
        if task.depth > 0:
            for url in found.links:
                if self.scope.allows_link(url, task.root):
                    self._enqueue(Task(url, "link", task.depth - 1, ex.url, task.root))

    async def fetch_chain(self, task: Task) -> tuple[UrlOutcome, recorder.Exchange | None]:
        outcome = UrlOutcome(task.url, kind=task.kind, parent=task.parent)
        start = time.monotonic()
        url, chain, last = task.url, set[str](), None
        while True:
            chain.add(url)
            try:
                ex, attempts = await self._fetch_with_retries(url, outcome)
            except NotStarted:
                if not outcome.hops:
                    raise
                outcome.error = f"redirect to {url} not followed: total time limit reached"
                outcome.total_time_limit = True
                break
            outcome.attempts += attempts - 1
            last = ex
            outcome.total_time_limit |= ex.time_limit == TOTAL_LIMIT
            if ex.error and ex.status is None:
                outcome.error = ex.error
                outcome.refused = ex.refused
                break
            target = self._redirect_target(ex)
            if target is None:
                break
            if target in chain:
                outcome.error = f"redirect loop at {target}"
                break
            if len(outcome.hops) > self.options.max_redirects:
                outcome.error = f"more than {self.options.max_redirects} redirects"
                break
            self.seen.add(urldefrag(target)[0])
            url = target
        outcome.seconds = time.monotonic() - start
        return outcome, last

    async def _fetch_with_retries(self, url: str, outcome: UrlOutcome) -> tuple[
        recorder.Exchange, int
    ]:
        attempt, previous = 0, None
        while True:
            try:
                ex = await self._request(url)
            except NotStarted:
                if previous is None:
                    raise
                # the limit came during the wait to retry: the previous attempt was the last
                if previous.status is None:
                    self._record(url, previous, outcome)
                return previous, attempt
            transient = (ex.status is None and not ex.refused) or ex.status in RETRY_STATUSES
            wait = retry_after(ex, attempt, self.options.max_retry_wait) if transient else 0.0
            last_try = attempt >= self.options.retries or not transient or self._left() <= wait
            if ex.status is not None or last_try:
                # every response is evidence, a 503 before the 200 too; a failed connection
                # attempt is recorded only when it is the last one
                self._record(url, ex, outcome)
            if last_try:
                return ex, attempt + 1
            previous = ex
            await asyncio.sleep(wait)
            attempt += 1

    def _record(self, url: str, ex: recorder.Exchange, outcome: UrlOutcome) -> None:
        locations = self.write_exchange(ex)
        outcome.hops.append(Hop(url, ex.status, ex.response.length if ex.response else 0,
                                len(locations), ex.truncated, ex.error))

    def _left(self) -> float:
        """Seconds until the total time limit (infinite without one)."""
        return math.inf if self.deadline is None else self.deadline - time.monotonic()

    async def _request(self, url: str) -> recorder.Exchange:
        host = (urlsplit(url).hostname or "").lower()
        gate = self.gates.setdefault(host, asyncio.Semaphore(max(1, self.options.per_host)))
        async with gate:
            if self.options.delay:
                wait = self.last_start.get(host, 0.0) + self.options.delay - time.monotonic()
                if wait >= self._left():
                    raise NotStarted
                self.last_start[host] = time.monotonic() + max(0.0, wait)
                if wait > 0:
                    await asyncio.sleep(wait)
            limits, left = self.options.limits, self._left()
            if left <= 0 or self.stopping:
                raise NotStarted
            if left < limits.timeout:  # the total time limit comes first: it is the timeout
                limits = replace(limits, timeout=left,
                                 connect_timeout=min(limits.connect_timeout, left))
            sample = SAMPLE_LIMIT if (self.options.requisites or self.options.depth) else 0
            ex = await recorder.fetch(
                url, limits=limits, context=self.context,
                trust_store=self.trust_store, now=self.now, pool=self.pool, via=self.via,
                sample_limit=sample, policy=self.policy)
        if limits is not self.options.limits and self._left() <= 0 and (
                ex.truncated == "time" or ex.status is None):
            _cut_by_deadline(ex)
        return ex

    def _redirect_target(self, ex: recorder.Exchange) -> str | None:
        if ex.status not in REDIRECT_STATUSES or ex.truncated:
            return None
        location = ex.header(b"location")
        if not location:
            return None
        target = urljoin(ex.url, location.decode("latin-1").strip())
        try:
            return validate_url(target)
        except ValueError:
            return None

    def write_exchange(self, ex: recorder.Exchange) -> list[RecordLocation]:
        return self.writer.write_group(self.exchange_records(ex), ex.url)

    def exchange_records(self, ex: recorder.Exchange) -> list[Record]:
        meta = recorder.metadata_fields(ex)
        if self.options.insecure_skip_tls_verify:
            meta["tlsVerification"] = "disabled by --insecure-skip-tls-verify"
        target = [("WARC-Target-URI", ex.url)]
        if ex.response is None or ex.request is None:
            return [self._metadata(ex, meta, target, None)]
        ip = [("WARC-IP-Address", ex.ip)] if ex.ip else []
        if ex.response.length == 0:
            # Sent, but not one byte came back: keep the request as evidence, and no empty
            # response record (it holds no HTTP response, and warcio cannot check its digest).
            ex.response.close()
            request_id = self.new_id()
            return [
                Record("request", request_id, ex.started_at, ex.request, [*target, *ip],
                       content_type="application/http;msgtype=request"),
                self._metadata(ex, meta, target, request_id),
            ]
        response_id, request_id = self.new_id(), self.new_id()
        response_headers = [*target, *ip, ("WARC-Concurrent-To", request_id)]
        if ex.truncated:
            response_headers.append(("WARC-Truncated", ex.truncated))
        has_head = ex.response.payload_offset is not None
        records = [
            Record("request", request_id, ex.started_at, ex.request,
                   [*target, *ip, ("WARC-Concurrent-To", response_id)],
                   content_type="application/http;msgtype=request"),
            Record("response", response_id, ex.started_at, ex.response, response_headers,
                   content_type="application/http;msgtype=response",
                   with_payload_digest=has_head),
        ]
        original = self.dedup(ex, records[1]) if self.dedup and has_head else None
        if original is not None:
            records[1] = revisit_record(records[1], original)
        records.append(self._metadata(ex, meta, target, response_id))
        return records

    def _metadata(
        self, ex: recorder.Exchange, meta: dict[str, Any], target: list[tuple[str, str]],
        concurrent_to: str | None,
    ) -> Record:
        headers = list(target)
        if concurrent_to:
            headers.append(("WARC-Concurrent-To", concurrent_to))
        return Record("metadata", self.new_id(), ex.started_at, json_block(meta), headers,
                      content_type="application/json", with_payload_digest=False)
