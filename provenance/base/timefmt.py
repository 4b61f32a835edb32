"""Times as prov writes them: RFC 3339 UTC with ``Z`` and exactly six fractional digits."""

from __future__ import annotations

import re
from datetime import UTC, datetime

RFC3339_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z$")


def utc_now() -> datetime:
    return datetime.now(UTC)


def format_time(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    """Parse prov's own time format strictly; ValueError otherwise."""
    if not isinstance(text, str) or not RFC3339_RE.match(text):
        raise ValueError(f"not an RFC 3339 UTC time with 6 fractional digits: {text!r}")
    return datetime.fromisoformat(text)  # the pattern above leaves only valid UTC forms
