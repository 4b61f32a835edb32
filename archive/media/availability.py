"""Why a post could not be had, read from the platform's own answer (docs/FORMATS.md,
"Availability").

The evidence is the exchanges of the post's own proxy session: the status of the post URL
and of each redirect hop, a redirect to a login page, ``Retry-After``, the first bytes of
the error payload, and yt-dlp's error when the page itself came back fine. From those, one
class:

    available       media was captured
    removed         404 or 410 for the post, a 451 that names no place, or the platform's
                    error saying removed / deleted / taken down
    private         the platform says the post is private
    login-required  a redirect to a login page, 401, or an error asking to log in
    geo-blocked     451 or an error naming a country or region
    rate-limited    429, or 503 with Retry-After: a refusal of the recorder, not of the post
    blocked         403 with no other reason, or another refusal of the client
    unreachable     no HTTP answer at all (DNS, connection, TLS, time-out) or a 5xx
    no-media        the page came back and yt-dlp found no media in it
    error           anything else yt-dlp gave up on

Only ``removed`` and ``private`` say the post is gone (``TAKEDOWN``); a rate limit, a block,
a login wall or an unreachable host says nothing about the post and is never reported as a
takedown.

Threat: the payload is hostile. Only a bounded prefix is read (``EXCERPT_READ`` bytes of the
block, decompressed to at most ``EXCERPT_TEXT`` characters) and it is kept as text, never
parsed as markup or run.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

from archive.http import recorder
from archive.http.proxyrequest import url_key
from archive.warc.chunked import Dechunker

CLASSES = ("available", "removed", "private", "login-required", "geo-blocked", "rate-limited",
           "blocked", "unreachable", "no-media", "error")
TAKEDOWN = frozenset({"removed", "private"})
#: Refusals of the recorder, not answers about the post: a scheduled check that meets one is
#: a failed check (tried again next time), never a change or a takedown.
REFUSALS = frozenset({"rate-limited", "blocked", "unreachable", "error"})
EXCERPT_READ = 64 << 10
EXCERPT_TEXT = 2000
MAX_HOPS = 20

LOGIN_PATH = re.compile(r"/(log-?in|sign-?in|signin|login\.php|auth|accounts/login|session)"
                        r"(/|$|\?|\.)", re.I)
TEXT_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("private", re.compile(r"\bprivate\b", re.I)),
    ("geo-blocked", re.compile(r"\b(country|countries|region|geo[- ]?(block|restrict)\w*|"
                               r"your location)\b", re.I)),
    ("login-required", re.compile(r"\b(log ?in|sign ?in|logged in|authenticat\w*|cookies)\b",
                                  re.I)),
    ("rate-limited", re.compile(r"\b(rate[- ]?limit\w*|too many requests|slow down)\b", re.I)),
    ("removed", re.compile(r"\b(removed|deleted|taken down|no longer (available|exists)|"
                           r"does not exist|doesn't exist|not found|unavailable)\b", re.I)),
)


@dataclass
class Availability:
    """The class, the reason in words, and the raw answer it was read from."""

    state: str
    reason: str
    status: int | None = None
    url: str | None = None  # the URL whose answer decided
    location: str | None = None
    retry_after: str | None = None
    excerpt: str | None = None
    ytdlp_error: str | None = None
    hops: list[dict[str, Any]] = field(default_factory=list)

    @property
    def takedown(self) -> bool:
        return self.state in TAKEDOWN

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"state": self.state, "reason": self.reason,
                               "takedown": self.takedown, "status": self.status,
                               "url": self.url, "hops": self.hops}
        for key, value in (("location", self.location), ("retryAfter", self.retry_after),
                           ("payloadExcerpt", self.excerpt), ("ytDlpError", self.ytdlp_error)):
            if value is not None:
                out[key] = value
        return out


def chain(post_url: str, exchanges: Sequence[recorder.Exchange]) -> list[recorder.Exchange]:
    """The post URL's first exchange and the redirects it led to, as the session saw them."""
    by_url: dict[str, recorder.Exchange] = {}
    for ex in exchanges:
        by_url.setdefault(url_key(ex.url), ex)
    hops: list[recorder.Exchange] = []
    url = post_url
    while len(hops) < MAX_HOPS:
        found = by_url.get(url_key(url))
        if found is None or found in hops:
            break
        ex = found
        hops.append(ex)
        location = ex.header(b"location")
        if ex.status is None or not 300 <= ex.status < 400 or not location:
            break
        url = urljoin(ex.url, location.decode("latin-1").strip())
    return hops


