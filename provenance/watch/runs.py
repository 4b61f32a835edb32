"""The status of each source ``prov schedule`` watches: last and next run, last change and
failure, read from ``CASE/state/schedule.json`` and the sources file (shown by
``provenance.cli.render``, as is the report of a run that cron mails).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from provenance.base import timefmt
from provenance.custody.case import Case
from provenance.watch.schedule import load_state, next_run
from provenance.watch.sources import load_sources


def status(case: Case, sources_path: Path | None, now: datetime) -> list[dict[str, Any]]:
    """Each source's last and next run, last change, last failure (from the state)."""
    entries = load_state(case)["sources"]
    sources = load_sources(sources_path) if sources_path else []
    urls = [s.url for s in sources] or sorted(entries)
    by_url = {s.url: s for s in sources}
    rows = []
    for url in urls:
        entry, source = entries.get(url, {}), by_url.get(url)
        due = next_run(source, entry) if source else None
        rows.append({
            "url": url, "interval": source.interval if source else None,
            "lastRun": entry.get("lastRun"), "lastCapture": entry.get("lastCapture"),
            "nextRun": None if source is None else (
                "now" if due is None or due <= now else timefmt.format_time(due)),
            "lastChange": entry.get("lastChange"), "lastFailure": entry.get("lastFailure"),
            "lastError": entry.get("lastError"), "removed": entry.get("removed")})
    return rows
