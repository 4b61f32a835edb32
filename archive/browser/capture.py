"""Browser capture: Debian's Chromium, driven by Playwright, behind prov's recording proxy.

Chromium starts headless with the flags in ``chromium_args``: its own proxy setting points at
a proxy session that forwards nothing (what arrives there is Chromium's own traffic: counted,
never sent on, never evidence). Each page gets a fresh browser context whose proxy is a
session of its own, so everything that session records was asked for by that context; of
that, what the page asked for (``page.on("request")``) is written, the rest only counted.

Trust: the proxy shows Chromium certificates from a per-run authority (``archive.http.mitmca``)
whose leaves all share one key. Chromium is told to accept that key and no other
(``--ignore-certificate-errors-spki-list``, honoured because Playwright always passes a
``--user-data-dir``) rather than ``ignore_https_errors`` (which accepts anything) or a
trust-store entry (NSS's database is per user, not per run, and would outlive the run). The
origins' certificates are verified by the proxy, as in any capture.

Per page, after the page's exchanges: ``resource`` records ``urn:dom:``, ``urn:fullPage:``,
``urn:view:``, then the banner image ``urn:fullPageBanner:`` (Concurrent-To the raw full
page), then a ``metadata`` record ``urn:pageinfo:`` (docs/FORMATS.md, "Browser captures").
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, async_playwright
from playwright.async_api import Error as PlaywrightError

from archive.browser.navigation import describe
from archive.browser.page import PageLimits, PageResult, run_page
from archive.browser.pagerecords import page_records, run_record
from archive.http import recorder
from archive.http.crawl import CaptureOptions, Capturer, Hop, UrlOutcome, new_record_id
from archive.http.mitmca import RunAuthority
from archive.http.proxy import RecordingProxy, Session
from archive.http.proxyrequest import url_key
from archive.http.revisit import DedupHook
from archive.http.via import parse_via
from archive.warc.writer import WarcWriter

CHROMIUM = "/usr/bin/chromium"
LAUNCH_TIMEOUT = 60.0
CLOSE_TIMEOUT = 10.0
SESSION_GRACE = 5.0


@dataclass(frozen=True)
class BrowserOptions:
    """Browser capture settings: per-page limits, pages at once, a logged-in state."""

    page: PageLimits = field(default_factory=PageLimits)
    concurrency: int = 2
    storage_state: Path | None = None
    executable: str = CHROMIUM


def chromium_args(proxy_url: str, leaf_spki: str) -> list[str]:
    """The flags that keep Chromium's traffic on the proxy and its own chatter down."""
    args = [
        f"--proxy-server={proxy_url}",
        "--proxy-bypass-list=<-loopback>",  # loopback goes through the proxy too
        "--disable-background-networking",
        "--disable-component-update",
        "--no-pings",
        "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
        "--no-first-run",
        "--disable-sync",
        f"--ignore-certificate-errors-spki-list={leaf_spki}",
    ]
    if os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium refuses to start as root with its sandbox
    return args


class PageCollector:
    """The exchanges of one page's proxy session, in the order they completed."""

    def __init__(self) -> None:
        self.exchanges: list[recorder.Exchange] = []

    def add(self, ex: recorder.Exchange) -> None:
        self.exchanges.append(ex)

    def document_error(self, url: str) -> str | None:
        key = url_key(url)
        for ex in reversed(self.exchanges):
            if url_key(ex.url) == key:
                return (ex.error or "no response") if ex.status is None else None
        return None

    def split(self, requests: Sequence[str]) -> tuple[list[recorder.Exchange], int]:
        """The exchanges the page asked for, and how many others there were (their blocks
        are closed: they are not evidence)."""
        wanted = {url_key(u) for u in requests}
        mine = [ex for ex in self.exchanges if url_key(ex.url) in wanted]
        for ex in self.exchanges:
            if url_key(ex.url) not in wanted:
                for block in (ex.request, ex.response):
                    if block is not None:
                        block.close()
        return mine, len(self.exchanges) - len(mine)


