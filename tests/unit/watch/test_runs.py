"""provenance.watch.runs: each watched source's status, read from the case's schedule state."""

from __future__ import annotations

from datetime import UTC, datetime

from exports import Built

from provenance.custody.case import Case
from provenance.watch.runs import status
from provenance.watch.schedule import load_state, save_state


def test_status_of_a_source_from_the_state(built: Built) -> None:
    case = Case.open(built.case)
    now = datetime(2026, 1, 2, tzinfo=UTC)
    assert status(case, None, now) == []
    state = load_state(case)
    state["sources"]["https://a.test/"] = {"lastRun": "2026-01-01T00:00:00Z",
                                           "lastCapture": "c1", "lastError": "timeout",
                                           "lastFailure": "2026-01-01T00:00:00Z"}
    save_state(case, state)
    assert status(case, None, now) == [{
        "url": "https://a.test/", "interval": None, "lastRun": "2026-01-01T00:00:00Z",
        "lastCapture": "c1", "nextRun": None, "lastChange": None,
        "lastFailure": "2026-01-01T00:00:00Z", "lastError": "timeout", "removed": None}]
