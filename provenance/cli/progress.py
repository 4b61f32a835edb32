"""What a capture shows while it runs: a live line on a terminal, one line per URL otherwise.

The live line (done/queued/failed, bytes, rate) is redrawn on stderr at most ten times a
second; when stderr is not a terminal (cron, CI, a pipe) each finished URL is one line.
``--json`` and ``--quiet`` show neither.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, TextIO

from provenance.base.terminal import printable

if TYPE_CHECKING:
    from archive.http.crawl import UrlOutcome


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


class Progress:
    """Live on ``stream`` if it is a terminal; otherwise each URL's summary line goes to
    ``lines`` as soon as it is done (and ``streamed`` tells the caller not to repeat them)."""

    def __init__(self, stream: TextIO, lines: TextIO) -> None:
        self.stream = stream
        self.lines = lines
        self.live = stream.isatty()
        self.streamed = False
        self.start = time.monotonic()
        self.last_draw = 0.0
        self.drawn = False

    def update(self, outcome: UrlOutcome, counts: dict[str, int]) -> None:
        if not self.live:
            self.lines.write(summary_line(outcome) + "\n")
            self.lines.flush()
            self.streamed = True
            return
        now = time.monotonic()
        if now - self.last_draw < 0.1:
            return
        self.last_draw = now
        rate = counts["bytes"] / max(now - self.start, 1e-6)
        pending = counts["queued"] - counts["done"]
        skipped = counts.get("notFetched", 0)
        line = (f"{counts['done']} done, {pending} queued, {counts['failed']} failed, "
                + (f"{skipped} not fetched, " if skipped else "")
                + f"{counts['bytes'] / 1e6:.1f} MB, {rate / 1e6:.2f} MB/s")
        self.stream.write("\r\x1b[K" + line)
        self.stream.flush()
        self.drawn = True

    def finish(self) -> None:
        if self.drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
