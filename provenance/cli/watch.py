"""``prov schedule`` and ``prov diff``: watched sources snapshotted when due, and how a URL
changed between two captures.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from archive.errors import ExitCode
from provenance import api
from provenance.base import timefmt
from provenance.cli import render
from provenance.cli.options import (
    PathArg,
    _after_change,
    _err,
    _say_unstamped,
    _stamper,
    case_option,
    key_option,
    publish_options,
)
from provenance.cli.progress import CaptureProgress
from provenance.watch import diffs, runs
from provenance.watch import schedule as schedule_mod


@click.group()
def schedule() -> None:
    """Watched sources, snapshotted when due (for cron and systemd timers)."""


@schedule.command("run")
@click.argument("sources", type=PathArg(dir_okay=False, path_type=Path))
@case_option
@key_option
@click.option("--all", "everything", is_flag=True, help="Snapshot every source now, due or not.")
@click.option("--on-change", metavar="CMD",
              help="When something changed, run CMD (through the shell) with the changes as "
                   "JSON on stdin.")
@click.option("--json", "as_json", is_flag=True, help="Print the run as JSON, always.")
@click.option("-v", "--verbose", is_flag=True,
              help="Say on stderr what the run decided for each source: due or not and "
                   "why, first snapshot, unchanged, changed, taken down, failed.")
@publish_options
def schedule_run(sources: Path, case_path: str | None, key_name: str, everything: bool,
                 on_change: str | None, as_json: bool, verbose: bool, print_checkpoint: bool,
                 publish: str | None, tsa: tuple[str, ...], tsa_timeout: float) -> None:
    """Snapshot the sources that are due, then exit. Never prompts; prints nothing unless
    something changed or failed (exit 5 when a capture failed, 7 when a run is going on).
    Run by hand on a terminal, it shows the fetches going on (stderr)."""
    case = api.open_case(case_path)
    key = api.load_key(key_name, case=case)  # the passphrase from the environment: cron cannot type
    with api.case_session(case, run="schedule"):  # a case in a bucket: one run at a time
        progress = CaptureProgress(sys.stderr, sys.stderr) if sys.stderr.isatty() else None
        try:
            result = schedule_mod.run(sources, case, key, _stamper(case.root, tsa, tsa_timeout),
                                      everything=everything,
                                      on_progress=progress.update if progress else None)
        finally:
            if progress:
                progress.finish()
    if verbose:
        for line in result.decisions:
            _err(line)
        if not result.due:
            _err("nothing was due: no capture made")
    render.show_run(result, case.root, as_json=as_json)
    if result.captures:
        _after_change(case, print_checkpoint, publish)
    if on_change and result.changes:
        diffs.run_on_change(on_change, {"case": str(case.root), "caseId": case.info.id,
                                        **result.as_json()})
    for row in result.unstamped:
        _say_unstamped(row["captureId"], [(row["tsa"], row["error"])], ())
    if all(u == "none" for u in tsa) and tsa and result.captures:
        _say_unstamped(", ".join(result.captures), [], tsa)
    for url, error in result.failures:
        _err(f"{url}: {error}")
    if result.failures:
        _err(f"{len(result.failures)} URL(s) could not be captured (the attempts are sealed in "
             f"{', '.join(result.captures) or 'no capture'})")
        raise SystemExit(ExitCode.CAPTURE_FAILED)


@schedule.command("status")
@click.argument("sources", required=False, type=PathArg(dir_okay=False, path_type=Path))
@case_option
@click.option("--json", "as_json", is_flag=True, help="Print it as JSON instead of text.")
def schedule_status(sources: Path | None, case_path: str | None, as_json: bool) -> None:
    """Each source's last and next run, last change and last failure."""
    render.show_status(runs.status(api.open_case(case_path), sources, timefmt.utc_now()),
                       as_json=as_json)


@click.command("diff")
@click.argument("url")
@click.option("--from", "from_id", metavar="ID", help="Capture id (or prefix); default: the "
              "URL's second-to-last capture.")
@click.option("--to", "to_id", metavar="ID", help="Capture id (or prefix); default: its last.")
@case_option
@click.option("--json", "as_json", is_flag=True, help="Print it as JSON instead of text.")
@click.option("--on-change", metavar="CMD",
              help="If the two differ, run CMD (through the shell) with the diff as JSON on "
                   "stdin.")
def diff(url: str, from_id: str | None, to_id: str | None, case_path: str | None,
         as_json: bool, on_change: str | None) -> None:
    """How a URL differs between two captures: status, content, visible text, resources."""
    found = diffs.diff_url(api.open_case(case_path), url, from_id, to_id)
    render.show_diff(found, as_json=as_json)
    if on_change and (found.change.changes or found.change.takedown):
        diffs.run_on_change(on_change, found.as_json())
