"""archive.media.capture: the availability record of a post, and the comments kept within
their bound."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from archive.media.availability import Availability
from archive.media.capture import MAX_COMMENTS_JSON, _bounded_comments, availability_record

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_the_availability_record() -> None:
    found = Availability(
        "removed", "the platform says the video was removed", status=410, url="https://v.test/1"
    )
    record = availability_record(
        "https://v.test/1", found, "cid", "<urn:uuid:r>", NOW, "<urn:uuid:a>"
    )
    lines = dict(record.header_lines())
    assert lines["WARC-Type"] == "metadata"
    assert lines["WARC-Target-URI"] == "urn:availability:https://v.test/1"
    doc = json.loads(b"".join(record.block.iter_chunks()))
    assert doc["post"] == "https://v.test/1" and doc["captureId"] == "cid"
    assert doc["responseRecord"] == "<urn:uuid:r>"
    assert doc["state"] == "removed" and doc["status"] == 410


def test_comments_are_kept_up_to_their_bound() -> None:
    assert _bounded_comments([{"text": "a"}]) == {"comments": [{"text": "a"}]}
    assert _bounded_comments("not a list") == {"comments": []}
    big = {"text": "x" * (MAX_COMMENTS_JSON // 3)}
    kept = _bounded_comments([big] * 5)
    assert len(kept["comments"]) == 2 and kept["commentsNotKept"] == 3
