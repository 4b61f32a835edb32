"""What a long command shows while it runs: one progress display, rich's, on stderr.

A capture (``prov snapshot``, ``prov schedule run``) shows URLs done/queued/failed, bytes and
rate and the last URL done; a verification (``prov verify``, ``verify-warc``, replay's check)
shows bytes and files done, rate and failures so far. The display is drawn only when stderr
is a terminal, and erased when the command ends, so that stdout (the table, or ``--json``) is
never touched by it; the commands do not make one at all under ``--json`` or ``--quiet``. When
stderr is not a terminal (cron, CI, a pipe) a capture writes one summary line per finished URL
instead, and a verification nothing.

Start-up: ``rich.progress`` costs about 30 ms to import, so it is imported on the first draw,
never by a command whose stderr is not a terminal. No refresh thread is started (the verifier
forks worker processes): the display is redrawn from ``update``, at most ten times a second.

Threat (docs/SECURITY.md, "The terminal"): the URLs shown come from the pages captured, so each
goes through ``printable``, and rich is given plain text, never markup to interpret.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, TextIO

from provenance.base.terminal import printable
from provenance.cli.render import summary_line

if TYPE_CHECKING:
    from archive.http.crawl import UrlOutcome
    from provenance.verification.parallel import Tally

MIN_INTERVAL = 0.1  # seconds between two draws


def capture_line(counts: dict[str, int], seconds: float) -> str:
    """``3 done, 2 queued, 0 failed, 1.2 MB, 0.40 MB/s`` (and how many were not fetched)."""
    rate = counts["bytes"] / max(seconds, 1e-6)
    pending = counts["queued"] - counts["done"]
    skipped = counts.get("notFetched", 0)
    return (f"{counts['done']} done, {pending} queued, {counts['failed']} failed, "
            + (f"{skipped} not fetched, " if skipped else "")
            + f"{counts['bytes'] / 1e6:.1f} MB, {rate / 1e6:.2f} MB/s")


def verify_line(tally: Tally, seconds: float) -> str:
    """``1.2/3.4 GB (35%), 3/10 files, 812 MB/s, 0 failures``."""
    done, total = tally.bytes_done, tally.bytes_total
    share = f" ({100 * done // total}%)" if total else ""
    rate = done / max(seconds, 1e-6)
    failures = tally.failures
    return (f"{_size(done)}/{_size(total)}{share}, {tally.files_done}/{tally.files_total}"
            f" files, {rate / 1e6:.0f} MB/s, {failures} failure{'s' * (failures != 1)}")


def _size(count: int) -> str:
    if count >= 10**9:
        return f"{count / 1e9:.1f} GB"
    return f"{count / 1e6:.1f} MB"


class _Display:
    """A bar and a line of text, on ``stream`` if it is a terminal; nothing otherwise."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.live = stream.isatty()
        self.start = time.monotonic()
        self._last = 0.0
        self._bar: Any = None  # rich.progress.Progress, made on the first draw
        self._task: Any = None

    def _draw(self, completed: int, total: int, *, force: bool = False, **fields: str) -> None:
        now = time.monotonic()
        if not force and now - self._last < MIN_INTERVAL:
            return
        self._last = now
        started = self._bar is not None
        if not started:
            self._bar, self._task = _display(self.stream, list(fields))
        self._bar.update(self._task, completed=completed, total=total or None,
                         **{name: printable(text) for name, text in fields.items()})
        if started:
            self._bar.refresh()
        else:
            self._bar.start()  # draws it

    def finish(self) -> None:
        """Erase the display (and show the cursor again); a no-op if nothing was drawn."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def _display(stream: TextIO, fields: list[str]) -> tuple[Any, Any]:
    """rich's progress display with one task: a bar, then each field as plain text on one
    line; a ``url`` field takes what room is left and is cut (…) to fit the terminal."""
    # deferred: start-up (only a terminal that shows progress loads rich, see above)
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn
    from rich.table import Column

    columns = [TextColumn(f"{{task.fields[{name}]}}", markup=False,
                          table_column=Column(no_wrap=True, overflow="ellipsis",
                                              ratio=1 if name == "url" else None))
               for name in fields]
    bar = Progress(BarColumn(bar_width=24, complete_style="green", finished_style="green"),
                   *columns,
                   console=Console(file=stream, highlight=False, emoji=False, markup=False),
                   auto_refresh=False, transient=True, expand="url" in fields,
                   redirect_stdout=False, redirect_stderr=False)
    return bar, bar.add_task("", total=None)


class CaptureProgress(_Display):
    """A capture's display on ``stream`` if it is a terminal; otherwise each URL's summary
    line goes to ``lines`` as soon as it is done (and ``streamed`` tells the caller not to
    repeat them)."""

    def __init__(self, stream: TextIO, lines: TextIO) -> None:
        super().__init__(stream)
        self.lines = lines
        self.streamed = False

    def update(self, outcome: UrlOutcome, counts: dict[str, int]) -> None:
        if not self.live:
            self.lines.write(summary_line(outcome) + "\n")
            self.lines.flush()
            self.streamed = True
            return
        self._draw(counts["done"], counts["queued"],
                   counts=capture_line(counts, time.monotonic() - self.start),
                   url=outcome.seed)


class VerifyProgress(_Display):
    """A verification's display on ``stream`` if it is a terminal; nothing otherwise."""

    def update(self, tally: Tally) -> None:
        if not self.live:
            return
        self._draw(tally.bytes_done, tally.bytes_total,
                   force=tally.files_done == tally.files_total,
                   counts=verify_line(tally, time.monotonic() - self.start))
