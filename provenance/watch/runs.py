"""What ``prov schedule`` tells a human: the report of a run, and the status of each source.

The report is what cron mails (stdout, only when something changed or a run had to be
completed); the status reads ``CASE/state/schedule.json`` and the sources file.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from provenance.base import timefmt
from provenance.custody.case import Case
from provenance.watch.schedule import RunResult, load_state, next_run
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


def render_report(case_root: Path, result: RunResult) -> str:
    """The short report a run prints when something changed (cron mails it)."""
    lines = []
    if result.repaired:
        lines.append("the previous run was interrupted; completed what it left:")
        lines += [f"  {line}" for line in result.repaired]
    if result.changes:
        takedowns = sum(1 for c in result.changes if c.takedown)
        lines.append(f"prov schedule run: {len(result.changes) - takedowns} changed, "
                     f"{takedowns} taken down, in {case_root}")
    for change in result.changes:
        label = "TAKEDOWN" if change.takedown else "CHANGED"
        lines.append(f"{label:9} {change.url}")
        lines.append(f"          {change.takedown or '; '.join(change.changes)}")
        lines.append(f"          prov diff '{change.url}' --case '{case_root}'")
    return "\n".join(lines)


def render_status(row: dict[str, Any]) -> str:
    never = "never"
    lines = [f"{row['url']}" + (f"  every {row['interval']}" if row["interval"] else
                                "  (not in the sources file)"),
             f"  last run      {row['lastRun'] or never}"
             + (f"  capture {row['lastCapture']}" if row["lastCapture"] else ""),
             f"  next run      {row['nextRun'] or '-'}",
             f"  last change   {row['lastChange'] or never}",
             f"  last failure  {row['lastFailure'] or never}"
             + (f"  ({row['lastError']})" if row["lastFailure"] else "")]
    if row["removed"]:
        lines.append(f"  TAKEN DOWN    {row['removed']}")
    return "\n".join(lines)
