"""How prov shows its results: one function per kind of result, ``show_*``, that each command
calls once. With ``as_json`` it prints the result's JSON, an interface (docs/FORMATS.md;
golden tests hold the bytes); otherwise the text for a human: the verify table, a capture's
summary lines and media posts, the capture listings, the custody log and chain, a schedule
run's report and each source's status, and a diff.

The text is plain lines, the same on a terminal and in a pipe (cron mails it, scripts cut
its tab-separated fields): no colours, no box drawing, no width of a terminal, and each line
printed as it is made, so ``log show`` and the listings stream in bounded memory
(docs/DECISIONS.md, "One rendering interface").

Threat (docs/SECURITY.md, "The terminal"): the names shown come from cases, packages and pages
an attacker may have written, so each goes through ``printable`` (and every line through
``terminal_safe``, in ``_echo``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provenance.base import timefmt
from provenance.base.report import STATUSES, Finding, Report
from provenance.base.terminal import printable
from provenance.cli.options import _echo, _err, _print_json, _print_json_array

if TYPE_CHECKING:
    from archive.http.crawl import UrlOutcome
    from provenance.capture.catalog import CaptureListing, Holding
    from provenance.capture.snapshot import CaptureResult
    from provenance.custody.custodians import CustodyChain
    from provenance.signing.statements import Entry
    from provenance.watch.diffs import Diff
    from provenance.watch.schedule import RunResult


def verify_table(report: Report, *, verbose: bool = False) -> str:
    """The table ``prov verify`` prints; every name in it through ``printable``. Each
    FAIL starts with a plain sentence of what happened (``verification.plain``); the
    captures verified without a time-stamp are one line, not one per capture."""
    # deferred: start-up of --help (only a verify table needs the plain sentences)
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
        url = printable(change.url)
        lines.append(f"{label:9} {url}")
        lines.append(f"          {printable(change.takedown or '; '.join(change.changes))}")
        lines.append(f"          prov diff '{url}' --case '{printable(str(case_root))}'")
    return "\n".join(lines)


def source_status(row: dict[str, Any]) -> str:
    never = "never"
    lines = [printable(row["url"]) + (f"  every {row['interval']}" if row["interval"] else
                                "  (not in the sources file)"),
             f"  last run      {row['lastRun'] or never}"
             + (f"  capture {row['lastCapture']}" if row["lastCapture"] else ""),
             f"  next run      {row['nextRun'] or '-'}",
             f"  last change   {row['lastChange'] or never}",
             f"  last failure  {row['lastFailure'] or never}"
             + (f"  ({printable(str(row['lastError']))})" if row["lastFailure"] else "")]
    if row["removed"]:
        lines.append(f"  TAKEN DOWN    {row['removed']}")
    return "\n".join(lines)


def diff_text(diff: Diff) -> str:
    change = diff.change
    b, a = change.before, change.after
    lines = [printable(change.url),
             f"  from {b.capture_id} (logged {diff.before_at}): {_state(b.status, b.error)}"
             + (f", media {b.availability}" if b.availability else ""),
             f"  to   {a.capture_id} (logged {diff.after_at}): {_state(a.status, a.error)}"
             + (f", media {a.availability}" if a.availability else "")]
    if change.takedown:
        lines.append(f"  TAKEDOWN: {printable(change.takedown)}")
    lines += [f"  {printable(line)}" for line in change.changes] or ["  no differences"]
    for res_url, was, now in change.resources:
        lines.append(f"  resource {printable(res_url)}\n"
                     f"      before {printable(was or '(absent)')}\n"
                     f"      after  {printable(now or '(absent)')}")
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
    return f"HTTP {status}" if status is not None else f"no response ({printable(str(error))})"


# -- what each command calls -------------------------------------------------------------------


def show_report(report: Report, *, as_json: bool, verbose: bool = False,
                err: bool = False) -> None:
    """A verify report: its JSON (docs/FORMATS.md, "Verify report") or the table."""
    if as_json:
        _print_json(report.as_json())
    else:
        _echo(verify_table(report, verbose=verbose), err=err)


def show_snapshot(result: CaptureResult, *, as_json: bool, quiet: bool, streamed: bool) -> None:
    """A capture's summary: its JSON, or a line per URL (unless the progress display already
    wrote them, ``streamed``) and where it is sealed; nothing with ``quiet``."""
    if as_json:
        _print_json({"captureId": result.capture_id, "captureDir": result.capture_dir,
                     "urls": [o.as_json() for o in result.outcomes],
                     "unstamped": [{"tsa": o.url, "error": o.error} for o in result.unstamped],
                     **({"browser": result.browser} if result.browser else {}),
                     **({"media": result.media} if result.media is not None else {})})
    elif not quiet:
        if not streamed:
            for outcome in result.outcomes:
                _echo(summary_line(outcome))
        _echo(f"capture {result.capture_id} sealed in {result.capture_dir}")


def show_listings(rows: Iterable[CaptureListing], *, as_json: bool) -> None:
    """``captures list``: a line per capture, its note and the URLs it was given."""
    if as_json:
        _print_json([r.as_json() for r in rows])
        return
    for r in rows:
        _echo(f"{r.capture_id}\t{r.logged_at}\t{r.urls} urls\t{r.failed} failed")
        if r.note:
            _echo(f"    note: {printable(r.note)}")
        if r.unreadable:
            _echo(f"    files not readable here: {printable(r.unreadable)}")
        for seed in r.seeds:
            _echo(f"    {seed.status or 'no answer'}\t{printable(seed.url)}")
        if r.other_urls:
            _echo(f"    and {r.other_urls} other URL(s): `prov captures show "
                  f"{r.capture_id}` lists them")


def show_holdings(rows: Sequence[Holding], *, as_json: bool, none: str) -> None:
    """``captures find`` and ``captures list --url``: a line per record; ``none`` on stderr
    when there is none."""
    if as_json:
        _print_json([r.as_json() for r in rows])
        return
    if not rows:
        _err(none)
    for r in rows:
        what = (f"failed\t{printable(str(r.error))}" if r.record_type == "failed" else
                f"{r.status or r.record_type}\t{r.payload_digest or '-'}")
        _echo(f"{r.logged_at}\t{r.capture_id}\t{what}\t{printable(r.url)}")


def show_capture(shown: dict[str, Any], *, as_json: bool) -> None:
    """``captures show``: the seal, its files, the responses and the media posts."""
    if as_json:
        _print_json(shown)
        return
    pred = shown["seal"]["predicate"]
    _echo(f"capture   {shown['captureId']}\nfolder    {shown['captureDir']}\n"
          f"started   {pred['startedAt']}\nended     {pred['endedAt']}\n"
          f"operator  {pred['operator']}\nrecords   {pred['recordsRoot']}")
    if pred.get("note"):
        _echo(f"note      {printable(str(pred['note']))}")
    for subject in shown["seal"]["subject"]:
        _echo(f"file      {printable(str(subject['name']))}  sha256:{subject['digest']['sha256']}")
    for row in shown["records"]:
        if row["type"] == "response":
            _echo(f"  {row['status']}\t{printable(str(row['uri']))}")
    for post in shown.get("media", []):
        _echo(media_line(post))


def show_log(entries: Iterable[Entry], *, as_json: bool) -> None:
    """``log show``: each entry as it is read (the JSON array too), never all at once."""
    if as_json:
        _print_json_array(json.loads(e.payload()) for e in entries)
        return
    for e in entries:
        subjects = " ".join(printable(s.name) for s in e.subjects)
        _echo(f"{e.seq:>6} {e.time} {printable(e.action):18} {printable(e.actor[:24])}… "
              f"{subjects}")


def show_custody(chain: CustodyChain, *, as_json: bool) -> None:
    """``custody report``: periods of control, gaps, entries by others, a pending transfer."""
    if as_json:
        _print_json(chain.as_json())
        return
    for p in chain.periods:
        actions = ", ".join(f"{k} x{v}" for k, v in sorted(p.actions.items()))
        _echo(f"{p.start} .. {p.end or 'now'}  {p.custodian}  ({printable(p.name or '?')})\n"
              f"    {actions or 'no actions'}" +
              (f"\n    ended by {p.ended_by}" if p.ended_by else ""))
    for gap in chain.gaps:
        _echo(f"GAP {gap['from']} .. {gap['until']}: {printable(str(gap['reason']))}")
    for other in chain.others:
        _echo(f"NOTE entry {other['seq']} ({other['action']}) by {other['actor']}, "
              "not the custodian")
    if chain.pending:
        _echo(f"PENDING transfer (entry {chain.pending['seq']}) to "
              f"{printable(str(chain.pending['to']))}")


def show_run(result: RunResult, case_root: Path, *, as_json: bool) -> None:
    """``schedule run``: its JSON always with ``as_json``; otherwise the report, only when
    something changed or a run had to be completed (what cron mails)."""
    if as_json:
        _print_json(result.as_json())
    elif result.changes or result.repaired:
        _echo(run_report(case_root, result))


def show_status(rows: Sequence[dict[str, Any]], *, as_json: bool) -> None:
    """``schedule status``: each source's block."""
    if as_json:
        _print_json(rows)
        return
    for row in rows:
        _echo(source_status(row))


def show_diff(found: Diff, *, as_json: bool) -> None:
    """``diff``: its JSON or the text."""
    if as_json:
        _print_json(found.as_json())
    else:
        _echo(diff_text(found))
