"""archive.http.extractor: pages parsed for links in worker processes, bounded in time."""

from __future__ import annotations

import asyncio

from archive.http.extractor import Extractor
from archive.http.links import Links

PAGE = b'<html><link rel=stylesheet href="/s.css"><a href="next.html#x">n</a></html>'


def test_links_come_back_from_a_worker_and_the_worker_is_reused() -> None:
    async def go() -> tuple[Links | str, Links | str]:
        extractor = Extractor(workers=1, timeout=30)
        extractor.start()
        try:
            first = await extractor.extract(PAGE, "text/html", "http://a.test/dir/", None)
            second = await extractor.extract(b"<a href=/b>", "text/html", "http://a.test/", None)
            return first, second
        finally:
            await extractor.aclose()

    first, second = asyncio.run(go())
    assert isinstance(first, Links) and isinstance(second, Links)
    assert first.requisites == ("http://a.test/s.css",)
    assert first.links == ("http://a.test/dir/next.html",)
    assert second.links == ("http://a.test/b",)


def test_a_page_not_parsed_in_time_is_a_reason_not_an_error() -> None:
    async def go() -> Links | str:
        extractor = Extractor(workers=1, timeout=0.001)
        try:
            return await extractor.extract(PAGE, "text/html", "http://a.test/", None)
        finally:
            await extractor.aclose()

    found = asyncio.run(go())
    assert found == "page not parsed within 0.001 s: its requisites and links were not followed"
