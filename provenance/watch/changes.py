"""What changed between two snapshots of a source, and whether it was taken down.

A snapshot of a source is summed up as a ``Fingerprint``: the redirect chain and final
status, the decoded-body sha256 (``decodedBodySha256``, as deduplication compares), the
visible text of an HTML page (parsed by lexbor through selectolax: script, style, template
and the like left out, block elements on their own lines) and the digest of each requisite
the page names that the capture holds. ``compare`` lists the differences in words.

A requisite is compared only where both captures hold the server's answer for it: one that a
capture did not fetch (``--requisites`` off, a lazy image never scrolled to, a time limit) or
fetched without an answer (a reset, a refusal) says nothing about the server, so it is
``not_compared``, never a change. One that only one of the pages names was added or removed.

A browser capture keeps the DOM its page's scripts left (``urn:dom:``): its visible text, the
rendered text, is what a reader saw, and a post loaded by script changes only there (the
page's own bytes stay the same). It is compared when both snapshots have one ("rendered text
changed"), and the shrink and the shell phrase of a takedown are measured on it.

Removal is told apart from an ordinary edit (``takedown``), against the last snapshot in
which the source was available: an answer of 404, 410 or 451; a redirect that ends at a login
page or at the site's home page; or a page whose visible text shrank by more than half to a
"content unavailable" shell (a known phrase, or less than a tenth of the text it had).

For a source captured with yt-dlp (``media = true``), the platform's own answer decides
instead: the post's availability class (``archive.media.availability``) is a takedown only when it
is ``removed`` or ``private``; a rate limit, a block, a login wall or no answer never is. The
takedown names where the post was last seen and where it was first missing.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import webencodings  # type: ignore[import-untyped, unused-ignore]
from selectolax.lexbor import LexborHTMLParser, LexborNode

from archive.http.links import extract
from archive.media.availability import TAKEDOWN
from provenance.capture.resources import DOM_PREFIX, Body, Resource, read_body

REDIRECTS = frozenset({301, 302, 303, 307, 308})
GONE = frozenset({404, 410, 451})
MAX_HOPS = 20
ANSWERED = re.compile(r"HTTP [0-9]{3}")
HIDDEN = frozenset({"script", "style", "noscript", "template", "head", "svg", "iframe",
                    "object", "canvas", "-comment", "-doctype"})
BLOCKS = frozenset({"address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt",
                    "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6",
                    "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table",
                    "td", "th", "tr", "ul", "title", "body", "html"})
LOGIN = re.compile(r"(?:^|[/?&=])(?:log[-_]?in|sign[-_]?in|auth|sso|sessions?|"
                   r"accounts?/(?:login|signin))(?:[/_.?=&-]|$)", re.I)
UNAVAILABLE = ("content unavailable", "content isn't available", "content is not available",
               "content not available", "page isn't available", "page is not available",
               "no longer available", "has been removed", "has been deleted", "was removed",
               "was deleted", "account suspended", "has been suspended", "doesn't exist",
               "does not exist", "page not found", "post unavailable", "video unavailable",
               "not available in your country", "removed for violating", "withheld in")


@dataclass(frozen=True)
class Fingerprint:
    """One snapshot of one source, as change detection compares it."""

    capture_id: str
    capture_dir: str
    url: str
    final_url: str | None = None
    status: int | None = None
    error: str | None = None
    hops: tuple[str, ...] = ()
    digest: str | None = None
    content_type: str = ""
    text_sha256: str | None = None
    text_length: int = 0
    title: str = ""
    shell: str | None = None  # an "unavailable" phrase the visible text holds
    requisites: Mapping[str, str] = field(default_factory=dict)
    not_fetched: tuple[str, ...] = ()  # requisites the page names that the capture lacks
    rendered_sha256: str | None = None  # of the visible text of a browser page's DOM
    rendered_length: int = 0
    availability: str | None = None  # a media post's class (archive.media.availability)
    availability_reason: str | None = None
    at: str | None = None  # when the capture was made (the run, or the capture entry)
    media: tuple[str, ...] = ()  # sha256 of each media record of a media post

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["requisites"] = dict(self.requisites)
        out["hops"] = list(self.hops)
        out["media"] = list(self.media)
        out["not_fetched"] = list(self.not_fetched)
        return out

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Fingerprint:
        values = dict(doc)
        values["hops"] = tuple(values.get("hops", ()))
        values["media"] = tuple(values.get("media", ()))
        values["not_fetched"] = tuple(values.get("not_fetched", ()))
        return cls(**values)


def visible_text(data: bytes, content_type: str) -> tuple[str, str] | None:
    """(title, visible text) of an HTML or plain-text body; None for anything else."""
    mime, _, params = content_type.partition(";")
    mime = mime.strip().lower()
    charset = next((v.strip().strip("\"'") for k, _, v in (p.partition("=") for p in
                    params.split(";")) if k.strip().lower() == "charset"), None)
    encoding = webencodings.lookup(charset) if charset else None
    text = webencodings.decode(data, encoding or webencodings.UTF8)[0]
    if mime == "text/plain":
        return "", _tidy(text)
    if mime not in ("text/html", "application/xhtml+xml"):
        return None
    tree = LexborHTMLParser(text)
    title_node = tree.css_first("title")
    title = " ".join(title_node.text().split()) if title_node is not None else ""
    return title, _tidy(_text_of(tree.body) if tree.body is not None else "")


def _text_of(root: LexborNode) -> str:
    """Text of the visible nodes under ``root``, a line break around each block element.
    Depth first with an explicit stack: hostile nesting cannot overflow the call stack."""
    parts: list[str] = []
    stack: list[LexborNode | None] = [root]
    while stack:
        node = stack.pop()
        if node is None:
            parts.append("\n")
            continue
        tag = node.tag or ""
        if tag == "-text":
            parts.append(node.text_content or "")
            continue
        if tag in HIDDEN:
            continue
        if tag in BLOCKS:
            parts.append("\n")
            stack.append(None)
        children = []
        child = node.child
        while child is not None:
            children.append(child)
            child = child.next
        stack.extend(reversed(children))
    return "".join(parts)


def _tidy(text: str) -> str:
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


@dataclass
class Page:
    fingerprint: Fingerprint
    text: str | None  # visible text of the final page, when it has one
    rendered: str | None = None  # visible text of the DOM a browser left, when there is one


def final_resource(url: str, by_url: Mapping[str, Resource]) -> tuple[list[str], Resource | None]:
    """Follow the redirect chain of ``url`` through a capture: (hops after the first, last)."""
    hops: list[str] = []
    res = by_url.get(url)
    while res is not None and res.status in REDIRECTS and len(hops) < MAX_HOPS:
        location = res.header("location")
        target = urljoin(res.url, location) if location else None
        if target is None or target not in by_url or target in hops or target == url:
            break
        hops.append(target)
        res = by_url[target]
    return hops, res


def snapshot_page(case_root: Path, capture_id: str, capture_dir: str, url: str,
                  by_url: Mapping[str, Resource], hints: tuple[str, ...] = (),
                  sealed: Callable[[str], bool] | None = None) -> Page:
    """The fingerprint (and visible text) of source ``url`` in one capture; the bodies of
    revisits' originals only from folders ``sealed`` accepts, when given."""
    hops, res = final_resource(url, by_url)
    base = Fingerprint(capture_id, capture_dir, url)
    if res is None or res.status is None:
        error = res.error if res is not None else "not in the capture"
        return Page(Fingerprint(capture_id, capture_dir, url, error=error), None)
    body = read_body(case_root, capture_dir, res, hints, sealed)
    text = visible_text(body.data, body.content_type) if body is not None else None
    requisites, missing = _requisites(case_root, capture_dir, res, body, by_url, hints, sealed)
    rendered = rendered_text(case_root, capture_dir, url, by_url)
    lowered = (rendered if rendered is not None else text[1] if text else "").lower()
    fingerprint = Fingerprint(
        base.capture_id, base.capture_dir, url, res.url, res.status, res.error, tuple(hops),
        res.decoded, res.content_type,
        hashlib.sha256(text[1].encode()).hexdigest() if text else None,
        len(text[1]) if text else 0, text[0] if text else "",
        next((p for p in UNAVAILABLE if p in lowered), None), requisites,
        not_fetched=tuple(missing),
        rendered_sha256=None if rendered is None else
        "sha256:" + hashlib.sha256(rendered.encode()).hexdigest(),
        rendered_length=len(rendered) if rendered is not None else 0)
    return Page(fingerprint, text[1] if text else None, rendered)


