"""provenance.cli.progress: the one progress display. On a terminal rich draws it and erases
it at the end, every URL shown escaped; otherwise a capture writes one line per URL, with
every name escaped, and nothing is drawn (nor rich imported)."""

from __future__ import annotations

import io
import os
import pty
import select
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

import pytest

from archive.http.crawl import Hop, UrlOutcome
from provenance.cli.progress import (
    CaptureProgress,
    VerifyProgress,
    capture_line,
    verify_line,
)
from provenance.cli.render import summary_line
from provenance.verification.parallel import Tally


def hop(url: str, status: int | None, size: int = 10) -> Hop:
    return Hop(url=url, status=status, bytes=size, records=2)


@contextmanager
def terminal() -> Iterator[tuple[TextIO, list[bytes]]]:
    """A pseudo-terminal as a text stream; what was written to it is in the list after."""
    leader, follower = pty.openpty()
    stream = open(follower, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
    drawn: list[bytes] = []
    try:
        yield stream, drawn
        stream.flush()
        while select.select([leader], [], [], 0.2)[0]:
            drawn.append(os.read(leader, 65536))
    finally:
        stream.close()
        os.close(follower)
        os.close(leader)


def test_lines_of_the_display() -> None:
    counts = {"done": 3, "queued": 5, "failed": 1, "bytes": 2_000_000, "notFetched": 2}
    assert capture_line(counts, 4.0) == ("3 done, 2 queued, 1 failed, 2 not fetched, 2.0 MB, "
                                         "0.50 MB/s")
    shown = verify_line(Tally(1_500_000_000, 3_000_000_000, 3, 10, failures=1), 2.0)
    assert shown == "1.5 GB/3.0 GB (50%), 3/10 files, 750 MB/s, 1 failure"


def test_not_a_terminal_streams_one_line_per_url() -> None:
    stream, lines = io.StringIO(), io.StringIO()
    progress = CaptureProgress(stream, lines)
    assert not progress.live
    outcome = UrlOutcome("http://a.test/\r\x1b[1A", [hop("http://a.test/", 200)])
    progress.update(outcome, {"done": 1, "queued": 1, "failed": 0, "bytes": 10})
    progress.finish()
    assert lines.getvalue() == summary_line(outcome) + "\n"
    assert "\x1b" not in lines.getvalue() and "\\x1b[1A" in lines.getvalue()
    assert progress.streamed
    assert stream.getvalue() == ""


def test_not_a_terminal_never_imports_rich() -> None:
    script = ("import io, sys\n"
              "from provenance.cli.progress import VerifyProgress\n"
              "from provenance.verification.parallel import Tally\n"
              "shown = VerifyProgress(io.StringIO())\n"
              "shown.update(Tally(1, 1, 1, 1))\n"
              "shown.finish()\n"
              "print(sorted(m for m in sys.modules if m.split('.')[0] == 'rich'))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True, timeout=60)
    assert done.stdout == "[]\n"


def test_capture_on_a_terminal_is_drawn_escaped_and_erased(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "160")  # room for the URL (else it is cut to fit)
    lines = io.StringIO()
    with terminal() as (stream, drawn):
        progress = CaptureProgress(stream, lines)
        assert progress.live
        outcome = UrlOutcome("http://a.test/\x1b]0;owned\x07\r", [hop("http://a.test/", 200)])
        progress.update(outcome, {"done": 1, "queued": 3, "failed": 0, "bytes": 10})
        progress.finish()
    shown = b"".join(drawn)
    assert b"1 done, 2 queued, 0 failed" in shown
    assert b"http://a.test/\\x1b]0;owned\\x07\\r" in shown  # the URL, escaped
    assert b"\x1b]0" not in shown and b"\x07" not in shown
    assert shown.endswith(b"\x1b[2K")  # erased: the line is cleared at the end
    assert lines.getvalue() == "" and not progress.streamed


def test_verify_on_a_terminal_is_drawn_and_erased() -> None:
    with terminal() as (stream, drawn):
        progress = VerifyProgress(stream)
        progress.update(Tally(5_000_000, 10_000_000, 1, 2))
        progress.update(Tally(10_000_000, 10_000_000, 2, 2))  # the last one is always drawn
        progress.finish()
        progress.finish()  # twice is harmless
    shown = b"".join(drawn)
    assert b"10.0 MB/10.0 MB (100%), 2/2 files" in shown and b"0 failures" in shown
    assert shown.endswith(b"\x1b[2K")


def test_nothing_drawn_nothing_erased() -> None:
    with terminal() as (stream, drawn):
        VerifyProgress(stream).finish()
    assert drawn == []
