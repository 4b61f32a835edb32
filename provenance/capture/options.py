"""The options of a capture, checked once for every caller (the CLI, ``schedule`` and programs).

Each builder checks its values and what the machine needs (yt-dlp, Playwright, Chromium) before
anything runs: ``UsageError`` names a bad value, ``ConfigError`` a missing component with the
install hint. The archive layer's option objects are imported only here, when asked for, so
``prov verify`` never loads the crawler or the browser.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from archive.errors import ConfigError, UsageError
from provenance import __version__
from provenance.base.install import install_hint
from provenance.base.untrusted import read_named

if TYPE_CHECKING:
    from archive.browser.capture import BrowserOptions
    from archive.http.crawl import CaptureOptions
    from archive.media.capture import MediaOptions


def media_options(*, comments: bool = False) -> MediaOptions:
    """Checked media-capture options: ``ConfigError`` when yt-dlp is missing."""
    try:
        import yt_dlp  # noqa: F401

        from archive.media.capture import MediaOptions
    except ImportError as exc:
        raise ConfigError(f"media capture needs the yt-dlp package: {exc}",
                          hint=install_hint("media")) from None
    return MediaOptions(comments=comments)


MAX_STORAGE_STATE = 64 << 20


def browser_options(*, page_timeout: float = 60.0, concurrency: int = 2,
                    scroll_steps: int = 20, storage_state: Path | None = None) -> BrowserOptions:
    """Checked browser-capture options: ``UsageError`` naming a bad one, ``ConfigError`` when
    Playwright or Chromium is missing."""
    if page_timeout <= 0 or concurrency <= 0 or scroll_steps < 0:
        raise UsageError("--page-timeout and --concurrency must be positive, --scroll-steps "
                         "not negative")
    if storage_state is not None:
        _check_storage_state(storage_state)
    try:
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


def capture_options(*, timeout: float = 30.0, max_body: int = 1 << 30, max_redirects: int = 10,
                    concurrency: int = 16, per_host: int = 4, delay: float = 0.0,
                    retries: int = 2, total_timeout: float | None = None,
                    requisites: bool = False, depth: int = 0, scope: str = "host",
                    include: Sequence[str] = (), exclude: Sequence[str] = (),
                    via: str | None = None, ca_file: Path | None = None,
                    insecure_skip_tls_verify: bool = False,
                    allow_private_addresses: bool = False) -> CaptureOptions:
    """Checked capture options; ``UsageError`` naming the bad one."""
    from archive.http.crawl import CaptureOptions
    from archive.http.recorder import FetchLimits
    from archive.http.scope import Scope
    from archive.http.via import parse_via

    if min(timeout, max_body, max_redirects + 1, concurrency, per_host) <= 0 or min(
            delay, retries, depth) < 0:
        raise UsageError("--timeout, --max-body, --concurrency and --per-host must be positive; "
                         "--delay, --retries, --depth and --max-redirects not negative")
    try:
        Scope(scope, include, exclude)
        if via:
            parse_via(via)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if ca_file is not None and not ca_file.is_file():
        raise UsageError(f"--ca-file {ca_file}: no such file")
    return CaptureOptions(
        limits=FetchLimits(timeout=timeout, max_body=max_body,
                           user_agent=f"prov/{__version__}"),
        max_redirects=max_redirects, concurrency=concurrency, per_host=per_host, delay=delay,
        retries=retries, total_timeout=total_timeout, requisites=requisites, depth=depth,
        scope=scope, include=tuple(include), exclude=tuple(exclude), via=via,
        ca_file=ca_file, insecure_skip_tls_verify=insecure_skip_tls_verify,
        allow_private_addresses=allow_private_addresses)
