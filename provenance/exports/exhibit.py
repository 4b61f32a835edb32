"""The exhibit report: what a court needs to know about each capture, gathered from the
sealed WARC records (WARC 1.1) and the custody log, for ``provenance.exports.exhibit_html`` to
render as one self-contained HTML file.

Per capture: its seal (sha256, signer, times), files and records root, trusted timestamps
(TSA, genTime), every seed URL with its final URL after redirects, status, server address,
TLS subject and issuer (the leaf the server sent, from the exchange metadata record), payload
digest, the screenshot if the capture has one (a ``urn:fullPage:`` or ``urn:view:`` resource
record, as browsertrix names them), the media of a media capture with its facts, a still frame
and the post's availability (``provenance.exports.exhibit_media``), and the custody entries about it
(a takedown among them). Every read is bounded.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from cryptography import x509

from archive.errors import UsageError, WarcFormatError
from archive.warc.reader import WarcReader
from provenance.custody.case import Case
from provenance.custody.stamping import Stamper
from provenance.exports.common import CaptureParts, capture_seeds, gate, log_export, select
from provenance.exports.exhibit_media import MediaView
from provenance.exports.exhibit_media import scan as scan_media
from provenance.signing.keys import SigningKey
from provenance.signing.statements import Entry

MAX_HEAD = 64 << 10
MAX_METADATA = 4 << 20
MAX_SCREENSHOT = 32 << 20
IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp")


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


@dataclass
class SeedView:
    url: str
    final: Exchange | None
    hops: list[str]


@dataclass
class CaptureView:
    parts: CaptureParts
    seal_sha256: str
    seeds: list[SeedView]
    stamps: list[tuple[str, str]]  # (TSA, genTime) or (TSA, "pending: error")
    entries: list[Entry]
    screenshot: tuple[str, str] | None = None  # (URL it shows, data: URI)
    files: list[tuple[str, str]] = field(default_factory=list)  # (name, sha256 hex)
    media: list[MediaView] = field(default_factory=list)


def export(case: Case, capture_ids: Sequence[str], out: Path, key: SigningKey, at: datetime, *,
           allow_failed: bool = False, stamper: Stamper | None = None) -> Path:
    """Verify the case (the gate), write the report, and log an ``export`` entry for it."""
    from provenance.api import read_entries
    from provenance.exports.exhibit_html import render

    if out.exists() or out.suffix.lower() not in (".html", ".htm"):
        raise UsageError(f"-o {out}: " + ("already exists" if out.exists() else
                                          "the report is an HTML file: name it *.html"))
    verdict = gate(case, allow_failed)
    entries = read_entries(case)
    views = [view(p, entries) for p in select(case, capture_ids)]
    founding = next((e.actor for e in entries if e.action == "init"), "")
    data = render(case, views, entries, verdict, key, at, founding).encode()
    tmp = out.with_name(out.name + ".partial")
    tmp.write_bytes(data)
    os.replace(tmp, out)
    log_export(case, stamper, key, at, {
        "kind": "report", "captures": [v.parts.capture_id for v in views],
        "destination": out.name, "manifestSha256": hashlib.sha256(data).hexdigest(),
        "verification": verdict.as_json()["result"]})
    return out


def view(parts: CaptureParts, entries: Sequence[Entry]) -> CaptureView:
    seal_rel = parts.seal_rel
    about = [e for e in entries if any(s.name.startswith(parts.capture_dir + "/")
                                       for s in e.subjects)
             or parts.capture_id in (e.details.get("captures") or [])]
    stamps = [(str(e.details.get("tsa")), str(e.details.get("genTime"))
               if e.action == "timestamp-added" else f"pending: {e.details.get('error')}")
              for e in about if e.action in ("timestamp-added", "timestamp-pending")
              and e.details.get("stamped") == seal_rel]
    exchanges, screenshot = _scan(parts)
    seeds = [_follow(url, exchanges) for url in _seeds(parts, exchanges)]
    files = [(s.name, s.sha256.hex()) for s in parts.seal.subjects]
    media = scan_media(parts) if any(e.details.get("media") for e in about
                                     if e.action == "capture") else []
    return CaptureView(parts, hashlib.sha256(parts.seal_bytes).hexdigest(), seeds, stamps,
                       about, screenshot, files, media)


def _scan(parts: CaptureParts) -> tuple[dict[str, Exchange], tuple[str, str] | None]:
    """Responses by URL (the first of each), their metadata, and the screenshot."""
    by_url: dict[str, Exchange] = {}
    by_id: dict[str, Exchange] = {}
    meta: dict[str, dict[str, Any]] = {}
    shot: tuple[str, str] | None = None
    for name in parts.warcs:
        with open(parts.folder / name, "rb") as fh, contextlib.suppress(WarcFormatError):
            reader = WarcReader(fh)  # a damaged WARC (--allow-failed): what can be read
            for head in reader:
                uri = head.get("WARC-Target-URI") or ""
                kind = (head.get("Content-Type") or "").split(";")[0].strip().lower()
                if head.warc_type in ("response", "revisit") and uri not in by_url:
                    ex = _exchange(uri, head.get("WARC-Date") or "", reader)
                    ex.ip = head.get("WARC-IP-Address") or ""
                    ex.payload_digest = head.get("WARC-Payload-Digest") or ""
                    by_url[uri] = by_id[head.record_id] = ex
                elif head.warc_type == "metadata" and kind == "application/json":
                    block = _bounded(reader, MAX_METADATA)
                    target = head.get("WARC-Concurrent-To") or ""
                    if block is not None and target:
                        meta[target] = json.loads(block)
                    elif block is not None and uri.startswith("http"):
                        by_url.setdefault(uri, Exchange(uri, head.get("WARC-Date") or "",
                                                        error=str(json.loads(block).get(
                                                            "error", "no response"))))
                elif head.warc_type == "resource" and kind in IMAGE_TYPES and shot is None and (
                        uri.startswith(("urn:fullPage:", "urn:view:"))):
                    image = _bounded(reader, MAX_SCREENSHOT)
                    if image:
                        shown = uri.split(":", 2)[2]
                        shot = (shown, f"data:{kind};base64,{base64.b64encode(image).decode()}")
    for record_id, doc in meta.items():
        if record_id in by_id:
            _add_meta(by_id[record_id], doc)
    return by_url, shot


def _bounded(reader: WarcReader, limit: int) -> bytes | None:
    data = bytearray()
    for chunk in reader.iter_block(1 << 20):
        data += chunk
        if len(data) > limit:
            return None
    return bytes(data)


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
    chain = (doc.get("tls") or {}).get("chainSent") or []
    if chain:
        try:
            leaf = x509.load_pem_x509_certificate(str(chain[0]).encode())
            ex.tls_subject = leaf.subject.rfc4514_string()
            ex.tls_issuer = leaf.issuer.rfc4514_string()
        except ValueError:
            ex.tls_subject = "(certificate not readable)"
    if doc.get("error"):
        ex.error = str(doc["error"])


def _seeds(parts: CaptureParts, exchanges: dict[str, Exchange]) -> list[str]:
    return capture_seeds(parts) or sorted(exchanges)[:1]


def _follow(url: str, exchanges: dict[str, Exchange]) -> SeedView:
    """The exchange a seed ends at after its redirects (within the capture)."""
    hops, current = [url], exchanges.get(url)
    while current is not None and current.location and current.status.split(" ")[1:2] and (
            current.status.split(" ")[1].startswith("3")) and len(hops) <= 20:
        nxt = urljoin(current.url, current.location)
        if nxt in hops:
            break
        hops.append(nxt)
        current = exchanges.get(nxt)
    return SeedView(url, current, hops)

