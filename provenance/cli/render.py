"""How prov shows its results to a human: the verify table, a capture's summary lines and
its media posts, a schedule run's report and each source's status, and a diff (the JSON forms
are the objects' own ``as_json``, docs/FORMATS.md).

Threat (docs/SECURITY.md, "The terminal"): the names shown come from cases, packages and pages
an attacker may have written, so each goes through ``printable``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provenance.base import timefmt
from provenance.base.report import STATUSES, Finding, Report
from provenance.base.terminal import printable

if TYPE_CHECKING:
    from archive.http.crawl import UrlOutcome
    from provenance.watch.diffs import Diff
    from provenance.watch.schedule import RunResult


def verify_table(report: Report, *, verbose: bool = False) -> str:
    """The table ``prov verify`` prints; every name in it through ``printable``. Each
    FAIL starts with a plain sentence of what happened (``verification.plain``); the
    captures verified without a time-stamp are one line, not one per capture."""
    from provenance.base.plain import what_happened

    lines = []
    unstamped = [f for f in report.findings if (f.check, f.status) == UNSTAMPED]
    for f in report.findings:
        if (f.check, f.status) == UNSTAMPED and len(unstamped) > 1 and not verbose:
            if f is unstamped[0]:
                lines.append(_unstamped_line(len(unstamped)))
        elif verbose or f.status != "pass":
            lines.append(_row(f, what_happened(f) if f.status == "fail" else None))
    for (check, status), count in sorted(report.omitted.items()):
        if verbose or status != "pass":
            lines.append(f"{status.upper():5} {printable(check):24} … and {count:,} more")
    counts = report.counts
    summary = ", ".join(f"{counts[s]} {s}" for s in STATUSES if counts[s])
    verdict = "VERIFIED" if report.ok else "FAILED"
    if report.ok and any(f.check == "trust.anchor" and f.status == "warn"
                       for f in report.findings):
        verdict = "VERIFIED, UNANCHORED"  # --allow-unanchored: only the target vouches
    why = f", {printable(report.kind_reason)}" if report.kind_reason else ""
    if report.mode == "fixity":
        lines.append(f"NOT CHECKED (fixity): {', '.join(report.not_checked)}")
        verdict += " (FIXITY)"
    lines.append(f"{verdict}: {printable(report.target)} ({report.kind}{why}): {summary}")
    return "\n".join(lines)


UNSTAMPED = ("timestamp.none", "info")


def _unstamped_line(count: int) -> str:
    return (f"INFO  {'timestamp.none':24} {count} captures have no time-stamp: no time-stamp "
            "authority was configured for them, so their times rest on the operator's clock "
            "and signature alone (`prov verify -v` lists them)")


def _row(f: Finding, sentence: str | None = None) -> str:
    """``STATUS check subject: message``, the message without the subject repeated in it; a
    FAIL has its plain sentence first and the rest on the next line."""
    message = f.message
    if f.subject.strip():
        message = message.replace(f"{f.subject}: ", "").replace(f" ({f.subject})", "")
    detail = f"{printable(f.check):24} {printable(f.subject)}: {printable(message)}"
    if sentence is None:
        line = f"{f.status.upper():5} {detail}"
    else:
        line = f"{f.status.upper():5} {printable(sentence)}\n      {detail}"
    for label, value in (("expected", f.expected), ("found   ", f.found)):
        if value is not None and value not in ("None", ""):
            line += f"\n      {label} {printable(value)}"
        elif value is not None or (f.expected, f.found) != (None, None):
            line += f"\n      {label} (nothing)"
    return line


def summary_line(outcome: UrlOutcome) -> str:
    """One URL's line in the summary: status, URL, and bytes/records/time or the error."""
    row = outcome.as_json()
    status = row["status"] if outcome.ok else "FAILED" if outcome.failed else "NOT FETCHED"
    if row["error"]:
        detail = row["error"]
    else:
        detail = f"{row['bytes']} bytes, {row['records']} records, {row['seconds']:.2f} s"
        if row["truncated"]:
            detail += f", truncated: {row['truncated']}"
            if outcome.total_time_limit:
                detail += " (total time limit, --total-timeout)"
    if row["note"]:
        detail += f" ({row['note']})"
    kind = "" if outcome.kind == "seed" else f" ({outcome.kind})"
    return f"{status}\t{printable(outcome.seed)}{kind}\t{printable(detail)}"


def media_line(post: dict[str, Any]) -> str:
    """One post of a media capture: availability, then uploader, upload time, duration and
    each file's digest."""
    if post.get("availability") != "available":
        return "\t".join(["media " + printable(str(post.get("availability"))),
                          printable(str(post.get("url"))), printable(str(post.get("reason")))])
    stamp = post.get("timestamp")
    when = (timefmt.format_time(datetime.fromtimestamp(stamp, UTC))
            if isinstance(stamp, int | float) and 0 <= stamp < 1e11
            else post.get("uploadDate") or "upload time unknown")
    duration = post.get("duration")
    seconds = f"{duration:g} s" if isinstance(duration, int | float) else "duration unknown"
    files = ", ".join(f"{m.get('type')} {m.get('sha256')} ({m.get('bytes')} bytes)"
                      for m in post.get("media") or [] if isinstance(m, dict))
    url, uploader = printable(str(post.get("url"))), printable(str(post.get("uploader") or "?"))
    return (f"media available\t{url}\n    uploader {uploader}, uploaded {printable(str(when))}, "
            f"{seconds}, {printable(str(post.get('extractor')))}\n    {printable(files)}")


def run_report(case_root: Path, result: RunResult) -> str:
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


def source_status(row: dict[str, Any]) -> str:
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


def diff_text(diff: Diff) -> str:
    change = diff.change
    b, a = change.before, change.after
    lines = [f"{change.url}",
             f"  from {b.capture_id} (logged {diff.before_at}): {_state(b.status, b.error)}"
             + (f", media {b.availability}" if b.availability else ""),
             f"  to   {a.capture_id} (logged {diff.after_at}): {_state(a.status, a.error)}"
             + (f", media {a.availability}" if a.availability else "")]
    if change.takedown:
        lines.append(f"  TAKEDOWN: {change.takedown}")
    lines += [f"  {line}" for line in change.changes] or ["  no differences"]
    for res_url, was, now in change.resources:
        lines.append(f"  resource {res_url}\n      before {was or '(absent)'}\n"
                     f"      after  {now or '(absent)'}")
    if change.not_compared:
        lines.append(f"  not compared: {len(change.not_compared)} requisite(s) not fetched, or "
                     "fetched without an answer, in one of the captures")
        lines += [f"      {printable(res_url)}" for res_url in change.not_compared]
    if diff.text_diff:
        lines += ["", *diff.text_diff]
    if diff.rendered_diff:
        lines += ["", *diff.rendered_diff]
    return "\n".join(lines)


def _state(status: int | None, error: str | None) -> str:
    return f"HTTP {status}" if status is not None else f"no response ({error})"