def rendered_text(case_root: Path, capture_dir: str, url: str,
                  by_url: Mapping[str, Resource]) -> str | None:
    """The visible text of the DOM a browser capture left for ``url`` (its ``urn:dom:``
    record: the page as its scripts made it, what a reader saw); None when there is none."""
    dom = by_url.get(DOM_PREFIX + url)
    body = read_body(case_root, capture_dir, dom) if dom is not None else None
    text = visible_text(body.data, "text/html; charset=utf-8") if body is not None else None
    return text[1] if text is not None else None


def _requisites(case_root: Path, capture_dir: str, page: Resource, body: Body | None,
                by_url: Mapping[str, Resource], hints: tuple[str, ...],
                sealed: Callable[[str], bool] | None = None) -> tuple[dict[str, str], list[str]]:
    """Digest (or status, or error) of each requisite of the page that the capture holds, and
    of the requisites of its stylesheets; and the requisites it names that the capture lacks."""
    if body is None:
        return {}, []
    found: dict[str, str] = {}
    missing: dict[str, None] = {}
    todo = [(page.url, body)]
    while todo:
        base, parent = todo.pop()
        for url in extract(parent.data, parent.content_type, base).requisites:
            _, res = final_resource(url, by_url)
            if res is None:
                missing[url] = None
            if url in found or res is None:
                continue
            found[url] = (res.decoded or "?") if res.status == 200 else (
                f"HTTP {res.status}" if res.status else res.error or "failed")
            if base == page.url and res.content_type.lower().startswith("text/css"):
                css = read_body(case_root, capture_dir, res, hints, sealed)
                if css is not None:
                    todo.append((res.url, css))
    return found, [url for url in missing if url not in found]


