"""provenance.capture.snapshot: where a capture goes and the warcinfo record that opens each of
its WARCs."""

from __future__ import annotations

from datetime import UTC, datetime

from provenance import __version__
from provenance.capture.snapshot import capture_dir_for, warcinfo_factory

MOMENT = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


def test_capture_folder_by_day() -> None:
    assert capture_dir_for("abc", MOMENT) == "captures/2026/03/04/abc"


def test_the_warcinfo_names_the_capture_and_the_file() -> None:
    record = warcinfo_factory("cid", lambda: MOMENT)("data-00000.warc.gz")
    fields = b"".join(record.block.iter_chunks()).decode()
    assert f"software: prov/{__version__}\r\n" in fields
    assert "isPartOf: urn:prov:capture:cid\r\n" in fields
    assert "prov-via" not in fields
    lines = dict(record.header_lines())
    assert lines["WARC-Type"] == "warcinfo"
    assert lines["WARC-Filename"] == "data-00000.warc.gz"
    assert lines["Content-Type"] == "application/warc-fields"
    assert "WARC-Payload-Digest" not in lines
