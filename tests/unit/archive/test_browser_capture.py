"""archive.browser.capture and archive.browser.page, the parts that need no browser: Chromium's
flags, the exchanges kept for a page, what a page's scripts report as its size, and the part
of a huge page the screenshot keeps."""

from __future__ import annotations

from datetime import UTC, datetime

from archive.browser.capture import PageCollector, chromium_args
from archive.browser.page import PageLimits, PageResult, _clip, _size
from archive.http.recorder import Exchange
from archive.warc.writer import Block


def test_chromium_stays_on_the_proxy() -> None:
    args = chromium_args("http://127.0.0.1:9999", "c3BraQ==")
    assert "--proxy-server=http://127.0.0.1:9999" in args
    assert "--proxy-bypass-list=<-loopback>" in args
    assert "--ignore-certificate-errors-spki-list=c3BraQ==" in args


def exchange(url: str, status: int | None) -> Exchange:
    return Exchange(
        url=url,
        started_at=datetime.now(UTC),
        status=status,
        response=Block.of(b"HTTP/1.1 200 OK\r\n\r\n"),
        error=None if status else "reset",
    )


def test_the_collector_keeps_what_the_page_asked_for() -> None:
    collector = PageCollector()
    for ex in (
        exchange("HTTPS://A.test:443/", 200),
        exchange("https://a.test/x.js", None),
        exchange("https://tracker.test/beacon", 204),
    ):
        collector.add(ex)
    assert collector.document_error("https://a.test/") is None
    assert collector.document_error("https://a.test/x.js") == "reset"
    assert collector.document_error("https://never.test/") is None
    mine, others = collector.split(["https://a.test/", "https://a.test/x.js"])
    assert [ex.url for ex in mine] == ["HTTPS://A.test:443/", "https://a.test/x.js"]
    assert others == 1


def test_what_a_page_says_its_size_is_bounded() -> None:
    assert _size([1280, 2000.7]) == (1280, 2000)
    assert _size([-5, 1 << 40]) == (0, 1 << 30)
    for lie in (None, "big", [1], [1, 2, 3], [1, "x"], [float("inf"), 1]):
        assert _size(lie) == (0, 0)


def test_the_screenshot_keeps_the_top_left_of_a_huge_page() -> None:
    limits = PageLimits()
    result = PageResult("https://a.test/")
    assert _clip(result, limits, 1280, 3000) == {"x": 0, "y": 0, "width": 1280, "height": 3000}
    assert result.not_kept == []
    clip = _clip(result, limits, 10_000, 1_000_000)
    assert clip["width"] == limits.max_width
    assert clip["width"] * clip["height"] <= limits.max_pixels
    assert result.not_kept[0]["what"] == "fullPage"