@dataclass(frozen=True)
class Change:
    """The differences between two snapshots of one source."""

    url: str
    before: Fingerprint
    after: Fingerprint
    changes: tuple[str, ...]
    resources: tuple[tuple[str, str | None, str | None], ...]  # (url, before, after)
    takedown: str | None = None
    last_available: Fingerprint | None = None  # the measure of the takedown
    not_compared: tuple[str, ...] = ()  # requisites not fetched (or unanswered) in one capture

    @property
    def available(self) -> Fingerprint:
        return self.last_available or self.before

    @property
    def rendered(self) -> dict[str, Any] | None:
        """Both rendered texts (digest and length), when both snapshots have one."""
        if not rendered_pair(self.before, self.after):
            return None
        return {"before": {"sha256": self.before.rendered_sha256,
                           "length": self.before.rendered_length},
                "after": {"sha256": self.after.rendered_sha256,
                          "length": self.after.rendered_length}}

    def as_json(self) -> dict[str, Any]:
        return {"url": self.url, "fromCapture": self.before.capture_id,
                "toCapture": self.after.capture_id, "changes": list(self.changes),
                "takedown": self.takedown, "status": [self.before.status, self.after.status],
                "finalUrl": self.after.final_url,
                "resources": [{"url": u, "before": b, "after": a} for u, b, a in self.resources],
                "notCompared": list(self.not_compared), "renderedText": self.rendered}


def compare(before: Fingerprint, after: Fingerprint,
            available: Fingerprint | None = None) -> Change:
    """What differs from ``before`` to ``after``; ``available`` is the last snapshot in which
    the source was not taken down (``before`` if not given), the measure of a takedown."""
    lines: list[str] = []
    if before.availability != after.availability and after.availability is not None:
        lines.append(f"availability {before.availability} -> {after.availability}"
                     + (f" ({after.availability_reason})" if after.availability_reason else ""))
    if before.status != after.status:
        lines.append(f"status {before.status} -> {after.status}")
    if before.media and after.media and before.media != after.media:
        lines.append(f"media changed ({', '.join(before.media)} -> {', '.join(after.media)})")
    if before.final_url != after.final_url:
        lines.append(f"now ends at {after.final_url} (was {before.final_url})")
    if before.digest != after.digest:
        lines.append("content changed")
    if before.text_sha256 != after.text_sha256 and after.text_sha256 and before.text_sha256:
        lines.append(f"visible text changed ({before.text_length} -> {after.text_length} "
                     "characters)")
    if rendered_pair(before, after) and before.rendered_sha256 != after.rendered_sha256:
        lines.append(f"rendered text changed ({before.rendered_length} -> "
                     f"{after.rendered_length} characters)")
    if before.title != after.title:
        lines.append(f"title {before.title!r} -> {after.title!r}")
    resources, unknown = _requisite_changes(before, after)
    if resources:
        lines.append(f"{len(resources)} requisite(s) changed, added or removed")
    if before.digest != after.digest:
        resources.insert(0, (after.url, before.digest, after.digest))
    return Change(after.url, before, after, tuple(lines), tuple(resources),
                  takedown(available or before, after), available, tuple(unknown))


