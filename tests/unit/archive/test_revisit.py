"""archive.http.revisit: when two responses are stored once, and the revisit that replaces one."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from archive.http.recorder import Exchange
from archive.http.revisit import PROFILE, Original, dedup_key, normalize_codings, revisit_record
from archive.warc.writer import Block, Record

HEAD = b"HTTP/1.1 200 OK\r\nContent-Encoding: GZIP, br\r\nContent-Length: 5\r\n\r\n"
NOW = datetime(2026, 1, 2, tzinfo=UTC)


def exchange() -> Exchange:
    return Exchange(
        url="http://a.test/",
        started_at=NOW,
        response=Block.of(HEAD + b"hello", payload_offset=len(HEAD)),
        status=200,
        headers=[(b"Content-Encoding", b"GZIP, br")],
        decoded_sha256=b"\x01" * 32,
        body_bytes=5,
    )


def test_normalize_codings() -> None:
    assert normalize_codings(["GZIP, br", " ", "identity"]) == "gzip,br,identity"
    assert normalize_codings([]) == ""


def test_dedup_key_of_a_complete_response() -> None:
    key = dedup_key(exchange())
    assert key is not None
    assert key.decoded_sha256 == "sha256:" + "01" * 32
    assert (key.content_encoding, key.transfer_encoding) == ("gzip,br", "")


def test_anything_incomplete_is_kept_whole() -> None:
    ex = exchange()
    for changed in (
        replace(ex, truncated="length"),
        replace(ex, error="reset"),
        replace(ex, status=None),
        replace(ex, body_bytes=0),
        replace(ex, decoded_sha256=None),
        replace(ex, response=None),
        replace(ex, response=Block.of(b"no payload")),
    ):
        assert dedup_key(changed) is None


def test_the_revisit_keeps_the_http_head_and_names_the_original() -> None:
    response = Record(
        "response",
        "<urn:uuid:2>",
        NOW,
        Block.of(HEAD + b"hello", payload_offset=len(HEAD)),
        [("WARC-Target-URI", "http://a.test/"), ("WARC-Truncated", "time")],
        content_type="application/http;msgtype=response",
    )
    original = Original("<urn:uuid:1>", "http://a.test/", "2026-01-01T00:00:00Z", "sha256:ab")
    revisit = revisit_record(response, original)
    assert (revisit.warc_type, revisit.record_id, revisit.date) == ("revisit", "<urn:uuid:2>", NOW)
    assert b"".join(revisit.block.iter_chunks()) == HEAD
    lines = dict(revisit.header_lines())
    assert lines["WARC-Refers-To"] == "<urn:uuid:1>"
    assert lines["WARC-Profile"] == PROFILE
    assert lines["WARC-Truncated"] == "length"
    assert lines["WARC-Payload-Digest"] == "sha256:ab"
    assert [n for n, _ in revisit.header_lines()].count("WARC-Truncated") == 1
