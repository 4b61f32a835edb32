"""provenance.capture.mediaposts: a media capture's posts, read from its metadata record."""

from __future__ import annotations

import json
from pathlib import Path

import warcs

from provenance.capture.mediaposts import MAX_MEDIA_RECORD, load_posts

CAPTURE = "0190a000-0000-7000-8000-000000000000"
URI = f"urn:prov:media:{CAPTURE}"


def capture(folder: Path, block: bytes, uri: str = URI) -> Path:
    folder.mkdir(exist_ok=True)
    warcs.write(
        folder / "data-00000.warc.gz", [warcs.warcinfo(), warcs.record("metadata", block, uri=uri)]
    )
    return folder


def test_posts_by_url(tmp_path: Path) -> None:
    posts = [
        {"url": "https://v.test/1", "status": "available"},
        "junk",
        {"url": "https://v.test/2"},
    ]
    folder = capture(tmp_path / "c", json.dumps({"posts": posts}).encode())
    assert load_posts(folder, CAPTURE) == {
        "https://v.test/1": posts[0],
        "https://v.test/2": posts[2],
    }


def test_no_media_record_or_a_record_that_lies_gives_no_posts(tmp_path: Path) -> None:
    other = capture(tmp_path / "other", b'{"posts": [{"url": "x"}]}', uri="urn:prov:media:x")
    assert load_posts(other, CAPTURE) == {}
    for number, block in enumerate(
        [b"not json", b'{"posts": {"url": "x"}}', b'{"a": 1, "a": 2}', b"[" * 10_000]
    ):
        folder = capture(tmp_path / f"bad{number}", block)
        assert load_posts(folder, CAPTURE) == {}
    assert load_posts(tmp_path / "missing", CAPTURE) == {}
    assert MAX_MEDIA_RECORD == 8 << 20
