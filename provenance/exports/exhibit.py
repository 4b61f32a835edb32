"""The exhibit report: what a court needs to know about each capture, gathered from the
sealed WARC records (WARC 1.1) and the custody log, for ``provenance.exports.exhibit_html``
to render as one self-contained HTML file (docs/FORMATS.md, "Exhibit report").

First a summary of every URL the chosen captures were asked for: its first and last capture
and its status at the last one (with a takedown detected there). Per capture: its seal
(sha256, signer, times, the note sealed with it), trusted timestamps (TSA, genTime), the
table of its URLs (status of the first response as recorded, so a 301 shows as 301, and the
final URL with its status after the redirects recorded in the capture), then per URL its
server address, TLS subject and issuer (from the exchange metadata record), payload digest,
page title and its own screenshot (the ``urn:fullPage:`` or ``urn:view:`` resource record
naming that URL, as browsertrix names them), the media of a media capture
(``provenance.exports.exhibit_media``), the change and takedown entries about the capture (URL,
status, time), and its sealed files named by path in the case, as ``sha256sum -c`` reads them.

Threat: the case may have been written by an attacker (a report of a failed case is allowed
with ``--allow-failed``; a file may change after the gate). Every file is opened with
``provenance.base.untrusted`` (regular file, no symlink followed), every JSON document parsed by
its bounded reader, every record read with a size cap; screenshots are located in the first
pass and read one at a time while the report is written, so memory follows the largest
screenshot, not the case.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from cryptography import x509

from archive.errors import ProvError, UsageError, WarcFormatError
from archive.warc.reader import WarcReader
from provenance.base.untrusted import load_json
from provenance.capture.resources import MAX_METADATA
from provenance.custody.case import Case
from provenance.custody.log import iter_log_entries
from provenance.custody.stamping import Stamper
from provenance.exports.common import CaptureParts, capture_seeds, gate, log_export, select
from provenance.exports.exhibit_html import render
from provenance.exports.exhibit_media import scan as scan_media
from provenance.exports.exhibit_model import (
    CaptureView,
    Event,
    Exchange,
    SeedView,
    Shot,
    UrlSummary,
    read_block,
)
from provenance.signing.keys import SigningKey
from provenance.signing.statements import Entry

MAX_HEAD = 64 << 10
MAX_HOPS = 20
IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp")
SHOT_KINDS = ("fullPage", "view")  # preferred first
EVENTS = {"takedown-detected": "Takedown detected", "change-detected": "Change detected"}


def export(case: Case, capture_ids: Sequence[str], out: Path, key: SigningKey, at: datetime, *,
           allow_failed: bool = False, stamper: Stamper | None = None) -> Path:
    """Verify the case (the gate), write the report, and log an ``export`` entry for it."""
    if out.exists() or out.suffix.lower() not in (".html", ".htm"):
        raise UsageError(f"-o {out}: " + ("already exists" if out.exists() else
                                          "the report is an HTML file: name it *.html"))
    verdict = gate(case, allow_failed)
    selected = select(case, capture_ids)
    about, founding = entries_about(iter_log_entries(case), selected)
    views = [view(p, about[p.capture_id]) for p in selected]
    digest = hashlib.sha256()
    tmp = out.with_name(out.name + ".partial")
    try:
        with open(tmp, "wb") as fh:
            for piece in render(case, views, summarise(views), iter_log_entries(case),
                                verdict, key, at, founding):
                data = piece.encode()
                digest.update(data)
                fh.write(data)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    log_export(case, stamper, key, at, {
        "kind": "report", "captures": [v.parts.capture_id for v in views],
        "destination": out.name, "manifestSha256": digest.hexdigest(),
        "verification": verdict.as_json()["result"]})
    return out


def entries_about(entries: Iterable[Entry], selected: Sequence[CaptureParts]
                  ) -> tuple[dict[str, list[Entry]], str]:
    """One pass over the log: the entries about each selected capture (by capture id), and
    the founding key. Only those entries are kept, never the whole log."""
    about: dict[str, list[Entry]] = {p.capture_id: [] for p in selected}
    founding = ""
    for e in entries:
        if e.action == "init" and not founding:
            founding = e.actor
        for parts in selected:
            if any(s.name.startswith(parts.capture_dir + "/") for s in e.subjects) or (
                    parts.capture_id in _listed(e.details.get("captures"))):
                about[parts.capture_id].append(e)
    return about, founding


def view(parts: CaptureParts, about: list[Entry]) -> CaptureView:
    """What the report shows of one capture; ``about``: its entries (``entries_about``)."""
    seal_rel = parts.seal_rel
    stamps = [(str(e.details.get("tsa")), str(e.details.get("genTime"))
               if e.action == "timestamp-added" else f"pending: {e.details.get('error')}")
              for e in about if e.action in ("timestamp-added", "timestamp-pending")
              and e.details.get("stamped") == seal_rel]
    scan = _scan(parts)
    seeds = [_seed(url, scan) for url in capture_seeds(parts) or sorted(scan.exchanges)[:1]]
    shown = {s.shot for s in seeds}
    files = [(f"{parts.capture_dir}/{s.name}", s.sha256.hex()) for s in parts.seal.subjects]
    files.append((seal_rel, hashlib.sha256(parts.seal_bytes).hexdigest()))
    media = scan_media(parts) if any(e.details.get("media") for e in about
                                     if e.action == "capture") else []
    events = [_event(e) for e in about if e.action in EVENTS]
    return CaptureView(parts, hashlib.sha256(parts.seal_bytes).hexdigest(), seeds, stamps,
                       about, files, media, events,
                       [shot for shot in scan.shots.values() if shot not in shown])


def _listed(value: object) -> list[object]:
    return value if isinstance(value, list) else []


def _event(entry: Entry) -> Event:
    details = entry.details
    changes = details.get("changes")
    what = str(details.get("reason") or "") or "; ".join(
        str(c) for c in (changes if isinstance(changes, list) else [])[:20])
    return Event(entry.seq, entry.time, entry.action, str(details.get("url") or ""),
                 str(details.get("status") or ""), str(details.get("finalUrl") or ""), what,
                 str(details.get("previousCaptureId") or ""))


def summarise(views: Sequence[CaptureView]) -> list[UrlSummary]:
    """Every URL the captures were asked for, in the order first met: its first and last
    capture in the report and how it stood at the last."""
    seen: dict[str, tuple[tuple[int, CaptureView], tuple[int, CaptureView], SeedView]] = {}
    for number, item in enumerate(views, 1):
        for seed in item.seeds:
            first = seen[seed.url][0] if seed.url in seen else (number, item)
            seen[seed.url] = (first, (number, item), seed)
    rows = []
    for url, (first, last, now) in seen.items():
        takedown = next((ev for ev in reversed(last[1].events)
                         if ev.action == "takedown-detected" and ev.url == url), None)
        rows.append(UrlSummary(url, first, last, now, takedown))
    return rows


@dataclass
class _Scan:
    exchanges: dict[str, Exchange] = field(default_factory=dict)  # by URL, the first of each
    pages: dict[str, dict[str, Any]] = field(default_factory=dict)  # urn:pageinfo: by URL
    shots: dict[str, Shot] = field(default_factory=dict)  # by URL, fullPage before view


def _scan(parts: CaptureParts) -> _Scan:
    """Responses by URL, their metadata, the browser's page records, where screenshots are."""
    found = _Scan()
    by_id: dict[str, Exchange] = {}
    meta: dict[str, dict[str, Any]] = {}
    for name in parts.warcs:
        with parts.open(name) as fh, contextlib.suppress(WarcFormatError):
            reader = WarcReader(fh)  # a damaged WARC (--allow-failed): what can be read
            for head in reader:
                uri = head.get("WARC-Target-URI") or ""
                kind = (head.get("Content-Type") or "").split(";")[0].strip().lower()
                if head.warc_type in ("response", "revisit") and uri not in found.exchanges:
                    ex = _exchange(uri, head.get("WARC-Date") or "", reader)
                    ex.ip = head.get("WARC-IP-Address") or ""
                    ex.payload_digest = head.get("WARC-Payload-Digest") or ""
                    ex.revisit = head.warc_type == "revisit"
                    found.exchanges[uri] = by_id[head.record_id] = ex
                elif head.warc_type == "metadata" and kind == "application/json":
                    _metadata(head, reader, uri, found, meta)
                elif head.warc_type == "resource" and kind in IMAGE_TYPES:
                    scheme, _, rest = uri.partition(":")
                    shot_kind, _, page = rest.partition(":")
                    held = found.shots.get(page)
                    if scheme == "urn" and shot_kind in SHOT_KINDS and (
                            held is None or SHOT_KINDS.index(shot_kind) <
                            SHOT_KINDS.index(held.kind)):
                        found.shots[page] = Shot(page, shot_kind, name, head.offset, kind)
    for record_id, doc in meta.items():
        if record_id in by_id:
            _add_meta(by_id[record_id], doc)
    return found


