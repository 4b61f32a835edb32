"""What a case holds, URL by URL: ``prov captures list``, ``captures list --url`` and
``captures find`` (docs/FORMATS.md, "Capture listings").

Sources: the custody log (capture and capture-failed entries, parsed, not verified), each
capture's seal (its note and file names, parsed, not verified), the seed-list metadata record
(WARC 1.1 section 6.5, the second record of the first file) and the capture's sealed CDXJ
index (``archive.warc.cdxj``; a capture made before prov wrote one is indexed from its WARC
headers as it is read). Threat: a listing is a finding aid, not evidence. Whoever can write
to the case can make it lie; `prov verify` judges the same files and `prov extract` verifies
a capture before it writes anything out of it. A capture whose files cannot be read is listed
with the reason (``unreadable``), never a crash; files are opened as ``provenance.base.untrusted``
opens them (no symlink followed, no FIFO blocked on).
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from archive.errors import ProvError
from archive.warc.cdxj import IndexEntry, iter_entries, iter_index, lookup
from archive.warc.reader import WarcReader
from provenance.base.untrusted import load_json, open_regular, read_regular
from provenance.custody.case import SEAL_NAME, Case
from provenance.custody.log import detail_count, iter_log_entries
from provenance.errors import UntrustedInputError
from provenance.signing.dsse import MAX_ENVELOPE, parse_envelope
from provenance.signing.statements import CaptureSeal

INDEX_NAME = "index.cdxj"
MAX_SEEDS = 1 << 20  # the seed-list record's block
SEEDS_WITHIN = 4  # records at the start of the first WARC where the seed list must be
PAGE_VIEWS = ("urn:view:", "urn:fullPage:", "urn:dom:")  # browser resources named by a page
_WILDCARDS = frozenset("*?[")


@dataclass(frozen=True)
class Seed:
    """A URL as given to the capture, and what the capture holds for it."""

    url: str
    status: int | None
    payload_digest: str | None

    def as_json(self) -> dict[str, Any]:
        return {"url": self.url, "status": self.status, "payloadDigest": self.payload_digest}


@dataclass(frozen=True)
class CaptureListing:
    """One row of ``prov captures list``."""

    capture_id: str
    capture_dir: str
    logged_at: str
    urls: int
    failed: int
    note: str | None = None
    seeds: tuple[Seed, ...] = ()
    other_urls: int = 0
    unreadable: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"captureId": self.capture_id, "captureDir": self.capture_dir,
                "loggedAt": self.logged_at, "urls": self.urls, "failed": self.failed,
                "note": self.note, "seeds": [s.as_json() for s in self.seeds],
                "otherUrls": self.other_urls, "unreadable": self.unreadable}


@dataclass(frozen=True)
class Holding:
    """One record of a URL in a capture (or a fetch of it that got no answer)."""

    capture_id: str
    capture_dir: str
    logged_at: str
    url: str
    record_type: str  # response, revisit, resource, or failed
    status: int | None = None
    payload_digest: str | None = None
    file: str | None = None
    offset: int | None = None
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"captureId": self.capture_id, "captureDir": self.capture_dir,
                "loggedAt": self.logged_at, "url": self.url, "recordType": self.record_type,
                "status": self.status, "payloadDigest": self.payload_digest,
                "file": self.file, "offset": self.offset, "error": self.error}


@dataclass
class _Logged:
    capture_id: str
    capture_dir: str
    logged_at: str
    urls: int
    failed: int
    failures: list[tuple[str, str]] = field(default_factory=list)


def _logged(case: Case) -> list[_Logged]:
    """The logged captures in log order, with the failures their capture-failed entries list."""
    found: list[_Logged] = []
    failures: dict[str, list[tuple[str, str]]] = {}
    for entry in iter_log_entries(case):
        details = entry.details
        if entry.action == "capture":
            found.append(_Logged(str(details.get("captureId")), str(details.get("captureDir")),
                                 entry.time, detail_count(details.get("urls")),
                                 detail_count(details.get("failed"))))
        elif entry.action == "capture-failed" and isinstance(details.get("failures"), list):
            failures.setdefault(str(details.get("captureId")), []).extend(
                (str(row.get("url")), str(row.get("error")))
                for row in details["failures"] if isinstance(row, dict))
    for logged in found:
        logged.failures = failures.get(logged.capture_id, [])
    return found


def _status(entry: IndexEntry) -> int | None:
    return int(entry.status) if entry.status and entry.status.isdigit() else None


# -- reading one capture ---------------------------------------------------------------------


def _seal(folder: Path) -> CaptureSeal:
    data = read_regular(folder / SEAL_NAME, MAX_ENVELOPE, what=SEAL_NAME)
    return CaptureSeal.parse(parse_envelope(data, what=SEAL_NAME).payload, what=SEAL_NAME)


def _warcs(seal: CaptureSeal) -> list[str]:
    return sorted(s.name for s in seal.subjects if s.name in seal.records)


def _open(path: Path, what: str) -> Any:
    return os.fdopen(open_regular(path, what=what), "rb")


def _seed_urls(folder: Path, seal: CaptureSeal) -> list[str]:
    """The seed list: a metadata record among the first records of the first WARC file."""
    want = f"urn:prov:seeds:{seal.capture_id}"
    for name in _warcs(seal)[:1]:
        with _open(folder / name, name) as fh:
            reader = WarcReader(fh)
            for number, head in enumerate(reader):
                if number >= SEEDS_WITHIN:
                    break
                if head.warc_type == "metadata" and head.get("WARC-Target-URI") == want:
                    block = bytearray()
                    for chunk in reader.iter_block(1 << 16):
                        block += chunk
                        if len(block) > MAX_SEEDS:
                            return []
                    doc = load_json(bytes(block), what="seed list", limit=MAX_SEEDS)
                    seeds = doc.get("seeds") if isinstance(doc, dict) else None
                    return [s for s in seeds if isinstance(s, str)] if isinstance(
                        seeds, list) else []
    return []


def _iter_index(folder: Path, seal: CaptureSeal) -> Iterator[IndexEntry]:
    """The capture's index entries: its sealed CDXJ file, else read from its WARC files."""
    if INDEX_NAME in {s.name for s in seal.subjects}:
        with _open(folder / INDEX_NAME, INDEX_NAME) as fh:
            yield from iter_index(fh, folder / INDEX_NAME)
        return
    for name in _warcs(seal):
        _open(folder / name, name).close()  # a regular file, not a symlink
        yield from iter_entries(folder / name)


