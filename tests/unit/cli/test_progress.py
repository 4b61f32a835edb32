"""provenance.cli.progress: one line per URL when stderr is not a terminal, every name shown
with nothing a terminal acts on; nothing drawn live then."""

from __future__ import annotations

import io

from archive.http.crawl import Hop, UrlOutcome
from provenance.cli.progress import Progress, summary_line


def hop(url: str, status: int | None, size: int = 10) -> Hop:
    return Hop(url=url, status=status, bytes=size, records=2)


def test_summary_lines() -> None:
    ok = UrlOutcome("http://a.test/", [hop("http://a.test/", 200, 1234)], seconds=0.5)
    assert summary_line(ok) == "200\thttp://a.test/\t1234 bytes, 2 records, 0.50 s"
    failed = UrlOutcome("http://a.test/\x1b[2J", error="connection refused")
    assert summary_line(failed) == "FAILED\thttp://a.test/\\x1b[2J\tconnection refused"
    skipped = UrlOutcome("http://a.test/s.css", kind="requisite", total_time_limit=True)
    assert summary_line(skipped).startswith("NOT FETCHED\thttp://a.test/s.css (requisite)\t")


def test_not_a_terminal_streams_one_line_per_url() -> None:
    stream, lines = io.StringIO(), io.StringIO()
    progress = Progress(stream, lines)
    assert not progress.live
    outcome = UrlOutcome("http://a.test/", [hop("http://a.test/", 200)])
    progress.update(outcome, {"done": 1, "queued": 1, "failed": 0, "bytes": 10})
    progress.finish()
    assert lines.getvalue() == summary_line(outcome) + "\n"
    assert progress.streamed
    assert stream.getvalue() == ""
