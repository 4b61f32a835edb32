"""provenance.replay.wayback: pywb's indexes and config, built from a WACZ made here with
warcio (one collection per capture, a revisit's original in its collection, no metadata
record indexed, member names never paths), and the listening socket prov hands to pywb."""

from __future__ import annotations

import io
import json
import socket
import zipfile
from pathlib import Path

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from archive.errors import ConfigError, UsageError
from provenance.replay.wayback import PywbServer, prepare_wacz

FIRST = "01a24731-baaf-7d74-bcc3-6d630d1d2ea9"
SECOND = "01a24731-c109-74f1-ba44-e86d9c1dd490"
PAGE = "https://example.org/post"
BODY = b"<html><body>the post</body></html>"


def _warc(records: list[tuple[str, str, str]], digest: str | None = None) -> tuple[bytes, str]:
    """A gzipped WARC of (type, url, date) records; returns it and the response's digest."""
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=True, warc_version="WARC/1.1")
    found = ""
    for kind, url, date in records:
        headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html")],
                                   protocol="HTTP/1.1")
        if kind == "response":
            record = writer.create_warc_record(url, "response", payload=io.BytesIO(BODY),
                                               http_headers=headers,
                                               warc_headers_dict={"WARC-Date": date})
            found = record.rec_headers.get_header("WARC-Payload-Digest")
        elif kind == "revisit":
            record = writer.create_revisit_record(url, digest or "", url, date,
                                                  http_headers=headers)
            record.rec_headers.replace_header("WARC-Date", date)
        else:  # prov's per-exchange metadata record: the page's URI and date
            record = writer.create_warc_record(url, "metadata",
                                               payload=io.BytesIO(b'{"tls": {}}'),
                                               warc_content_type="application/json",
                                               warc_headers_dict={"WARC-Date": date})
        writer.write_record(record)
    return out.getvalue(), found


def _wacz(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


@pytest.fixture
def two_captures(tmp_path: Path) -> Path:
    first, digest = _warc([("response", PAGE, "2026-01-01T00:00:00Z"),
                           ("metadata", PAGE, "2026-01-01T00:00:00Z")])
    second, _ = _warc([("revisit", PAGE, "2026-01-02T00:00:00Z"),
                       ("metadata", PAGE, "2026-01-02T00:00:00Z")], digest)
    return _wacz(tmp_path / "two.wacz", {
        f"archive/{FIRST}-0.warc.gz": first, f"archive/{SECOND}-0.warc.gz": second,
        "archive/../../escape.warc.gz": first,  # not a name prov reads
        "prov/other.warc.gz": first, "indexes/index.cdx": b""})


def test_one_collection_per_capture_with_the_revisits_original(two_captures: Path,
                                                                 tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    prepared = prepare_wacz(two_captures, [], work)
    assert [c.name for c in prepared.collections] == [FIRST, SECOND]
    # no seed list (prov writes one): the HTML answers are the pages, and a revisit's type is
    # not known from its own line, so the second capture is listed by its collection alone
    assert [[(p.url, p.timestamp) for p in c.pages] for c in prepared.collections] == [
        [(PAGE, "20260101000000")], []]
    first = (work / "indexes" / f"{FIRST}.cdxj").read_text().splitlines()
    second = (work / "indexes" / f"{SECOND}.cdxj").read_text().splitlines()
    assert len(first) == 1 and "application/json" not in first[0]  # no metadata line
    assert len(second) == 2 and first[0] in second  # the revisit and its original
    assert sum("warc/revisit" in line for line in second) == 1
    assert sorted(p.name for p in (work / "archive").iterdir()) == [
        "000000.warc.gz", "000001.warc.gz"]  # copies named by number; others not read
    config = json.loads(prepared.config_path.read_text())  # JSON is YAML for pywb
    assert set(config["collections"]) == {FIRST, SECOND}
    assert config["collections"][FIRST]["archive_paths"] == str((work / "archive").resolve()) + "/"
    assert prepared.collections[0].page_url("http://127.0.0.1:1/", prepared.collections[0]
                                            .pages[0]) == (
        f"http://127.0.0.1:1/{FIRST}/20260101000000/{PAGE}")


def test_capture_ids_choose_what_is_served(two_captures: Path, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    prepared = prepare_wacz(two_captures, [SECOND[:13]], tmp_path / "a")
    assert [c.name for c in prepared.collections] == [SECOND]
    second = (tmp_path / "a" / "indexes" / f"{SECOND}.cdxj").read_text()
    assert "warc/revisit" in second and second.count("\n") == 2  # the original still there
    (tmp_path / "b").mkdir()
    with pytest.raises(UsageError, match="2 captures match"):
        prepare_wacz(two_captures, ["01a24731"], tmp_path / "b")


@pytest.mark.parametrize("members", [{}, {"pages/pages.jsonl": b"{}\n"}])
def test_a_wacz_without_warcs_is_refused(members: dict[str, bytes], tmp_path: Path) -> None:
    wacz = _wacz(tmp_path / "empty.wacz", members)
    (tmp_path / "w").mkdir()
    with pytest.raises(UsageError, match="no WARC under archive/"):
        prepare_wacz(wacz, [], tmp_path / "w")


def test_a_file_that_is_no_zip_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.wacz"
    bad.write_bytes(b"PK\x03\x04 not really")
    (tmp_path / "w").mkdir()
    with pytest.raises(UsageError, match="cannot read the WARCs"):
        prepare_wacz(bad, [], tmp_path / "w")


def test_a_warc_of_another_tool_is_one_collection(tmp_path: Path) -> None:
    data, _ = _warc([("response", PAGE, "2026-01-01T00:00:00Z")])
    wacz = _wacz(tmp_path / "other.wacz", {"archive/data.warc.gz": data})
    (tmp_path / "w").mkdir()
    prepared = prepare_wacz(wacz, [], tmp_path / "w")
    assert [(c.name, [p.url for p in c.pages]) for c in prepared.collections] == [
        ("wacz", [PAGE])]  # no seed list: every HTML answer is a page


def test_server_binds_before_anything_starts() -> None:
    pytest.importorskip("pywb", reason="the replay extra")
    server = PywbServer("127.0.0.1", 0)
    try:
        assert server.port > 0 and server.base_url == f"http://127.0.0.1:{server.port}/"
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1 port {server.port}"):
            PywbServer("127.0.0.1", server.port)
    finally:
        server.stop()
    with socket.socket() as probe:  # stopped: the port is free again
        probe.bind(("127.0.0.1", server.port))
