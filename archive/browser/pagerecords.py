"""The records a browser page adds after its exchanges (WARC 1.1 sections 6.5 and 6.6).

In this order, each only if it was made: ``resource`` ``urn:dom:<url>`` (text/html, the DOM
serialised after scripts ran), ``resource`` ``urn:fullPage:<url>`` and ``urn:view:<url>``
(image/png, exactly as Chromium returned them), ``resource`` ``urn:fullPageBanner:<url>``
(image/png: a dated banner above the full page, ``WARC-Concurrent-To`` the raw one), then a
``metadata`` record ``urn:pageinfo:<url>`` (application/json) with the title, the final URL,
what was done to the page, and how its traffic was split. ``<url>`` is the URL as given.

After all pages, one ``metadata`` record ``urn:prov:browser:<capture id>``: the browser, its
flags, the run's certificate authority, and the requests left out of the evidence.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from datetime import datetime
from typing import Any

from archive.browser.banner import add_banner, banner_lines
from archive.browser.navigation import describe
from archive.browser.page import PageResult
from archive.http.crawl import json_block
from archive.http.mitmca import RunAuthority
from archive.warc.writer import Block, Record, warc_date

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
BANNER_NOTE = ("a copy of the fullPage screenshot with a banner (URL, capture time in UTC, "
               "capture id) added above it; the page's pixels are unchanged, starting at row "
               "bannerHeight")


def png_size(png: bytes) -> dict[str, int] | None:
    """Width and height from the PNG's IHDR chunk, without decoding a pixel (a huge
    screenshot would trip the image library's decompression-bomb guard)."""
    if len(png) < 24 or png[:8] != PNG_SIGNATURE or png[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", png[16:24])
    return {"width": width, "height": height}


def page_records(result: PageResult, traffic: dict[str, Any], *, capture_id: str,
                 new_id: Callable[[], str], now: Callable[[], datetime],
                 main_response: str | None, storage_state: bool) -> list[Record]:
    """The page's resource records and its ``urn:pageinfo:`` metadata record."""
    url = result.url
    date = result.captured_at or now()
    records: list[Record] = []
    ids: dict[str, str] = {}

    def resource(kind: str, data: bytes, content_type: str,
                 extra: list[tuple[str, str]] | None = None) -> None:
        ids[kind] = new_id()
        records.append(Record("resource", ids[kind], date, Block.of(data),
                              [("WARC-Target-URI", f"urn:{kind}:{url}"), *(extra or [])],
                              content_type=content_type, with_payload_digest=False))

    info: dict[str, Any] = {
        "url": url, "finalUrl": result.final_url, "title": result.title,
        "status": result.status, "navigation": result.navigation, "captureId": capture_id,
        "capturedAt": warc_date(result.captured_at) if result.captured_at else None,
        "pageSize": _size(result.page_size), "actions": result.actions,
        "notes": result.notes, "error": result.error, "crashed": result.crashed,
        "download": result.download, "requests": traffic, "serviceWorkers": "blocked",
        "storageState": storage_state, "mainResponse": main_response,
        "chain": result.chain, "notKept": result.not_kept,
    }
    if result.dom is not None:
        resource("dom", result.dom, "text/html; charset=utf-8")
    shots: dict[str, Any] = {}
    if result.full_png is not None:
        resource("fullPage", result.full_png, "image/png")
        shots["fullPage"] = png_size(result.full_png)
    if result.view_png is not None:
        resource("view", result.view_png, "image/png")
        shots["view"] = png_size(result.view_png)
    if result.full_png is not None and result.captured_at is not None:
        fields = banner_lines(result.final_url or url, warc_date(result.captured_at),
                              capture_id, _reached(result))
        try:
            banner, height = add_banner(result.full_png, fields)
        except Exception as exc:  # an image library's failure on a hostile
            # screenshot costs the banner (recorded), never the run's evidence
            result.not_kept.append({"what": "fullPageBanner", "kept": "nothing",
                                    "why": f"{type(exc).__name__}: {exc}"[:300]})
        else:
            resource("fullPageBanner", banner, "image/png",
                     [("WARC-Concurrent-To", ids["fullPage"])])
            info["banner"] = {"bannerHeight": height, "fields": fields, "note": BANNER_NOTE}
            shots["fullPageBanner"] = png_size(banner)
    info["screenshots"] = shots
    info["records"] = ids
    headers = [("WARC-Target-URI", f"urn:pageinfo:{url}")]
    if "fullPage" in ids:
        headers.append(("WARC-Concurrent-To", ids["fullPage"]))
    records.append(Record("metadata", new_id(), date, json_block(info), headers,
                          content_type="application/json", with_payload_digest=False))
    return records


def _reached(result: PageResult) -> str | None:
    """The banner's chain line, when the page shown is not simply the URL given."""
    chain = result.chain
    if not chain or (len(chain["steps"]) == 1 and result.final_url == result.url):
        return None
    return describe(chain)


def _size(size: tuple[int, int] | None) -> dict[str, int] | None:
    return {"width": size[0], "height": size[1]} if size else None


def run_record(capture_id: str, executable: str, args: list[str], authority: RunAuthority,
               summary: dict[str, Any], *, new_id: Callable[[], str],
               now: Callable[[], datetime]) -> Record:
    """The capture's ``urn:prov:browser:`` record (docs/FORMATS.md, "Browser captures")."""
    info = {"captureId": capture_id, "executable": executable,
            "browser": summary.get("browser"), "arguments": args,
            "runAuthority": {"sha256": authority.ca_sha256,
                             "leafSpkiSha256": authority.leaf_spki_sha256,
                             "validUntil": warc_date(authority.not_after)},
            "chromiumOwnRequestsRefused": summary["chromiumOwn"],
            "pageRequestsNotAttributable": summary["notAttributable"],
            "pageRequestsRefusedByAddress": summary["addressesRefused"],
            "addressPolicy": summary.get("addressPolicy")}
    return Record("metadata", new_id(), now(), json_block(info),
                  [("WARC-Target-URI", f"urn:prov:browser:{capture_id}")],
                  content_type="application/json", with_payload_digest=False)
