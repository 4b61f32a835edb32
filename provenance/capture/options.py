"""The options of a capture, declared once (``SnapshotOptions``) and checked once for every
caller: the CLI builds them from its flags (each flag made from a field's ``Flag``), ``prov
schedule`` from a source of its sources file, and programs through ``provenance.api``.

Each builder checks its values and what the machine needs (yt-dlp, Playwright, Chromium) before
anything runs: ``UsageError`` names a bad value, ``ConfigError`` a missing component with the
install hint. The archive layer's option objects are imported only here, when asked for, so
``prov verify`` never loads the crawler or the browser.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archive.errors import ConfigError, UsageError
from provenance import __version__
from provenance.base.install import install_hint
from provenance.base.untrusted import read_named

if TYPE_CHECKING:
    from archive.browser.capture import BrowserOptions
    from archive.http.crawl import CaptureOptions
    from archive.media.capture import MediaOptions


def _media_options(wanted: SnapshotOptions) -> MediaOptions:
    """Checked media-capture options: ``ConfigError`` when yt-dlp is missing."""
    try:
        # optional: yt-dlp (the media extra)
        import yt_dlp  # noqa: F401

        from archive.media.capture import MediaOptions
    except ImportError as exc:
        raise ConfigError(f"media capture needs the yt-dlp package: {exc}",
                          hint=install_hint("media")) from None
    return MediaOptions(comments=wanted.media_comments)


MAX_STORAGE_STATE = 64 << 20


def _browser_options(wanted: SnapshotOptions) -> BrowserOptions:
    """Checked browser-capture options: ``UsageError`` naming a bad one, ``ConfigError`` when
    Playwright or Chromium is missing."""
    page_timeout, scroll_steps = wanted.page_timeout, wanted.scroll_steps
    concurrency = 2 if wanted.concurrency is None else wanted.concurrency
    storage_state = wanted.storage_state
    if page_timeout <= 0 or concurrency <= 0 or scroll_steps < 0:
        raise UsageError("--page-timeout and --concurrency must be positive, --scroll-steps "
                         "not negative")
    if storage_state is not None:
        _check_storage_state(storage_state)
    try:
        # optional: playwright and pillow (the browser extra)
        from archive.browser.capture import CHROMIUM, BrowserOptions
        from archive.browser.page import PageLimits
    except ImportError as exc:
        raise ConfigError(f"browser capture needs the playwright and pillow packages: {exc}",
                          hint=install_hint("browser")) from None
    if not os.access(CHROMIUM, os.X_OK):
        raise ConfigError(f"browser capture needs Chromium at {CHROMIUM}",
                          hint="apt-get install chromium (never `playwright install`)")
    # settling and the screenshots get as long as loading, within their own defaults
    limits = PageLimits(timeout=page_timeout, scroll_steps=scroll_steps,
                        settle=min(PageLimits.settle, page_timeout),
                        artifact_timeout=min(PageLimits.artifact_timeout, max(5.0, page_timeout)))
    return BrowserOptions(page=limits, concurrency=concurrency, storage_state=storage_state)


def _check_storage_state(path: Path) -> None:
    """A Playwright storage state: a JSON object with ``cookies`` and ``origins`` lists."""
    data = read_named(path, MAX_STORAGE_STATE, what=f"--storage-state {path}", error=UsageError)
    try:
        state = json.loads(data)
    except ValueError as exc:
        raise UsageError(f"--storage-state {path}: {exc}") from None
    if not (isinstance(state, dict) and isinstance(state.get("cookies", []), list)
            and isinstance(state.get("origins", []), list)):
        raise UsageError(f"--storage-state {path}: not a Playwright storage state (a JSON "
                         "object with \"cookies\" and \"origins\" lists)")


def _capture_options(wanted: SnapshotOptions) -> CaptureOptions:
    """Checked capture options; ``UsageError`` naming the bad one."""
    # deferred: start-up of prov verify (api imports this module; these load the crawler)
    from archive.http.crawl import CaptureOptions
    from archive.http.recorder import FetchLimits
    from archive.http.scope import Scope
    from archive.http.via import parse_via

    w = wanted
    concurrency = 16 if w.concurrency is None else w.concurrency
    if min(w.timeout, w.max_body, w.max_redirects + 1, concurrency, w.per_host) <= 0 or min(
            w.delay, w.retries, w.depth) < 0:
        raise UsageError("--timeout, --max-body, --concurrency and --per-host must be positive; "
                         "--delay, --retries, --depth and --max-redirects not negative")
    try:
        Scope(w.scope, w.include, w.exclude)
        if w.via:
            parse_via(w.via)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if w.ca_file is not None and not w.ca_file.is_file():
        raise UsageError(f"--ca-file {w.ca_file}: no such file")
    return CaptureOptions(
        limits=FetchLimits(timeout=w.timeout, max_body=w.max_body,
                           user_agent=f"prov/{__version__}"),
        max_redirects=w.max_redirects, concurrency=concurrency, per_host=w.per_host,
        delay=w.delay, retries=w.retries, total_timeout=w.total_timeout,
        requisites=w.requisites, depth=w.depth, scope=w.scope, include=tuple(w.include),
        exclude=tuple(w.exclude), via=w.via, ca_file=w.ca_file,
        insecure_skip_tls_verify=w.insecure_skip_tls_verify,
        allow_private_addresses=w.allow_private_addresses)


@dataclass(frozen=True)
class Flag:
    """How the command line spells a field of ``SnapshotOptions``: ``--`` and the field's name
    with dashes, taking a value of the field's type (a flag for a bool, repeatable for a
    tuple)."""

    help: str
    metavar: str | None = None
    show_default: bool = False
    choices: tuple[str, ...] = ()


def flag(help: str, **spelling: Any) -> dict[str, Flag]:
    """A field's metadata: its ``Flag``."""
    return {"flag": Flag(help, **spelling)}


