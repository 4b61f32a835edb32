"""provenance.cli.render: what prov shows a human. The verify table (a plain sentence first on
each FAIL, the captures without a time-stamp on one line), a capture's summary lines and media
posts, every name in them escaped; a schedule run's report and a source's status."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from archive.http.crawl import Hop, UrlOutcome
from provenance.base.report import Report
from provenance.cli.render import (
    diff_text,
    media_line,
    run_report,
    show_holdings,
    show_listings,
    show_report,
    source_status,
    summary_line,
    verify_table,
)
from provenance.watch.changes import Change, Fingerprint
from provenance.watch.diffs import Diff
from provenance.watch.schedule import RunResult

DIR = "captures/2026/12/05/01a2477b-7a7c-7e01-a4b2-d0d5edccf379"


def hop(url: str, status: int | None, size: int = 10) -> Hop:
    return Hop(url=url, status=status, bytes=size, records=2)


def test_table_lines_and_json() -> None:
    report = Report("case", "case")
    report.add("fail", "log.missing", "custody/log.jsonl",
               "custody log missing (custody/log.jsonl: missing)", expected="3", found="None")
    for n in range(3):
        report.add("info", "timestamp.none", f"{DIR[:-1]}{n}/seal.dsse.json", "no TSA")
    table = verify_table(report).splitlines()
    assert table[0] == "FAIL  The custody log is missing."
    assert table[1].endswith("custody/log.jsonl: custody log missing (missing)")
    assert table[2:4] == ["      expected 3", "      found    (nothing)"]
    assert [line for line in table if "timestamp.none" in line] == [
        table[4]] and table[4].startswith("INFO  timestamp.none           3 captures have no "
                                         "time-stamp")
    assert len(verify_table(report, verbose=True).splitlines()) == len(table) + 2
    assert report.as_json()["findings"][0]["found"] == "None"  # the JSON is not touched


def test_an_empty_subject_leaves_the_message_whole() -> None:
    report = Report("x", "case")
    report.add("warn", "odd", "", "a: b: c")
    assert verify_table(report).splitlines()[0].endswith(": a: b: c")


def test_summary_lines() -> None:
    ok = UrlOutcome("http://a.test/", [hop("http://a.test/", 200, 1234)], seconds=0.5)
    assert summary_line(ok) == "200\thttp://a.test/\t1234 bytes, 2 records, 0.50 s"
    failed = UrlOutcome("http://a.test/\x1b[2J", error="connection refused")
    assert summary_line(failed) == "FAILED\thttp://a.test/\\x1b[2J\tconnection refused"
    skipped = UrlOutcome("http://a.test/s.css", kind="requisite", total_time_limit=True)
    assert summary_line(skipped).startswith("NOT FETCHED\thttp://a.test/s.css (requisite)\t")


def test_an_unavailable_post_is_one_escaped_line() -> None:
    line = media_line({"availability": "removed", "url": "https://v.example/1\x1b[2J",
                       "reason": "taken down"})
    assert line == "media removed\thttps://v.example/1\\x1b[2J\ttaken down"


def test_an_available_post_names_uploader_time_duration_and_files() -> None:
    line = media_line({"availability": "available", "url": "https://v.example/1",
                       "uploader": "someone", "timestamp": 0, "duration": 12.5,
                       "extractor": "generic",
                       "media": [{"type": "video", "sha256": "ab", "bytes": 3}]})
    assert line.splitlines() == [
        "media available\thttps://v.example/1",
        "    uploader someone, uploaded 1970-01-01T00:00:00.000000Z, 12.5 s, generic",
        "    video ab (3 bytes)"]


ROW = {
    "url": "https://a.test/",
    "interval": "1d",
    "lastRun": "2026-01-01T00:00:00Z",
    "lastCapture": "c1",
    "nextRun": "now",
    "lastChange": None,
    "lastFailure": "2026-01-01T00:00:00Z",
    "lastError": "timeout",
    "removed": None,
}


def test_status_of_a_source() -> None:
    assert source_status(ROW).splitlines() == [
        "https://a.test/  every 1d",
        "  last run      2026-01-01T00:00:00Z  capture c1",
        "  next run      now",
        "  last change   never",
        "  last failure  2026-01-01T00:00:00Z  (timeout)",
    ]
    removed = {**ROW, "interval": None, "removed": "2026-01-02T00:00:00Z", "lastFailure": None}
    lines = source_status(removed).splitlines()
    assert lines[0] == "https://a.test/  (not in the sources file)"
    assert lines[4] == "  last failure  never"
    assert lines[-1] == "  TAKEN DOWN    2026-01-02T00:00:00Z"


def test_a_quiet_run_reports_nothing_and_a_repaired_one_says_so() -> None:
    assert run_report(Path("/c"), RunResult(started_at="t")) == ""
    repaired = RunResult(started_at="t", repaired=["sealed capture c1"])
    assert run_report(Path("/c"), repaired).splitlines() == [
        "the previous run was interrupted; completed what it left:",
        "  sealed capture c1",
    ]


HOSTILE = "https://a.test/\x1b[2J\rVERIFIED"


def test_a_run_report_and_a_diff_escape_the_names_a_page_chose() -> None:
    before, after = Fingerprint("c1", "d1", HOSTILE, status=200), Fingerprint("c2", "d2", HOSTILE)
    change = Change(HOSTILE, before, after, changes=("title: 'a' → '\x1b]0;b'",),
                    resources=((HOSTILE + "/s.css", "sha256:1", None),), takedown=None)
    report = run_report(Path("/c"), RunResult(started_at="t", changes=[change]))
    shown = diff_text(Diff(change, [], "t1", "t2"))
    for text in (report, shown):
        assert "\x1b" not in text and "\r" not in text
        assert "https://a.test/\\x1b[2J\\rVERIFIED" in text
        assert "title: 'a' → '\\x1b]0;b'" in text
    assert shown.splitlines()[2].endswith("no response (None)")


def test_show_prints_json_or_text(capsys: pytest.CaptureFixture[str]) -> None:
    report = Report("t", "case")
    report.add("pass", "c", "s", "ok")
    show_report(report, as_json=True)
    assert json.loads(capsys.readouterr().out) == report.as_json()
    show_report(report, as_json=False, verbose=True, err=True)
    out, err = capsys.readouterr()
    assert out == "" and err == verify_table(report, verbose=True) + "\n"
    show_listings([], as_json=True)
    show_holdings([], as_json=False, none="no capture holds it")
    out, err = capsys.readouterr()
    assert (out, err) == ("[]\n", "prov: no capture holds it\n")
