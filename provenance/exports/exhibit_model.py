"""The exhibit report's model: what is shown of each capture (its exchanges, seeds,
screenshots, change and takedown events) and of each URL over the captures, built by
``provenance.exports.exhibit`` and rendered by ``provenance.exports.exhibit_html``
(docs/FORMATS.md, "Exhibit report").

Threat: as ``provenance.exports.exhibit``: a screenshot is read from its record, with a size
cap, only when the report shows it.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass, field

from archive.errors import ProvError
from archive.warc.reader import WarcReader
from provenance.exports.common import CaptureParts
from provenance.exports.exhibit_media import MediaView
from provenance.signing.statements import Entry

MAX_SCREENSHOT = 32 << 20


@dataclass
class Exchange:
    url: str
    date: str = ""
    status: str = ""
    ip: str = ""
    location: str | None = None
    payload_digest: str = ""
    tls_subject: str = ""
    tls_issuer: str = ""
    error: str = ""
    revisit: bool = False

    @property
    def code(self) -> str:
        """The status code ("301"), or "" when there was no response."""
        parts = self.status.split(" ")
        return parts[1] if len(parts) > 1 and parts[1].isdigit() else ""


@dataclass(frozen=True)
class Shot:
    """A screenshot record, located in the first pass and read when the report is written."""

    url: str  # the page it shows, as the capture was given it
    kind: str  # fullPage or view
    warc: str  # file name in the capture folder
    offset: int  # of its gzip member
    content_type: str


@dataclass
class SeedView:
    """One URL the capture was asked for."""

    url: str
    hops: list[Exchange]  # the URL's exchange, then each redirect target's, as recorded
    title: str | None = None
    shot: Shot | None = None
    final_url: str | None = None  # where the exchanges end, or where the browser said
    landing: Exchange | None = None  # the response recorded for final_url, if any
    page_error: str | None = None  # what the browser said went wrong with the page

    @property
    def first(self) -> Exchange | None:
        return self.hops[0] if self.hops else None

    @property
    def final(self) -> Exchange | None:
        """The response the URL ended at: the one recorded for the final URL (a browser may
        have got there by script, not by an HTTP redirect), else the last hop."""
        return self.landing or (self.hops[-1] if self.hops else None)

    @property
    def redirected(self) -> bool:
        return len(self.hops) > 1 or (self.final_url or self.url) != self.url


@dataclass(frozen=True)
class Event:
    """A change or takedown entry about a capture."""

    seq: int
    time: str
    action: str
    url: str
    status: str
    final_url: str
    what: str  # the reason of a takedown, or the changes seen
    previous: str  # the capture it was compared with


@dataclass
class CaptureView:
    parts: CaptureParts
    seal_sha256: str
    seeds: list[SeedView]
    stamps: list[tuple[str, str]]  # (TSA, genTime) or (TSA, "pending: error")
    entries: list[Entry]
    files: list[tuple[str, str]] = field(default_factory=list)  # (path in the case, sha256)
    media: list[MediaView] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    other_shots: list[Shot] = field(default_factory=list)  # of pages no seed names

    @property
    def note(self) -> str | None:
        note = self.parts.seal.note
        return str(note) if note else None


@dataclass(frozen=True)
class UrlSummary:
    """One row of the summary: a URL over the captures of the report."""

    url: str
    first: tuple[int, CaptureView]  # (capture number in the report, capture)
    last: tuple[int, CaptureView]
    now: SeedView  # the URL at its last capture
    takedown: Event | None  # a takedown detected at its last capture


def read_block(reader: WarcReader, limit: int) -> bytes | None:
    data = bytearray()
    for chunk in reader.iter_block(1 << 20):
        data += chunk
        if len(data) > limit:
            return None
    return bytes(data)


def screenshot_uri(parts: CaptureParts, shot: Shot) -> str | None:
    """The screenshot as a ``data:`` URI, read from its record now; None if it is larger
    than the cap or cannot be read (a damaged WARC of a failed case)."""
    try:
        with parts.open(shot.warc) as fh:
            fh.seek(shot.offset)
            reader = WarcReader(fh)
            for _head in reader:
                image = read_block(reader, MAX_SCREENSHOT)
                if not image:
                    return None
                return f"data:{shot.content_type};base64,{base64.b64encode(image).decode()}"
    except (ProvError, OSError):
        return None
    return None


def iter_sha256sum(item: CaptureView) -> Iterator[str]:
    """The capture's files as ``sha256sum`` lines, paths relative to the case folder."""
    for name, digest in item.files:
        yield f"{digest}  {name}"
