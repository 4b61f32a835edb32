"""The media part of the exhibit report: per post of a media capture, the media record (type,
id, digest, size), the facts yt-dlp read (``urn:mediainfo:``), a still frame and its digest,
and the availability the platform's answer was classified as (``urn:availability:``)
(docs/FORMATS.md, "Media captures").

The still frame is the first video frame, decoded by Debian's ffmpeg from the record's
bytes as sealed, scaled to at most 640 pixels wide, as PNG. Threat: the media record is
hostile input to a large decoder. ffmpeg reads one local file (``-protocol_whitelist file``)
with container demuxers only (``-format_whitelist``: no playlists, no concat lists, nothing
that names another file or URL), under a time limit, and its output is bounded; any failure
leaves the report without a still, saying why.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archive.errors import ProvError, WarcFormatError
from archive.warc.reader import WarcReader
from provenance.base.untrusted import load_json
from provenance.exports.common import CaptureParts

FFMPEG = "/usr/bin/ffmpeg"
MAX_JSON = 32 << 20
MAX_STILL = 8 << 20
STILL_TIMEOUT = 60
DEMUXERS = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,mpegts,flv,avi,ogg,mp3,aac,wav"
MEDIA = ("resource", "conversion")


@dataclass
class MediaView:
    post: str
    record_id: str = ""
    warc_type: str = ""
    digest: str = ""
    size: int = 0
    content_type: str = ""
    refers_to: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    extractor: str | None = None
    yt_dlp: str | None = None
    still: str | None = None  # data: URI of a PNG
    still_sha256: str | None = None
    still_note: str | None = None
    availability: dict[str, Any] | None = None


def scan(parts: CaptureParts) -> list[MediaView]:
    """The posts of a capture that has media records or availability records."""
    posts: dict[str, MediaView] = {}
    for name in parts.warcs:
        with parts.open(name) as fh, contextlib.suppress(WarcFormatError):
            reader = WarcReader(fh)
            for head in reader:
                uri = head.get("WARC-Target-URI") or ""
                scheme, rest = uri.split(":", 1) if ":" in uri else ("", "")
                if scheme != "urn":
                    continue
                kind, _, post = rest.partition(":")
                if kind == "media" and head.warc_type in MEDIA:
                    view = posts.setdefault(post, MediaView(post))
                    if not view.record_id:
                        _media(view, head, reader)
                elif kind in ("mediainfo", "availability") and head.warc_type == "metadata":
                    doc = _json(reader, int(head.get("Content-Length") or 0))
                    view = posts.setdefault(post, MediaView(post))
                    if doc is not None and kind == "mediainfo":
                        _facts(view, doc)
                    elif doc is not None:
                        view.availability = doc
    return list(posts.values())


def _json(reader: WarcReader, length: int) -> dict[str, Any] | None:
    if length > MAX_JSON:
        return None
    try:
        doc = load_json(b"".join(reader.iter_block()), what="media metadata", limit=MAX_JSON)
    except ProvError:
        return None
    return doc if isinstance(doc, dict) else None


def _facts(view: MediaView, doc: dict[str, Any]) -> None:
    videos = doc.get("videos")
    first = videos[0] if isinstance(videos, list) and videos else {}
    fields = first.get("fields") if isinstance(first, dict) else None
    view.facts = fields if isinstance(fields, dict) else {}
    view.extractor = str(doc.get("extractorKey") or doc.get("extractor") or "") or None
    view.yt_dlp = str(doc.get("ytDlpVersion") or "") or None


def _media(view: MediaView, head: Any, reader: WarcReader) -> None:
    view.record_id = head.record_id
    view.warc_type = head.warc_type
    view.digest = head.get("WARC-Block-Digest") or ""
    view.content_type = head.get("Content-Type") or ""
    view.refers_to = head.get("WARC-Refers-To")
    with tempfile.NamedTemporaryFile(prefix="prov-still-") as spool:
        digest = hashlib.sha256()
        for chunk in reader.iter_block(1 << 20):
            spool.write(chunk)
            digest.update(chunk)
            view.size += len(chunk)
        spool.flush()
        if "sha256:" + digest.hexdigest() != view.digest:
            view.still_note = "no still frame: the record's bytes do not match its digest"
            return
        still(view, Path(spool.name))


def still(view: MediaView, path: Path) -> None:
    """The first frame of ``path`` as a PNG data: URI, or a note saying why there is none."""
    if shutil.which(FFMPEG) is None:
        view.still_note = f"no still frame: {FFMPEG} is not installed"
        return
    try:
        done = subprocess.run(
            [FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error",
             "-protocol_whitelist", "file", "-format_whitelist", DEMUXERS,
             "-i", f"file:{path}", "-frames:v", "1", "-vf", "scale='min(640,iw)':-2",
             "-f", "image2pipe", "-c:v", "png", "pipe:1"],
            capture_output=True, timeout=STILL_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        view.still_note = f"no still frame: ffmpeg failed ({type(exc).__name__})"
        return
    png = done.stdout
    if done.returncode != 0 or not png.startswith(b"\x89PNG") or len(png) > MAX_STILL:
        error = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["none"]
        view.still_note = f"no still frame: ffmpeg could not decode one ({error[0][:200]})"
        return
    view.still = "data:image/png;base64," + base64.b64encode(png).decode()
    view.still_sha256 = "sha256:" + hashlib.sha256(png).hexdigest()
