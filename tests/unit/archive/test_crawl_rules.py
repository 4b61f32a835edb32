"""archive.http.crawl: which URLs a capture accepts, and how long it waits before a retry."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from archive.http.crawl import json_block, retry_after, validate_url
from archive.http.recorder import Exchange


@pytest.mark.parametrize("url", ["http://a.test/", "https://127.0.0.1:8443/x?y#z"])
def test_http_urls_are_accepted(url: str) -> None:
    assert validate_url(url) == url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://a.test/", r"not an http\(s\) URL"),
        ("https:///path", r"not an http\(s\) URL"),
        ("a.test", r"not an http\(s\) URL"),
        ("http://[::1/", r"not an http\(s\) URL"),
        ("http://a.test:99999/", "bad port in URL"),
    ],
)
def test_other_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_url(url)


def exchange(retry: str | None) -> Exchange:
    headers = [(b"Retry-After", retry.encode())] if retry is not None else []
    return Exchange(url="http://a.test/", started_at=datetime.now(UTC), status=503, headers=headers)


def test_retry_after_seconds_dates_and_backoff() -> None:
    assert retry_after(exchange("7"), 0, 60) == 7
    assert retry_after(exchange("7"), 0, 5) == 5  # capped
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 <= retry_after(exchange(later), 0, 60) <= 30
    assert retry_after(exchange(None), 0, 60) == 0.5
    assert retry_after(exchange(None), 3, 60) == 4.0
    assert retry_after(exchange("soon"), 1, 60) == 1.0  # unreadable: backoff
    past = format_datetime(datetime.now(UTC) - timedelta(hours=1), usegmt=True)
    assert retry_after(exchange(past), 0, 60) == 0.0


def test_json_block_is_sorted_utf8() -> None:
    block = json_block({"b": 1, "a": "é"})
    assert json.loads(b"".join(block.iter_chunks())) == {"a": "é", "b": 1}
    assert b"".join(block.iter_chunks()).startswith(b'{"a": "\xc3\xa9"')