def rendered_pair(before: Fingerprint, after: Fingerprint) -> bool:
    """Whether both snapshots have a rendered text (both were loaded in a browser that kept
    the DOM): only then is it compared."""
    return before.rendered_sha256 is not None and after.rendered_sha256 is not None


def _requisite_changes(before: Fingerprint, after: Fingerprint
                       ) -> tuple[list[tuple[str, str | None, str | None]], list[str]]:
    """The requisites that differ, as (url, before, after), and those that cannot be compared:
    named by both pages but not fetched, or fetched without an answer, in one capture. A
    requisite only one page names was added or removed, and that is a change."""
    changed: list[tuple[str, str | None, str | None]] = []
    unknown: list[str] = []
    for url in sorted({*before.requisites, *after.requisites}):
        was, now = before.requisites.get(url), after.requisites.get(url)
        if was == now:
            continue
        if (url in before.not_fetched or url in after.not_fetched
                or (was is not None and not _answered(was))
                or (now is not None and not _answered(now))):
            unknown.append(url)
        else:
            changed.append((url, was, now))
    return changed, unknown


def _answered(value: str) -> bool:
    """Whether a requisite's value is the server's answer (a digest or a status), not the
    error of a fetch that got none."""
    return value == "?" or value.startswith("sha256:") or bool(ANSWERED.fullmatch(value))


def takedown(available: Fingerprint, after: Fingerprint) -> str | None:
    """Why ``after`` looks like the source was removed since ``available``; None if not."""
    if after.availability is not None:  # the platform's answer, classified, decides
        if after.availability not in TAKEDOWN or available.availability in TAKEDOWN:
            return None
        return (f"{after.availability}: last seen in capture {available.capture_id} at "
                f"{available.at or '(time unknown)'}, first missing in capture "
                f"{after.capture_id} at {after.at or '(time unknown)'}"
                + (f" ({after.availability_reason})" if after.availability_reason else ""))
    if after.status is None:
        return None  # no answer at all is a failed capture, not a takedown
    if after.status in GONE:
        return f"HTTP {after.status}"
    final = after.final_url or after.url
    if after.hops and _is_login(final) and not _is_login(available.final_url or ""):
        return f"redirected to a login page: {final}"
    if after.hops and _is_home(final) and not _is_home(after.url) and not _is_home(
            available.final_url or available.url):
        return f"redirected to the home page: {final}"
    was, now = available.text_length, after.text_length
    if rendered_pair(available, after):  # what a reader saw shrank, not the page's source
        was, now = available.rendered_length, after.rendered_length
    if was and now * 2 < was and (after.shell or now * 10 < was) and not available.shell:
        said = f", says {after.shell!r}" if after.shell else ""
        return f"page shrank to a content-unavailable shell ({was} -> {now} characters{said})"
    return None


def with_availability(fingerprint: Fingerprint, post: Mapping[str, Any] | None,
                      at: str | None) -> Fingerprint:
    """The fingerprint with a media post's availability (a capture entry's ``media`` row)
    and the time of its capture."""
    if post is None:
        return replace(fingerprint, at=at)
    state, reason = post.get("availability"), post.get("reason")
    files = post.get("media")
    media = tuple(str(f.get("sha256")) for f in files if isinstance(f, dict)) if isinstance(
        files, list) else ()
    return replace(fingerprint, at=at, availability=str(state) if state else None,
                   availability_reason=str(reason) if reason else None, media=media)


def _is_login(url: str) -> bool:
    parts = urlsplit(url)
    return bool(LOGIN.search(f"{parts.path}?{parts.query}"))


def _is_home(url: str) -> bool:
    parts = urlsplit(url)
    return parts.path in ("", "/") and not parts.query
