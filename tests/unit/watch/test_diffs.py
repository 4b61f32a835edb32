"""provenance.watch.diffs: one URL compared in two captures of a case (here the demo capture and
a later one that stored the same page as a revisit)."""

from __future__ import annotations

import pytest
from exports import Built

from archive.errors import UsageError
from provenance.cli.render import diff_text
from provenance.custody.case import Case
from provenance.watch.diffs import captures_of, diff_url, logged_captures


def test_the_captures_of_a_url_in_log_order(built: Built) -> None:
    case = Case.open(built.case)
    logged = [c.capture_id for c in logged_captures(case)]
    assert logged == [built.first_id, built.synthetic_id]
    assert [c.capture_id for c in captures_of(case, built.seeds[0])] == logged
    assert [c.capture_id for c in captures_of(case, built.seeds[1])] == [built.first_id]


def test_the_revisit_shows_its_original_text(built: Built) -> None:
    diff = diff_url(Case.open(built.case), built.seeds[0])
    assert diff.change.before.capture_id == built.first_id
    assert diff.change.after.capture_id == built.synthetic_id
    assert diff.text_diff == []  # the revisit's body is read from its original
    lines = diff_text(diff).splitlines()
    assert lines[0] == built.seeds[0]
    assert lines[1].startswith(f"  from {built.first_id} (logged ")
    assert lines[2].startswith(f"  to   {built.synthetic_id} (logged ")
    assert diff.as_json()["textDiff"] == []


def test_one_capture_is_nothing_to_compare(built: Built) -> None:
    case = Case.open(built.case)
    with pytest.raises(UsageError, match="is in 1 capture"):
        diff_url(case, built.seeds[1])
    with pytest.raises(UsageError, match="--from 'zzz' matches 0"):
        diff_url(case, built.seeds[0], from_id="zzz", to_id=built.first_id[:8])