def _lookup(folder: Path, seal: CaptureSeal, urls: Sequence[str]) -> Iterator[IndexEntry]:
    """Entries whose URL is one of ``urls``: by binary search in the index where there is one."""
    wanted = set(urls)
    if INDEX_NAME not in {s.name for s in seal.subjects}:
        yield from (e for e in _iter_index(folder, seal) if e.url in wanted)
        return
    _open(folder / INDEX_NAME, INDEX_NAME).close()
    for url in dict.fromkeys(urls):
        yield from (e for e in lookup(folder / INDEX_NAME, url) if e.url == url)


def _listing(case: Case, logged: _Logged) -> CaptureListing:
    row = CaptureListing(logged.capture_id, logged.capture_dir, logged.logged_at, logged.urls,
                         logged.failed)
    folder = case.root / logged.capture_dir
    try:
        seal = _seal(folder)
        seeds = _seed_urls(folder, seal)
        last: dict[str, IndexEntry] = {}
        others, group_key = 0, ""
        group: set[str] = set()
        for entry in _iter_index(folder, seal):
            if not entry.url.startswith(("http:", "https:")):
                continue
            if entry.url in seeds:
                if entry.status or entry.url not in last:
                    last[entry.url] = entry
                continue
            if entry.surt != group_key:  # the index is sorted: one URL's lines are together
                group, group_key = set(), entry.surt
            if entry.url not in group:
                group.add(entry.url)
                others += 1
    except (ProvError, OSError, ValueError) as exc:
        return replace(row, unreadable=_reason(exc))
    shown = tuple(Seed(url, _status(e) if (e := last.get(url)) else None,
                       e.digest if e else None) for url in seeds)
    return replace(row, note=seal.note, seeds=shown, other_urls=others)


def _reason(exc: Exception) -> str:
    if isinstance(exc, UntrustedInputError | ProvError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


# -- the commands -----------------------------------------------------------------------------


def list_captures(case: Case) -> list[CaptureListing]:
    """Every logged capture, in log order, with its note, its seeds and how many other URLs."""
    return [_listing(case, logged) for logged in _logged(case)]


def url_matcher(pattern: str) -> Any:
    """``--url PATTERN``: a glob (``*``, ``?``, ``[...]``) over the whole URL; a pattern
    without one of those matches every URL that contains it."""
    if not _WILDCARDS & set(pattern):
        return lambda url: pattern in url
    return lambda url: fnmatch.fnmatchcase(url, pattern)


def find(case: Case, *, url: str | None = None, pattern: str | None = None) -> list[Holding]:
    """Every record of ``url`` (and of the screenshots and DOM of its page), or of every URL
    ``pattern`` matches, in every logged capture: newest capture first, and within one
    capture the later record first. Fetches that got no answer come from the capture-failed
    entry (``recordType`` ``failed``)."""
    matches = url_matcher(pattern) if pattern is not None else (lambda u: u == url)
    wanted = [url, *(view + url for view in PAGE_VIEWS)] if url is not None else []
    out: list[Holding] = []
    for logged in reversed(_logged(case)):
        folder = case.root / logged.capture_dir
        found: list[IndexEntry] = []
        with contextlib.suppress(ProvError, OSError, ValueError):
            seal = _seal(folder)
            entries = _lookup(folder, seal, wanted) if url is not None else _iter_index(
                folder, seal)
            found = [e for e in entries if url is not None or matches(e.url)]
        found.sort(key=lambda e: (e.filename, e.offset), reverse=True)
        out += [Holding(logged.capture_id, logged.capture_dir, logged.logged_at, e.url,
                        _record_type(e), _status(e), e.digest, e.filename, e.offset)
                for e in found]
        out += [Holding(logged.capture_id, logged.capture_dir, logged.logged_at, failed_url,
                        "failed", error=error)
                for failed_url, error in logged.failures if matches(failed_url)]
    return out


def _record_type(entry: IndexEntry) -> str:
    if entry.mime == "warc/revisit":
        return "revisit"
    return "response" if entry.url.startswith(("http:", "https:")) else "resource"