def excerpt(ex: recorder.Exchange) -> str | None:
    """The first characters of the response body, transfer- and content-decoded, as text."""
    block = ex.response
    if block is None or block.payload_offset is None:
        return None
    raw = bytearray()
    for chunk in block.iter_chunks():
        raw += chunk
        if len(raw) >= block.payload_offset + EXCERPT_READ:
            break
    body = bytes(raw[block.payload_offset:block.payload_offset + EXCERPT_READ])
    if (ex.header(b"transfer-encoding") or b"").strip().lower() == b"chunked":
        body = Dechunker().feed(body)
    coding = (ex.header(b"content-encoding") or b"").strip().lower()
    if coding in (b"gzip", b"x-gzip", b"deflate"):
        try:
            wbits = 47 if coding != b"deflate" else 15
            body = zlib.decompressobj(wbits).decompress(body, EXCERPT_TEXT * 4)
        except zlib.error:
            return f"(a {coding.decode()} body that does not decompress)"
    elif coding not in (b"", b"identity"):
        return f"(a body in {coding.decode('latin-1')} coding, not decoded)"
    text = " ".join(body.decode("utf-8", "replace").split())
    return text[:EXCERPT_TEXT] or None


def _header(ex: recorder.Exchange, name: bytes) -> str | None:
    value = ex.header(name)
    return value.decode("latin-1")[:500] if value is not None else None


def _by_text(text: str) -> str | None:
    for state, pattern in TEXT_RULES:
        if pattern.search(text):
            return state
    return None


def classify(post_url: str, exchanges: Sequence[recorder.Exchange], *, captured: bool,
             ytdlp_error: str | None, error_class: str | None = None) -> Availability:
    """The post's availability from its session's exchanges and yt-dlp's error."""
    hops = chain(post_url, exchanges)
    listed = [{"url": ex.url, "status": ex.status, "error": ex.error} for ex in hops]
    if captured:
        final = hops[-1] if hops else None
        return Availability("available", "media captured", final.status if final else None,
                            final.url if final else post_url, hops=listed)
    found = Availability("error", "yt-dlp gave up", ytdlp_error=ytdlp_error, hops=listed)
    for ex in hops:
        location = ex.header(b"location")
        if location and ex.status and 300 <= ex.status < 400:
            target = urljoin(ex.url, location.decode("latin-1").strip())
            if LOGIN_PATH.search(urlsplit(target).path + "?"):
                return _from(found, ex, "login-required",
                             f"the post redirects to a login page ({target})")
    final = hops[-1] if hops else None
    if final is None or final.status is None:
        why = (final.error if final else None) or ytdlp_error or "no answer"
        if final is not None:
            return _from(found, final, "unreachable", f"no HTTP answer: {why}")
        found.state, found.reason = "unreachable", f"no HTTP answer: {why}"
        return found
    return _from_status(found, final, error_class)


def _from_status(found: Availability, ex: recorder.Exchange,
                 error_class: str | None) -> Availability:
    status = ex.status or 0
    text = excerpt(ex) or ""
    said = _by_text(text)
    if status == 429:
        return _from(found, ex, "rate-limited", "429 Too Many Requests")
    if status == 503 and ex.header(b"retry-after"):
        return _from(found, ex, "rate-limited", "503 with Retry-After")
    if status == 401:
        return _from(found, ex, "login-required", "401 Unauthorized")
    if status in (404, 410):
        return _from(found, ex, "removed", f"{status} for the post")
    if status == 451:
        if said == "geo-blocked":
            return _from(found, ex, "geo-blocked", "451, the payload names a place")
        return _from(found, ex, "removed", "451 Unavailable For Legal Reasons")
    if status == 403:
        if said in ("private", "geo-blocked", "login-required"):
            return _from(found, ex, said, f"403, the payload says {said}")
        return _from(found, ex, "blocked", "403 Forbidden, no reason given")
    if status >= 500:
        return _from(found, ex, "unreachable", f"{status} from the platform")
    if status >= 400:
        return _from(found, ex, said or "blocked", f"{status} for the post")
    # the page came back: the answer is in yt-dlp's words (the platform's API error)
    words = found.ytdlp_error or ""
    if error_class == "GeoRestrictedError":
        return _from(found, ex, "geo-blocked", "yt-dlp: geo restricted")
    if re.search(r"unsupported url|no video formats|no media", words, re.I):
        return _from(found, ex, "no-media", "the page holds no media yt-dlp can find")
    said = _by_text(words)
    if said is not None:
        return _from(found, ex, said, f"yt-dlp: {said}")
    return _from(found, ex, "error", "yt-dlp gave up")


def _from(found: Availability, ex: recorder.Exchange, state: str, reason: str) -> Availability:
    found.state, found.reason = state, reason
    found.status, found.url = ex.status, ex.url
    found.location = _header(ex, b"location")
    found.retry_after = _header(ex, b"retry-after")
    found.excerpt = excerpt(ex) if ex.status is not None else None
    return found
