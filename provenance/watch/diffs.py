"""``prov diff``: how a URL differs between two of its captures, and ``--on-change`` alerts.

The captures of a URL are the logged captures whose sealed CDXJ index holds a record for it
(binary search, no WARC is read to find them). The two snapshots are summed up and compared
as the scheduler does (``provenance.watch.changes``), and their visible texts are diffed line by
line (difflib's unified format); for two browser captures, so are their rendered texts (the
visible text of the DOM the page's scripts left), which is where a post loaded by script
changes.
"""

from __future__ import annotations

import difflib
import json
import subprocess
from dataclasses import dataclass, field
from typing import Any

from archive.errors import ConfigError, ProvError, UsageError
from archive.warc.cdxj import lookup
from provenance.base.ids import is_capture_dir
from provenance.capture.dedup import DedupIndex
from provenance.capture.resources import INDEX_NAME, latest_by_url, scan_capture
from provenance.custody.case import Case
from provenance.custody.logfile import iter_lines
from provenance.signing.dsse import parse_envelope
from provenance.signing.statements import Entry
from provenance.watch.changes import (
    Change,
    Page,
    compare,
    rendered_pair,
    snapshot_page,
    with_availability,
)

ON_CHANGE_TIMEOUT = 120


@dataclass(frozen=True)
class Logged:
    capture_id: str
    capture_dir: str
    logged_at: str
    media: tuple[dict[str, Any], ...] = ()  # the capture entry's media rows

    def post(self, url: str) -> dict[str, Any] | None:
        return next((row for row in self.media if row.get("url") == url), None)


def logged_captures(case: Case) -> list[Logged]:
    """The case's logged captures in log order (entries parsed, not verified: display only)."""
    out = []
    for number, line in enumerate(iter_lines(case.log_path)):
        try:
            entry = Entry.parse(parse_envelope(line, what=f"entry {number}").payload,
                                what=f"entry {number}")
        except (ProvError, ValueError):
            continue
        folder = str(entry.details.get("captureDir", ""))
        if entry.action == "capture" and is_capture_dir(folder):
            media = entry.details.get("media")
            rows = tuple(r for r in media if isinstance(r, dict)) if isinstance(
                media, list) else ()
            out.append(Logged(folder.rsplit("/", 1)[1], folder, entry.time, rows))
    return out


def captures_of(case: Case, url: str) -> list[Logged]:
    """Logged captures holding a response or revisit of ``url``, oldest first."""
    found = []
    for logged in logged_captures(case):
        index = case.root / logged.capture_dir / INDEX_NAME
        if index.is_file() and any(e.url == url and e.status for e in lookup(index, url)):
            found.append(logged)
    return found


def _pick(found: list[Logged], prefix: str | None, default: int, what: str) -> Logged:
    if prefix is None:
        return found[default]
    matches = [c for c in found if c.capture_id.startswith(prefix)]
    if len(matches) != 1:
        raise UsageError(f"{what} {prefix!r} matches {len(matches)} of the URL's "
                         f"{len(found)} captures")
    return matches[0]


@dataclass(frozen=True)
class Diff:
    change: Change
    text_diff: list[str]
    before_at: str
    after_at: str
    rendered_diff: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {**self.change.as_json(), "fromLoggedAt": self.before_at,
                "toLoggedAt": self.after_at, "before": self.change.before.as_json(),
                "after": self.change.after.as_json(), "textDiff": self.text_diff,
                "renderedTextDiff": self.rendered_diff}


def diff_url(case: Case, url: str, from_id: str | None = None,
             to_id: str | None = None) -> Diff:
    """Compare ``url`` in two captures: by default its last two."""
    found = captures_of(case, url)
    if len(found) < 2 and not (from_id and to_id):
        raise UsageError(f"{url} is in {len(found)} capture(s) of the case: nothing to compare",
                         hint="`prov captures list` shows the captures")
    before = _pick(found, from_id, -2, "--from")
    after = _pick(found, to_id, -1, "--to")
    index = DedupIndex.load(case)
    pages = [_page(case, index, logged, url) for logged in (before, after)]
    prints = [with_availability(page.fingerprint, logged.post(url), logged.logged_at)
              for page, logged in zip(pages, (before, after), strict=True)]
    change = compare(prints[0], prints[1])
    lines = _unified(pages[0].text, pages[1].text, f"{url} @ {before.capture_id}",
                     f"{url} @ {after.capture_id}")
    rendered = _unified(pages[0].rendered, pages[1].rendered,
                        f"{url} @ {before.capture_id} (rendered)",
                        f"{url} @ {after.capture_id} (rendered)") if rendered_pair(
                            *prints) else []
    return Diff(change, lines, before.logged_at, after.logged_at, rendered)


def _unified(before: str | None, after: str | None, before_name: str,
             after_name: str) -> list[str]:
    return list(difflib.unified_diff((before or "").splitlines(), (after or "").splitlines(),
                                     before_name, after_name, lineterm="", n=2))


def _page(case: Case, index: DedupIndex, logged: Logged, url: str) -> Page:
    by_url = latest_by_url(scan_capture(case.root / logged.capture_dir))
    hints = tuple(dict.fromkeys(k.capture_dir for u in by_url
                                if (k := index.urls.get(u)) is not None))
    return snapshot_page(case.root, logged.capture_id, logged.capture_dir, url, by_url, hints)


def run_on_change(command: str, summary: dict[str, Any]) -> None:
    """Run ``command`` through the shell with ``summary`` as JSON on stdin; ConfigError if it
    fails (what it alerts about is already committed)."""
    data = (json.dumps(summary, indent=2, ensure_ascii=False) + "\n").encode()
    try:
        done = subprocess.run(command, shell=True, input=data, capture_output=True,  # noqa: S602
                              timeout=ON_CHANGE_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigError(f"--on-change command failed: {exc}") from None
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
        raise ConfigError(f"--on-change command exited {done.returncode}: {tail[0]}",
                          hint="the snapshots and the change entries are committed")
