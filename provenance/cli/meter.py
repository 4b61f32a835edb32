"""A live line for long verifications: bytes and files done, rate, failures so far.

Drawn on stderr, only when stderr is a terminal, at most five times a second, and erased at
the end, so that what goes to stdout (the table, or ``--json``) is never touched by it.
"""

from __future__ import annotations

import time
from typing import TextIO

from provenance.verification.parallel import Tally

MIN_INTERVAL = 0.2


class Meter:
    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.live = stream.isatty()
        self.start = time.monotonic()
        self.last = 0.0
        self.drawn = False

    def update(self, progress: Tally) -> None:
        if not self.live:
            return
        now = time.monotonic()
        if now - self.last < MIN_INTERVAL and progress.files_done < progress.files_total:
            return
        self.last = now
        self.stream.write("\r\x1b[K" + line(progress, now - self.start))
        self.stream.flush()
        self.drawn = True

    def finish(self) -> None:
        if self.drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def line(progress: Tally, seconds: float) -> str:
    """``1.2/3.4 GB (35%), 3/10 files, 812 MB/s, 0 failures``."""
    done, total = progress.bytes_done, progress.bytes_total
    share = f" ({100 * done // total}%)" if total else ""
    rate = done / max(seconds, 1e-6)
    failures = progress.failures
    return (f"{_size(done)}/{_size(total)}{share}, {progress.files_done}/{progress.files_total}"
            f" files, {rate / 1e6:.0f} MB/s, {failures} failure{'s' * (failures != 1)}")


def _size(count: int) -> str:
    if count >= 10**9:
        return f"{count / 1e9:.1f} GB"
    return f"{count / 1e6:.1f} MB"