class BrowserCapturer:
    """Loads seeds in Chromium, ``concurrency`` contexts at once, into one WARC writer."""

    def __init__(self, writer: WarcWriter, options: CaptureOptions, browser: BrowserOptions, *,
                 capture_id: str, now: Callable[[], datetime],
                 new_id: Callable[[], str] = new_record_id,
                 on_progress: Callable[[UrlOutcome, dict[str, int]], None] | None = None,
                 dedup: DedupHook | None = None) -> None:
        self.writer = writer
        self.options = options
        self.browser = browser
        self.capture_id = capture_id
        self.now = now
        self.new_id = new_id
        self.on_progress = on_progress
        self.records = Capturer(writer, options, now=now, new_id=new_id, dedup=dedup)
        self.outcomes: list[UrlOutcome] = []
        self.counts = {"done": 0, "queued": 0, "failed": 0, "bytes": 0}
        self.summary: dict[str, Any] = {"notAttributable": 0, "chromiumOwn": 0,
                                        "addressesRefused": 0}
        self._writing = threading.Lock()  # one page's records stay together in the WARC
        self._deadline: float | None = None  # --total-timeout, as time.monotonic()

    async def capture(self, seeds: Sequence[str]) -> list[UrlOutcome]:
        authority = RunAuthority(self.now())
        policy = await self.records.address_policy(seeds)
        proxy = RecordingProxy(
            limits=self.options.limits, context=self.records.context,
            trust_store=self.records.trust_store, now=self.now, authority=authority,
            via=parse_via(self.options.via) if self.options.via else None,
            policy=policy)
        queue = list(seeds)
        self.counts["queued"] = len(queue)
        try:
            background = await proxy.open_session(forward=False)
            args = chromium_args(background.url, authority.leaf_spki_sha256)
            try:
                await self._with_browser(args, proxy, queue)
            except (PlaywrightError, OSError) as exc:  # the driver itself failed
                self._abandon(queue, f"browser capture failed: {_first_line(exc)}")
        finally:
            await proxy.close(grace=1.0)
            authority.close()
        self.summary["chromiumOwn"] = len(background.refused)
        self.summary["addressPolicy"] = policy.as_json()
        self.writer.write_group([run_record(
            self.capture_id, self.browser.executable, args, authority, self.summary,
            new_id=self.new_id, now=self.now)])
        return self.outcomes

    async def _with_browser(self, args: list[str], proxy: RecordingProxy,
                            queue: list[str]) -> None:
        """Launch, capture, and close, whatever happens (the Playwright driver, when it
        stops, kills a browser that would not close)."""
        async with async_playwright() as playwright:
            try:
                browser = await playwright.chromium.launch(
                    executable_path=self.browser.executable, headless=True, args=args,
                    timeout=LAUNCH_TIMEOUT * 1000)
            except PlaywrightError as exc:
                self._abandon(queue, f"cannot start Chromium: {_first_line(exc)}")
                return
            try:
                self.summary["browser"] = f"Chromium {browser.version}"
                await self._run(browser, proxy, queue)
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(browser.close(), CLOSE_TIMEOUT)

    async def _run(self, browser: Browser, proxy: RecordingProxy, queue: list[str]) -> None:
        """Pages in parallel. ``--total-timeout`` cuts the pages running (their records are
        still written) and leaves the queued ones unfetched; nothing is cancelled midway."""
        total = self.options.total_timeout
        self._deadline = time.monotonic() + total if total is not None else None

        async def worker() -> None:
            while queue and not self._expired():
                outcome = await self._page(browser, proxy, queue.pop(0))
                self._done(outcome)

        await asyncio.gather(*[asyncio.create_task(worker()) for _ in range(
            max(1, min(self.browser.concurrency, len(queue))))])
        self._abandon(queue, "not fetched: total time limit reached")

    def _expired(self) -> bool:
        return self._deadline is not None and time.monotonic() >= self._deadline

    def _done(self, outcome: UrlOutcome) -> None:
        self.outcomes.append(outcome)
        self.counts["done"] += 1
        self.counts["failed"] += 0 if outcome.ok else 1
        self.counts["bytes"] += sum(h.bytes for h in outcome.hops)
        if self.on_progress:
            self.on_progress(outcome, dict(self.counts))

    def _abandon(self, queue: list[str], why: str) -> None:
        while queue:
            self._done(UrlOutcome(queue.pop(0), error=why))

    async def _page(self, browser: Browser, proxy: RecordingProxy, url: str) -> UrlOutcome:
        limits = self.browser.page
        start = time.monotonic()
        collector = PageCollector()
        session = await proxy.open_session(collector.add, deadline=start + limits.timeout
                                           + limits.settle + limits.scroll_time)
        result = PageResult(url)
        hard_limit = (limits.timeout + limits.settle + limits.scroll_time
                      + 4 * limits.artifact_timeout + 15)
        if self._deadline is not None:
            hard_limit = max(1.0, min(hard_limit, self._deadline - start))
        context = None
        try:
            context = await asyncio.wait_for(browser.new_context(
                proxy={"server": session.url}, accept_downloads=False, service_workers="block",
                viewport={"width": limits.viewport[0], "height": limits.viewport[1]},
                storage_state=self.browser.storage_state), CLOSE_TIMEOUT * 3)
            await asyncio.wait_for(run_page(result, context, limits, self.now,
                                            collector.document_error), hard_limit)
        except TimeoutError:
            result.fail("not finished: total time limit reached" if self._expired() else
                        f"the page was not done within its hard limit of {hard_limit:.0f} s")
        except PlaywrightError as exc:
            result.fail(f"browser: {_first_line(exc)}")
        finally:
            if context is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(context.close(), CLOSE_TIMEOUT)
            await session.close(grace=SESSION_GRACE)
        return await asyncio.to_thread(self._write_page, result, collector, session, start)

    def _write_page(self, result: PageResult, collector: PageCollector, session: Session,
                    start: float) -> UrlOutcome:
        with self._writing:
            return self._write_page_records(result, collector, session, start)

    def _write_page_records(self, result: PageResult, collector: PageCollector,
                            session: Session, start: float) -> UrlOutcome:
        mine, others = collector.split(result.requests)
        self.summary["notAttributable"] += others + len(session.refused)
        written: dict[int, tuple[int, str | None]] = {}
        for ex in mine:
            locations = self.records.write_exchange(ex)
            response = next((loc.record_id for loc in locations
                             if loc.warc_type == "response"), None)
            written[id(ex)] = (len(locations), response)
        outcome = UrlOutcome(result.url, error=result.error)
        main = None
        for hop_url in result.navigation:
            hop = next((e for e in mine if url_key(e.url) == url_key(hop_url)), None)
            if hop is not None:
                count, main = written[id(hop)]
                outcome.hops.append(Hop(hop.url, hop.status, hop.response.length
                                        if hop.response else 0, count, hop.truncated,
                                        hop.error))
        if outcome.final is not None and outcome.final.status is not None:
            result.status = outcome.final.status  # the document shown, not the first one
        outcome.shown = result.final_url
        refused = [{"url": ex.url, "why": ex.error} for ex in mine if ex.refused]
        self.summary["addressesRefused"] += len(refused)
        traffic = {"recorded": len(mine), "notAttributable": others,
                   "refused": [{"url": u, "why": w} for u, w in session.refused],
                   "addressesRefused": refused, "abandoned": session.abandoned}
        records = page_records(result, traffic, capture_id=self.capture_id, new_id=self.new_id,
                               now=self.now, main_response=main,
                               storage_state=self.browser.storage_state is not None)
        self.writer.write_group(records, result.url)
        outcome.seconds = time.monotonic() - start
        outcome.note = (f"browser: {len(mine)} requests recorded, {others} left out (not made "
                        "by this page)"
                        + (f", {len(session.abandoned)} still running at the end"
                           if session.abandoned else "")
                        + (f", {len(refused)} refused (private addresses)" if refused else "")
                        + _page_note(result))
        return outcome



def _page_note(result: PageResult) -> str:
    """What the summary line adds about a page: the URL shown when it is not the one
    given, and what of the page was not kept."""
    note = ""
    if result.final_url is not None and result.final_url != result.url and result.chain:
        note += (f"; shows {result.final_url}, reached "
                 f"{describe(result.chain)}")
    for item in result.not_kept:
        kept = "not kept" if item["kept"] == "nothing" else f"cut to {item['kept']}"
        note += f"; {item['what']} {kept}: {item['why']}"
    return note


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
