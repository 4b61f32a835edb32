"""How a page came to show what it shows: the main frame's navigation chain (docs/FORMATS.md,
"Browser captures").

Threat: a page navigates by itself (a script sets ``location``, a meta refresh, a form, the
history API) after it was requested, so the screenshot shows page B while the URL given was
A. A banner or a report naming A above B's pixels would attribute B's content to A. So the
chain is recorded from Chromium's own events, not from what the page says: every document
request of the main frame (``page.on("request")``, navigation requests only) and every
change of its URL without a new document (``page.on("framenavigated")``), each with how it
came (``how``):

- ``requested``: the URL prov asked for;
- ``redirect``: an HTTP redirect of the step before;
- ``page``: a new document the page itself navigated to (script, meta refresh, form);
- ``same-document``: the URL changed without a new document (history API, fragment).

The chain is bounded (``MAX_STEPS``; ``more`` counts the rest): a page that navigates
forever cannot grow it without end. It is cut at the URL the screenshot shows: steps after
it (a navigation requested but not yet shown when the page was captured) are kept apart, in
``after``, so a banner never names a page that is not the one under it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urldefrag

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Frame, Page, Request

MAX_STEPS = 100


class NavigationChain:
    """The main frame's steps, in the order Chromium reported them."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.steps: list[dict[str, str]] = []
        self.more = 0
        page.on("request", self._request)
        page.on("framenavigated", self._navigated)

    def _add(self, url: str, how: str) -> None:
        if len(self.steps) >= MAX_STEPS:
            self.more += 1
        else:
            self.steps.append({"url": url, "how": how})

    def _request(self, request: Request) -> None:
        try:
            main = request.is_navigation_request() and request.frame == self.page.main_frame
        except PlaywrightError:  # a worker's request has no frame
            return
        if main:
            how = ("requested" if not self.steps and not self.more else
                   "redirect" if request.redirected_from is not None else "page")
            self._add(request.url, how)

    def _navigated(self, frame: Frame) -> None:
        if frame != self.page.main_frame or not self.steps or self.more:
            return
        if urldefrag(frame.url)[0] != urldefrag(self.steps[-1]["url"])[0]:
            self._add(frame.url, "same-document")
        elif frame.url != self.steps[-1]["url"] and self.steps[-1]["how"] == "same-document":
            self.steps[-1]["url"] = frame.url  # only its fragment moved since

    def shown(self, url: str | None) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
        """The steps up to the last one at ``url`` (the URL shown), and those after it; all
        steps when ``url`` is None or not among them."""
        key = urldefrag(url)[0] if url is not None else None
        for index in range(len(self.steps) - 1, -1, -1):
            if urldefrag(self.steps[index]["url"])[0] == key:
                return self.steps[: index + 1], self.steps[index + 1:]
        return self.steps, []

    def as_json(self, url: str | None) -> dict[str, Any]:
        """``steps`` to the URL shown, ``after`` it, and ``more`` past ``MAX_STEPS``."""
        steps, after = self.shown(url)
        return {"steps": steps, "after": after, "more": self.more}


def documents(steps: list[dict[str, str]]) -> list[str]:
    """The URLs of the main frame's document requests among ``steps``, in order."""
    return [s["url"] for s in steps if s["how"] != "same-document"]


def describe(chain: dict[str, Any]) -> str:
    """One line for a banner or a summary, from ``as_json``: ``A → B (redirect) → C (page)``
    (``… N more`` when the shown step is past ``MAX_STEPS``)."""
    steps = chain["steps"]
    parts = [steps[0]["url"]] if steps else []
    parts += [f"{s['url']} ({s['how']})" for s in steps[1:]]
    if chain["more"] and not chain["after"]:
        parts.append(f"… {chain['more']} more")
    return " → ".join(parts)
