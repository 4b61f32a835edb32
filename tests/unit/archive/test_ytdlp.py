"""archive.media.ytdlp: what is kept of yt-dlp's answer, and the files it may hand over."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from archive.http.mitmca import RunAuthority
from archive.media.ytdlp import MAX_INFO, bounded_info, entries, produced, summary, trusting_only


def test_entries_of_a_video_and_of_a_playlist() -> None:
    video = {"id": "a"}
    assert entries(video) == [video]
    assert entries({"_type": "playlist", "entries": [video, "junk", None]}) == [video]
    assert entries({"entries": None}) == []


def test_produced_keeps_only_files_yt_dlp_left_in_the_workdir(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "001-a.mp4").write_bytes(b"video")
    (tmp_path / "outside.mp4").write_bytes(b"x")
    (work / "link.mp4").symlink_to(tmp_path / "outside.mp4")
    downloads: list[dict[str, Any]] = [
        {"filepath": str(work / "001-a.mp4"), "format_id": "18", "ext": "mp4", "junk": 1},
        {"filepath": str(tmp_path / "outside.mp4")},
        {"filepath": str(work / "link.mp4")},
        {"filepath": str(work / "missing.mp4")},
        {},
    ]
    found = produced({"id": "a", "requested_downloads": downloads}, work)
    assert [item["path"] for item in found] == [work / "001-a.mp4"]
    assert found[0]["formats"] == [{"format_id": "18", "ext": "mp4"}]


def test_summary_and_bounded_info() -> None:
    entry: dict[str, Any] = {
        "id": "a",
        "title": "T",
        "secret": "not a named field",
        "formats": [{"format_id": "1", "url": "http://a/1", "extra": 2}, "junk"],
        "requested_downloads": [{"filepath": "/x"}],
    }
    assert summary(entry) == {
        "fields": {"id": "a", "title": "T"},
        "formatsOffered": [{"format_id": "1", "url": "http://a/1"}],
    }
    assert bounded_info(entry) == {k: v for k, v in entry.items() if k != "requested_downloads"}
    assert bounded_info({"description": "x" * MAX_INFO}) is None


def test_trusting_only_trusts_the_given_root_alone() -> None:
    authority = RunAuthority(datetime.now(UTC))
    try:
        context = trusting_only(authority.ca_pem)()
        assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
        assert [c["subject"] for c in context.get_ca_certs()] == [
            c["subject"] for c in ssl.create_default_context(cadata=authority.ca_pem).get_ca_certs()
        ]
        assert len(context.get_ca_certs()) == 1
    finally:
        authority.close()
