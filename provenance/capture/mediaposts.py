"""A media capture's posts as its sealed ``urn:prov:media:<capture id>`` record lists them
(docs/FORMATS.md, "Media captures"): availability, reason, status, the media records'
digests, uploader, upload time, duration.

Read by ``prov captures show`` (display) and by ``prov schedule run``, which holds a media
source's stored snapshot to these rows before a change or takedown is signed on its word.
Threat: the record is read from a file an attacker may have written; callers that act on it
read it only from a capture whose seal they checked, and the JSON is bounded
(``MAX_MEDIA_RECORD``, ``provenance.base.untrusted.load_json``).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from archive.errors import ProvError, WarcFormatError
from archive.warc.reader import WarcReader
from provenance.base.untrusted import load_json

MAX_MEDIA_RECORD = 8 << 20


def read_posts(reader: WarcReader, length: str | None) -> list[dict[str, Any]] | None:
    """The ``posts`` of the record the reader is at (its block not yet read), or None."""
    if length is None or not length.isdigit() or int(length) > MAX_MEDIA_RECORD:
        return None
    data = b"".join(reader.iter_block())
    try:
        doc = load_json(data, what="media record", limit=MAX_MEDIA_RECORD)
    except ProvError:
        return None
    posts = doc.get("posts") if isinstance(doc, dict) else None
    return [p for p in posts if isinstance(p, dict)] if isinstance(posts, list) else None


def load_posts(folder: Path, capture_id: str) -> dict[str, dict[str, Any]]:
    """The posts of the capture in ``folder`` by URL (empty when it is no media capture)."""
    uri = f"urn:prov:media:{capture_id}"
    for warc in sorted(folder.glob("data-*.warc.gz")):
        with open(warc, "rb") as fh, contextlib.suppress(WarcFormatError):
            reader = WarcReader(fh)
            for head in reader:
                if head.warc_type == "metadata" and head.get("WARC-Target-URI") == uri:
                    posts = read_posts(reader, head.get("Content-Length")) or []
                    return {str(p.get("url")): p for p in posts}
    return {}
