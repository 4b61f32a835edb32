"""provenance.capture.resources: what a capture holds, read back from its WARCs; a revisit's
body is its original's."""

from __future__ import annotations

from pathlib import Path

from exports import Built

from provenance import api
from provenance.capture.resources import (
    capture_dirs,
    latest_by_url,
    parse_http_head,
    read_body,
    scan_capture,
)
from provenance.cli.demo import SITE
from provenance.custody.case import Case


def dirs(built: Built) -> dict[str, str]:
    case = Case.open(built.case)
    return {c.capture_id: c.capture_dir for c in api.list_captures(case)}


def test_the_snapshot_reads_back_with_the_served_bytes(built: Built) -> None:
    first = dirs(built)[built.first_id]
    assert first in capture_dirs(built.case)
    found = latest_by_url(scan_capture(built.case / first))
    article = found[built.seeds[1]]
    assert (article.warc_type, article.status) == ("response", 200)
    assert article.content_type.startswith("text/html")
    body = read_body(built.case, first, article)
    assert body is not None and not body.partial
    assert body.data == (SITE / "article.html").read_bytes()
    assert body.record.startswith(first + "/data-")


def test_a_revisit_reads_its_original(built: Built) -> None:
    synthetic = dirs(built)[built.synthetic_id]
    revisits = [r for r in scan_capture(built.case / synthetic) if r.warc_type == "revisit"]
    assert revisits
    body = read_body(built.case, synthetic, revisits[0], hints=[dirs(built)[built.first_id]])
    assert body is not None
    assert body.data == (SITE / "index.html").read_bytes()


def test_parse_http_head() -> None:
    head = b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nX-A: 1\r\n\r\n"
    assert parse_http_head(head) == (404, (("Content-Type", "text/plain"), ("X-A", "1")))
    assert parse_http_head(b"garbage")[0] is None


def test_no_captures_in_an_empty_folder(tmp_path: Path) -> None:
    assert capture_dirs(tmp_path) == []
