"""provenance.storage.retention: the retention a case in a bucket requires, from the options."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from archive.errors import UsageError
from provenance.storage.retention import retention_rule


def test_no_lock_unless_asked() -> None:
    assert retention_rule(None, None, None) is None


def test_days_and_dates() -> None:
    assert retention_rule(None, None, 30) == {"mode": "compliance", "days": 30}
    assert retention_rule("GOVERNANCE", None, 1) == {"mode": "governance", "days": 1}
    rule = retention_rule(None, "2999-12-31", None)
    assert rule == {"mode": "compliance", "until": "2999-12-31T00:00:00.000000Z"}


@pytest.mark.parametrize(
    ("mode", "until", "days", "message"),
    [
        ("compliance", None, None, "--lock-mode needs"),
        (None, "2999-01-01", 3, "not both"),
        ("legal", None, 3, "must be compliance or governance"),
        (None, None, 0, "must be positive"),
        (None, "next week", None, "expected a date"),
        (None, (datetime.now(UTC) - timedelta(days=1)).isoformat(), None, "in the past"),
    ],
)
def test_refusals(mode: str | None, until: str | None, days: int | None, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        retention_rule(mode, until, days)
