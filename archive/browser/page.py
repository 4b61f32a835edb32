"""One page in a browser context: load it, let it settle, scroll it, then keep what it shows.

The steps, each bounded in time, and each written down in ``PageResult.actions`` (what was
done to the page while collecting it is part of the record): navigate and wait for the
``load`` event; wait for the network to go idle; scroll down one viewport at a time (lazy
images, infinite lists) and back to the top; then the DOM as scripts left it, a full-page
screenshot and a viewport screenshot, none of them altered (the caret is left as it was).

Every call into the page is bounded by ``asyncio.wait_for`` as well as by Playwright's own
timeout: a renderer busy in an endless script answers nothing, and must not hold the capture.

A hostile page is bounded in size too (docs/SECURITY.md, "Hostile pages and private
addresses"): the full-page screenshot is clipped to ``max_width`` and ``max_pixels`` (a page
300,000 px tall would make Chromium and the image library hold gigabytes), and a DOM larger
than ``max_dom`` characters is not serialised. What is not kept, and why, goes to
``PageResult.not_kept`` (the page's ``urn:pageinfo:`` record and the run's summary).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from playwright.async_api import BrowserContext, FloatRect, Page, Request
from playwright.async_api import Error as PlaywrightError

from archive.browser.navigation import NavigationChain, documents

T = TypeVar("T")
SCROLL_JS = """() => {
  const el = document.scrollingElement || document.documentElement;
  const before = el.scrollTop;
  window.scrollBy(0, window.innerHeight);
  return [before, el.scrollTop];
}"""
SIZE_JS = """() => {
  const el = document.scrollingElement || document.documentElement;
  return [el.scrollWidth, el.scrollHeight];
}"""
# A size in characters before page.content() ships the DOM out of the renderer. The page's
# scripts could lie about it (this runs in its world): then the DOM is read as it always was,
# and the screenshot's clip, which the page cannot change, still bounds the pixels.
DOM_LENGTH_JS = """() => {
  const doc = document.documentElement;
  return doc ? doc.outerHTML.length : 0;
}"""
FRAMES_JS = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
STEP_SETTLE = 2.0  # at most this long for the network after each scroll step
QUIET = 0.5  # "idle": nothing in flight for this long


@dataclass(frozen=True)
class PageLimits:
    """How long and how far: the whole page, settling, scrolling, the artifacts."""

    timeout: float = 60.0
    settle: float = 10.0
    scroll_steps: int = 20
    scroll_time: float = 15.0
    artifact_timeout: float = 30.0
    viewport: tuple[int, int] = (1280, 800)
    max_width: int = 4096  # pixels of the full-page screenshot, across
    max_pixels: int = 1280 * 20_000  # of the full-page screenshot (its top part is kept)
    max_dom: int = 64 << 20  # characters of the serialised DOM


@dataclass
class PageResult:
    """What one page gave, and what happened to it on the way."""

    url: str
    requests: list[str] = field(default_factory=list)  # page.on("request"), in order
    navigation: list[str] = field(default_factory=list)  # the main frame's documents
    chain: dict[str, Any] | None = None  # archive.browser.navigation: how it reached final_url
    status: int | None = None
    final_url: str | None = None
    title: str | None = None
    captured_at: datetime | None = None
    dom: bytes | None = None
    full_png: bytes | None = None
    view_png: bytes | None = None
    page_size: tuple[int, int] | None = None
    actions: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    crashed: bool = False
    download: str | None = None
    render: bool = True  # False when there is nothing of the origin's to screenshot
    not_kept: list[dict[str, str]] = field(default_factory=list)  # {what, kept, why}

    def fail(self, message: str) -> None:
        self.error = self.error or message

    def explain(self, exc: BaseException, step: str) -> str:
        if self.crashed or "crashed" in str(exc).lower():
            self.crashed = True
            return "the page's renderer crashed"
        if isinstance(exc, TimeoutError) or "Timeout" in type(exc).__name__:
            return f"{step}: no answer from the page in time"
        return f"{step}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"


async def bounded(call: Awaitable[T], seconds: float) -> T:
    return await asyncio.wait_for(call, max(0.5, seconds))


async def run_page(result: PageResult, context: BrowserContext, limits: PageLimits,
                   now: Callable[[], datetime],
                   document_error: Callable[[str], str | None]) -> None:
    """Fill ``result`` for ``result.url``; ``document_error(url)`` says why the proxy got no
    response for the document (its 502 page is not the page, so nothing is rendered)."""
    page = await context.new_page()
    page.on("request", lambda request: result.requests.append(request.url))
    chain = NavigationChain(page)
    pending = InFlight(page)
    page.on("crash", lambda _: setattr(result, "crashed", True))
    page.on("download", lambda download: setattr(result, "download", download.url))
    if await _load(page, result, limits, document_error):
        await _settle(page, result, limits.settle)
        await _scroll(page, result, limits, pending)
    if result.render and result.download is None and not result.crashed:
        await _artifacts(page, result, limits, now)
    if chain.steps:  # what Chromium did, script navigations included
        result.chain = chain.as_json(result.final_url or page.url)
        result.navigation = documents(result.chain["steps"])
        after = result.chain["after"]
        if after and result.error is not None:
            # Playwright answers nothing about a page whose navigation is pending
            result.error += (f" (the page was navigating to {after[0]['url']}, which had not "
                             "answered: nothing can be taken from a page meanwhile)")
        elif after:
            result.notes.append(f"the page went on to {after[0]['url']}: not shown, the DOM "
                                f"and screenshots are of {result.final_url}")
    if result.crashed:
        result.error = "the page's renderer crashed" + (
            f" ({result.error})" if result.error and "crashed" not in result.error else "")


async def _load(page: Page, result: PageResult, limits: PageLimits,
                document_error: Callable[[str], str | None]) -> bool:
    """Navigate; True when the page loaded and is worth settling and scrolling."""
    try:
        response = await bounded(page.goto(result.url, wait_until="load",
                                           timeout=limits.timeout * 1000), limits.timeout + 5)
    except (PlaywrightError, TimeoutError) as exc:
        result.navigation = result.navigation or [result.url]
        if "Download is starting" in str(exc):  # may come before the download event
            result.download = result.download or result.url
        if result.download is not None:
            result.fail(f"the page started a download of {result.download} (its response is "
                        "recorded; there is nothing to render)")
        elif isinstance(exc, TimeoutError) or "Timeout" in str(exc):
            result.actions.append(f"navigated; the load event did not come within "
                                  f"{limits.timeout:g} s")
            result.fail(f"the page did not finish loading within {limits.timeout:g} s")
        else:
            result.fail(result.explain(exc, "navigation failed"))
            result.render = False
            await _probe(page, result)
        return False
    result.actions.append("navigated and waited for the load event")
    if response is None:
        return True
    chain: list[Request] = []
    request: Request | None = response.request
    while request is not None:
        chain.append(request)
        request = request.redirected_from
    result.navigation = [r.url for r in reversed(chain)]
    result.status = response.status
    why = document_error(response.url)
    if why is not None:
        result.fail(f"no response for the page: {why}")
        result.render = False  # the proxy's 502 is not the page
        return False
    return True


async def _probe(page: Page, result: PageResult) -> None:
    """Whether the renderer is still there (a crash can end a navigation before its
    ``crash`` event arrives)."""
    try:
        await bounded(page.evaluate("() => 1"), 2.0)
    except (PlaywrightError, TimeoutError) as exc:
        result.explain(exc, "probing")


async def _settle(page: Page, result: PageResult, seconds: float) -> None:
    try:
        await bounded(page.wait_for_load_state("networkidle", timeout=seconds * 1000),
                      seconds + 2)
        result.actions.append("waited for the network to go idle")
    except (PlaywrightError, TimeoutError) as exc:
        if result.crashed:
            result.fail(result.explain(exc, "settling"))
        else:
            result.notes.append(f"the network was still busy after {seconds:g} s")


class InFlight:
    """The page's requests still waiting for an answer. Playwright's "networkidle" is a
    lifecycle event that fires once per navigation, so it cannot tell whether a scroll
    step started new requests; this can."""

    def __init__(self, page: Page) -> None:
        self.requests: set[Request] = set()
        self.changed = time.monotonic()
        page.on("request", self._add)
        page.on("requestfinished", self._remove)
        page.on("requestfailed", self._remove)

    def _add(self, request: Request) -> None:
        self.requests.add(request)
        self.changed = time.monotonic()

    def _remove(self, request: Request) -> None:
        self.requests.discard(request)
        self.changed = time.monotonic()

    async def quiet(self, page: Page, seconds: float) -> None:
        """Let a frame render (observers fire), then wait until nothing has been in flight
        for ``QUIET`` seconds, or ``seconds`` have passed."""
        end = time.monotonic() + seconds
        await bounded(page.evaluate(FRAMES_JS), seconds)
        await asyncio.sleep(0.1)
        while time.monotonic() < end:
            if not self.requests and time.monotonic() - self.changed >= QUIET:
                return
            await asyncio.sleep(0.05)


async def _scroll(page: Page, result: PageResult, limits: PageLimits,
                  pending: InFlight) -> None:
    start, steps, reason = time.monotonic(), 0, "step limit"
    try:
        while steps < limits.scroll_steps:
            if time.monotonic() - start > limits.scroll_time:
                reason = "time limit"
                break
            before, after = await bounded(page.evaluate(SCROLL_JS), limits.scroll_time)
            steps += 1
            if after == before:
                reason = "end of the page"
                break
            await pending.quiet(page, STEP_SETTLE)
        await bounded(page.evaluate("() => window.scrollTo(0, 0)"), limits.scroll_time)
        await pending.quiet(page, STEP_SETTLE)
    except (PlaywrightError, TimeoutError) as exc:
        result.fail(result.explain(exc, "scrolling"))
        return
    result.actions.append(f"scrolled down {steps} times by the viewport height (stopped: "
                          f"{reason}), then back to the top")


async def _artifacts(page: Page, result: PageResult, limits: PageLimits,
                     now: Callable[[], datetime]) -> None:
    """DOM, full page, viewport, in that order; then title, final URL and size."""
    seconds = limits.artifact_timeout
    ms = seconds * 1000
    step = "serialising the DOM"
    try:
        result.captured_at = now()
        length = await bounded(page.evaluate(DOM_LENGTH_JS), seconds)
        if isinstance(length, int) and length > limits.max_dom:
            result.not_kept.append({"what": "dom", "kept": "nothing", "why": (
                f"the DOM serialises to {length:,} characters, over the limit of "
                f"{limits.max_dom:,}")})
        else:
            result.dom = (await bounded(page.content(), seconds)).encode("utf-8")
        step = "measuring the page"
        size = _size(await bounded(page.evaluate(SIZE_JS), seconds))
        clip = _clip(result, limits, *size)
        step = "taking the full-page screenshot"
        shown = page.url
        result.full_png = await bounded(page.screenshot(full_page=True, caret="initial",
                                                        clip=clip, timeout=ms), seconds + 2)
        result.final_url = page.url  # what the screenshot shows: the banner names it
        if result.final_url != shown:
            result.notes.append(f"the page moved from {shown} to {result.final_url} while "
                                "its DOM and full-page screenshot were taken")
        step = "taking the viewport screenshot"
        result.view_png = await bounded(page.screenshot(caret="initial", timeout=ms),
                                        seconds + 2)
        step = "reading the title"
        result.title = await bounded(page.title(), seconds)
        result.page_size = size
    except (PlaywrightError, TimeoutError) as exc:
        result.fail(result.explain(exc, step))


def _size(value: Any) -> tuple[int, int]:
    """Width and height as the page reports them (its scripts could answer anything: what
    is not two numbers is 0 x 0, and the clip bounds the screenshot whatever they say)."""
    try:
        width, height = (max(0, min(int(v), 1 << 30)) for v in value)
    except (TypeError, ValueError, OverflowError):
        return 0, 0
    return width, height


def _clip(result: PageResult, limits: PageLimits, width: int, height: int) -> FloatRect:
    """The part of the page the full-page screenshot keeps: all of it, or its top left
    within ``max_width`` and ``max_pixels`` (recorded in ``result.not_kept``)."""
    keep_width = max(1, min(width, limits.max_width))
    keep_height = max(1, min(height, limits.max_pixels // keep_width))
    if (keep_width, keep_height) != (max(width, 1), max(height, 1)):
        result.not_kept.append({
            "what": "fullPage", "kept": f"the top left {keep_width}x{keep_height} px",
            "why": f"the page is {width}x{height} px, over the limit of {limits.max_width} "
                   f"px across and {limits.max_pixels:,} pixels"})
    return {"x": 0, "y": 0, "width": keep_width, "height": keep_height}