def _metadata(head: Any, reader: WarcReader, uri: str, found: _Scan,
              meta: dict[str, dict[str, Any]]) -> None:
    block = read_block(reader, MAX_METADATA)
    try:
        doc = load_json(block, what=f"metadata {uri}", limit=MAX_METADATA) if block else None
    except ProvError:
        doc = None
    if not isinstance(doc, dict):
        return
    target = head.get("WARC-Concurrent-To") or ""
    if uri.startswith("urn:pageinfo:"):
        found.pages.setdefault(uri.removeprefix("urn:pageinfo:"), doc)
    elif target:
        meta[target] = doc
    elif uri.startswith("http"):
        found.exchanges.setdefault(uri, Exchange(uri, head.get("WARC-Date") or "",
                                                 error=str(doc.get("error") or "no response")))


def _exchange(uri: str, date: str, reader: WarcReader) -> Exchange:
    buf = b""
    for chunk in reader.iter_block(16 << 10):
        buf += chunk
        if b"\r\n\r\n" in buf or len(buf) >= MAX_HEAD:
            break
    lines = buf[:MAX_HEAD].split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    ex = Exchange(uri, date, status=lines[0] if lines else "")
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "location":
            ex.location = value.strip()
    return ex


def _add_meta(ex: Exchange, doc: dict[str, Any]) -> None:
    tls = doc.get("tls")
    chain = tls.get("chainSent") if isinstance(tls, dict) else None
    if isinstance(chain, list) and chain:
        try:
            leaf = x509.load_pem_x509_certificate(str(chain[0]).encode())
            ex.tls_subject = leaf.subject.rfc4514_string()
            ex.tls_issuer = leaf.issuer.rfc4514_string()
        except ValueError:
            ex.tls_subject = "(certificate not readable)"
    if doc.get("error"):
        ex.error = str(doc["error"])


def _seed(url: str, scan: _Scan) -> SeedView:
    """The exchanges a seed went through to its final response (its redirects, within the
    capture), and what the browser recorded of it as a page."""
    hops: list[Exchange] = []
    current = scan.exchanges.get(url)
    while current is not None and len(hops) <= MAX_HOPS:
        hops.append(current)
        if not (current.location and current.code.startswith("3")):
            break
        nxt = urljoin(current.url, current.location)
        if any(h.url == nxt for h in hops):
            break
        current = scan.exchanges.get(nxt)
    page = scan.pages.get(url, {})
    title = page.get("title")
    final_url = page.get("finalUrl") if isinstance(page.get("finalUrl"), str) else None
    if final_url is None and hops:
        final_url = urljoin(hops[-1].url, hops[-1].location) if (
            hops[-1].location and hops[-1].code.startswith("3")) else hops[-1].url
    error = page.get("error")
    return SeedView(url, hops, str(title) if isinstance(title, str) and title else None,
                    scan.shots.get(url), final_url,
                    scan.exchanges.get(final_url) if final_url else None,
                    str(error) if error else None)