@dataclass(frozen=True)
class CheckedOptions:
    """``SnapshotOptions`` checked, as the archive layer takes them."""

    crawl: CaptureOptions
    browser: BrowserOptions | None
    media: MediaOptions | None
    warc_size: int


@dataclass(frozen=True)
class SnapshotOptions:
    """What a snapshot is asked to do, beyond its URLs, case, key and note. The fields are in
    the order `prov snapshot --help` lists them."""

    requisites: bool = field(default=False, metadata=flag(
        "Also fetch what each page needs: images, styles, scripts, media, fonts."))
    depth: int = field(default=0, metadata=flag(
        "Follow links this many levels.", show_default=True))
    scope: str = field(default="host", metadata=flag(
        "Which links --depth follows.", show_default=True, choices=("host", "domain", "prefix")))
    include: tuple[str, ...] = field(default=(), metadata=flag(
        "Follow only matching links.", metavar="REGEX"))
    exclude: tuple[str, ...] = field(default=(), metadata=flag(
        "Never fetch matching URLs.", metavar="REGEX"))
    concurrency: int | None = field(default=None, metadata=flag(
        "Fetches at once (default 16); with --browser, pages at once (default 2)."))
    per_host: int = field(default=4, metadata=flag(
        "Fetches at once per host.", show_default=True))
    delay: float = field(default=0.0, metadata=flag(
        "Seconds between two requests to the same host.", show_default=True))
    browser: bool = field(default=False, metadata=flag(
        "Load each URL in headless Chromium through prov's recording proxy: every request the "
        "page makes, the DOM and dated screenshots."))
    media: bool = field(default=False, metadata=flag(
        "Also run yt-dlp on each URL through prov's recording proxy: the video a post shows, "
        "its metadata, and why it is unavailable when it is."))
    media_comments: bool = field(default=False, metadata=flag(
        "With --media: also keep the comments yt-dlp can read."))
    storage_state: Path | None = field(default=None, metadata=flag(
        "With --browser: a Playwright storage state (cookies, localStorage) to capture as a "
        "logged-in user. Its cookies stay in the request records."))
    page_timeout: float = field(default=60.0, metadata=flag(
        "With --browser: seconds for a page to load.", show_default=True))
    scroll_steps: int = field(default=20, metadata=flag(
        "With --browser: scroll down at most this many screens (lazy loading).", show_default=True))
    retries: int = field(default=2, metadata=flag(
        "Retries for connection errors and 429/5xx answers (Retry-After honoured).",
        show_default=True))
    timeout: float = field(default=30.0, metadata=flag(
        "Seconds per request.", show_default=True))
    total_timeout: float | None = field(default=None, metadata=flag(
        "Seconds for the whole capture."))
    max_body: int = field(default=1 << 30, metadata=flag(
        "Bytes per response.", show_default=True))
    max_redirects: int = field(default=10, metadata=flag(
        "Redirects followed from each URL (each one is recorded).", show_default=True))
    warc_size: int = field(default=1 << 30, metadata=flag(
        "Start a new WARC file past this many bytes.", show_default=True))
    via: str | None = field(default=None, metadata=flag(
        "Capture through this proxy: http://host:port or socks5[h]://host:port.", metavar="URL"))
    ca_file: Path | None = field(default=None, metadata=flag(
        "Trust these CA certificates instead of the default store."))
    insecure_skip_tls_verify: bool = field(default=False, metadata=flag(
        "Accept any TLS certificate (recorded in every metadata record)."))
    allow_private_addresses: bool = field(default=False, metadata=flag(
        "Also connect to addresses of this machine's own networks (loopback, link-local, "
        "private ranges) that no seed resolves to."))

    def crawl(self) -> CaptureOptions:
        """The crawl's options, checked: ``UsageError`` naming a bad value."""
        return _capture_options(self)

    def pages(self) -> BrowserOptions | None:
        """The browser's options with ``browser``, checked (``ConfigError`` when this machine
        cannot run one); else None."""
        return _browser_options(self) if self.browser else None

    def posts(self) -> MediaOptions | None:
        """yt-dlp's options with ``media`` (``ConfigError`` when it is missing); else None."""
        return _media_options(self) if self.media else None

    def unpaired(self) -> str | None:
        """An option given without the one it goes with, in words; None when all pair."""
        if self.storage_state is not None and not self.browser:
            return "--storage-state needs --browser"
        if self.media_comments and not self.media:
            return "--media-comments needs --media"
        return None

    def checked(self, refuse: Callable[[str], Exception] = UsageError) -> CheckedOptions:
        """All of it checked, in the order `prov snapshot` has always checked it: bad values
        (``UsageError``), a missing browser or yt-dlp (``ConfigError``), an option without the
        one it goes with (refused with ``refuse``: the CLI's usage error), options that do not
        apply together (``UsageError``)."""
        crawl, browser = self.crawl(), self.pages()
        if (problem := self.unpaired()) is not None:
            raise refuse(problem)
        media = self.posts()
        if browser is not None and (self.requisites or self.depth):
            raise UsageError("--requisites and --depth do not apply to --browser (the browser "
                             "fetches what each page needs; links are not followed)")
        if media is not None and (self.requisites or self.depth):
            raise UsageError("--requisites and --depth do not apply to --media (yt-dlp fetches "
                             "what each post needs)")
        return CheckedOptions(crawl, browser, media, self.warc_size)


def capture_options(**given: Any) -> CaptureOptions:
    """The crawl's options from ``SnapshotOptions`` fields, checked (for programs that call
    the capture layer directly)."""
    return SnapshotOptions(**given).crawl()
