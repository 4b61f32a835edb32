"""provenance.watch.runs: what a schedule run and a source's status say to a human."""

from __future__ import annotations

from pathlib import Path

from provenance.watch.runs import render_report, render_status
from provenance.watch.schedule import RunResult

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
    assert render_status(ROW).splitlines() == [
        "https://a.test/  every 1d",
        "  last run      2026-01-01T00:00:00Z  capture c1",
        "  next run      now",
        "  last change   never",
        "  last failure  2026-01-01T00:00:00Z  (timeout)",
    ]
    removed = {**ROW, "interval": None, "removed": "2026-01-02T00:00:00Z", "lastFailure": None}
    lines = render_status(removed).splitlines()
    assert lines[0] == "https://a.test/  (not in the sources file)"
    assert lines[4] == "  last failure  never"
    assert lines[-1] == "  TAKEN DOWN    2026-01-02T00:00:00Z"


def test_a_quiet_run_reports_nothing_and_a_repaired_one_says_so() -> None:
    assert render_report(Path("/c"), RunResult(started_at="t")) == ""
    repaired = RunResult(started_at="t", repaired=["sealed capture c1"])
    assert render_report(Path("/c"), repaired).splitlines() == [
        "the previous run was interrupted; completed what it left:",
        "  sealed capture c1",
    ]
