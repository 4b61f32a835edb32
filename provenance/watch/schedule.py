"""``prov schedule run``: snapshot the sources that are due, once, then exit (made for cron).

One run at a time: a run holds ``flock`` on ``CASE/state/schedule.lock`` (non-blocking; the
kernel frees it when the process dies, so there is no stale-pid logic) for its whole length.
It is not ``CASE/.lock``: every capture appends to the custody log under that lock, which a
run holding it itself would wait for forever.

A run: repair what an interrupted run left (a ``running`` mark in the state says so); pick the
due sources; capture each group of sources with equal options as one capture, deduplicated
against the case (``provenance.capture.dedup``); compare each source with its previous snapshot
(``provenance.watch.changes``) and log ``change-detected`` / ``takedown-detected`` entries; then
save the state. State (``CASE/state/schedule.json``) is derived and unsigned and is written
last, by rename: a run killed at any point leaves a case that verifies, and sources not yet
marked done are due again on the next run.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archive.errors import ConfigError, LockedError, ProvError
from archive.media.availability import REFUSALS
from provenance.base import timefmt
from provenance.base.ids import is_capture_dir
from provenance.base.untrusted import load_json, read_regular
from provenance.capture import snapshot as capture_mod
from provenance.capture.dedup import DedupIndex
from provenance.capture.mediaposts import load_posts
from provenance.capture.options import SnapshotOptions
from provenance.capture.resources import latest_by_url, scan_capture
from provenance.custody import derived
from provenance.custody.case import SEAL_NAME, Case
from provenance.custody.log import CustodyLog, NewEntry, file_subject
from provenance.custody.stamping import Stamper, checkpoint_stamper
from provenance.repair import repair_case
from provenance.signing.keys import SigningKey
from provenance.verification.sealedcaptures import SealedCaptures
from provenance.watch.changes import (
    Change,
    Fingerprint,
    compare,
    snapshot_page,
    takedown,
    with_availability,
)
from provenance.watch.sources import Source, load_sources

if TYPE_CHECKING:
    from archive.http.crawl import UrlOutcome

STATE_FILE = "schedule.json"
MAX_STATE = 256 << 20
LOCK_FILE = "schedule.lock"
RUNS_LOG = "runs.log"
MAX_GRACE = 120  # seconds a source may be early and still be due (cron starts drift)


@dataclass
class RunResult:
    started_at: str
    ended_at: str = ""
    due: list[str] = field(default_factory=list)
    captures: list[str] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    unstamped: list[dict[str, str]] = field(default_factory=list)  # captureId, tsa, error
    decisions: list[str] = field(default_factory=list)  # why, in words (`-v`); not in JSON

    @property
    def exit_code(self) -> int:
        return 5 if self.failures else 0

    def as_json(self) -> dict[str, Any]:
        return {"startedAt": self.started_at, "endedAt": self.ended_at, "due": self.due,
                "captures": self.captures, "changes": [c.as_json() for c in self.changes],
                "failures": [{"url": u, "error": e} for u, e in self.failures],
                "repaired": self.repaired, "unstamped": self.unstamped,
                "exit": self.exit_code}


@contextlib.contextmanager
def run_lock(case: Case) -> Iterator[None]:
    """Hold ``state/schedule.lock`` for a run, or raise LockedError (exit 7) at once."""
    derived.make_way(case.state_dir, folder=True)
    case.state_dir.mkdir(exist_ok=True)
    derived.make_way(case.state_dir / LOCK_FILE)  # a regular file (held or not) stays
    fd = os.open(case.state_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            running = load_state(case).get("running") or {}
            raise LockedError(
                f"{case.root}: another `prov schedule run` is running on this case (pid "
                f"{running.get('pid', '?')}, since {running.get('startedAt', '?')}); "
                "this run did nothing", hint="runs never overlap: the next one will "
                "snapshot whatever is due then") from None
        yield
    finally:
        os.close(fd)


def load_state(case: Case) -> dict[str, Any]:
    try:
        doc = load_json(read_regular(case.state_dir / STATE_FILE, MAX_STATE), what=STATE_FILE,
                        limit=MAX_STATE)
    except (ProvError, OSError, ValueError):
        doc = {}
    if not isinstance(doc, dict) or not isinstance(doc.get("sources"), dict):
        doc = {"version": 1, "sources": {}}
    return doc


def save_state(case: Case, state: dict[str, Any]) -> None:
    path = case.state_dir / STATE_FILE
    tmp = path.with_suffix(".tmp")
    for planted in (path, tmp):
        derived.make_way(planted)
    tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
    os.replace(tmp, path)


def next_run(source: Source, entry: dict[str, Any]) -> datetime | None:
    """When ``source`` is due again (None: now, it never ran)."""
    last = entry.get("lastRun")
    if not last:
        return None
    return timefmt.parse_time(last) + timedelta(seconds=source.seconds)


def is_due(source: Source, entry: dict[str, Any], now: datetime) -> bool:
    due = next_run(source, entry)
    grace = timedelta(seconds=min(source.seconds / 10, MAX_GRACE))
    return due is None or now + grace >= due


def run(sources_path: Path, case: Case, key: SigningKey, stamper: Stamper, *,
        everything: bool = False, now: Callable[[], datetime] = timefmt.utc_now,
        on_progress: Callable[[UrlOutcome, dict[str, int]], None] | None = None) -> RunResult:
    """Snapshot every due source (``everything``: every source) and detect changes;
    ``on_progress`` sees each URL as the captures fetch it (``snapshot``'s callback)."""
    sources = load_sources(sources_path)
    browser = _browser_options(sources_path, sources)
    media = _media_options(sources_path, sources)
    with run_lock(case):
        started = now()
        result = RunResult(timefmt.format_time(started))
        state = load_state(case)
        if state.get("running"):
            result.repaired = repair_case(case, key, now, stamper) or ["nothing to repair"]
        state["running"] = {"pid": os.getpid(), "startedAt": result.started_at}
        save_state(case, state)
        entries = state["sources"]
        due = [s for s in sources if everything or is_due(s, entries.get(s.url, {}), started)]
        result.due = [s.url for s in due]
        result.decisions += [_why_due(s, entries.get(s.url, {}), s in due, everything)
                             for s in sources]
        if due:
            _capture_due(case, key, stamper, due, entries, result, now, browser, media,
                         on_progress)
        state.pop("running")
        result.ended_at = timefmt.format_time(now())
        save_state(case, state)
        _log_run(case, result)
    return result


def _groups(due: Sequence[Source]) -> list[list[Source]]:
    groups: dict[tuple[bool, bool, bool, int, bool], list[Source]] = {}
    for source in due:
        groups.setdefault(source.group, []).append(source)
    return list(groups.values())


def _browser_options(path: Path, sources: Sequence[Source]) -> Any:
    """Browser-capture options if a source wants a browser; ConfigError naming its line when
    this machine cannot run one (checked before anything runs)."""
    wanting = [s for s in sources if s.browser]
    if not wanting:
        return None
    try:
        return SnapshotOptions(browser=True).pages()
    except ConfigError as exc:
        raise ConfigError(f"{path}:{wanting[0].line}: {wanting[0].url}: browser = true, but "
                          f"{exc}", hint=exc.hint) from None


def _media_options(path: Path, sources: Sequence[Source]) -> Any:
    """Media-capture options if a source wants yt-dlp; ConfigError naming its line when
    yt-dlp is not installed."""
    wanting = [s for s in sources if s.media]
    if not wanting:
        return None
    try:
        return SnapshotOptions(media=True).posts()
    except ConfigError as exc:
        raise ConfigError(f"{path}:{wanting[0].line}: {wanting[0].url}: media = true, but "
                          f"{exc}", hint=exc.hint) from None


def _why_due(source: Source, entry: dict[str, Any], due: bool, everything: bool) -> str:
    """Why ``source`` is (or is not) snapshotted in this run, in words."""
    when = next_run(source, entry)
    if due and everything:
        return f"{source.url}: snapshotted now (--all)"
    if when is None:
        return f"{source.url}: due: never snapshotted before"
    if due:
        return f"{source.url}: due: last run {entry.get('lastRun')}, every {source.seconds:g} s"
    return (f"{source.url}: not due until {timefmt.format_time(when)} (last run "
            f"{entry.get('lastRun')}, every {source.seconds:g} s)")


def _capture_due(case: Case, key: SigningKey, stamper: Stamper, due: Sequence[Source],
                 entries: dict[str, Any], result: RunResult,
                 now: Callable[[], datetime], browser: Any, media: Any = None,
                 on_progress: Callable[[UrlOutcome, dict[str, int]], None] | None = None
                 ) -> None:
    index = DedupIndex.load(case, key.public)
    index.save()
    previous = PreviousSnapshots(case, index.sealed)
    for source in due:
        if source.url in entries:
            entries[source.url] = previous.checked(source.url, entries[source.url])
    events: list[NewEntry] = []
    updates: dict[str, dict[str, Any]] = {}
    for group in _groups(due):
        first = group[0]
        options = first.options().crawl()
        urls = [s.url for s in group]
        try:
            captured = capture_mod.snapshot(case, urls, key, options, stamper=stamper,
                                            note=f"prov schedule run: {len(urls)} source(s)",
                                            dedup=index, now=now, on_progress=on_progress,
                                            browser=browser if first.browser else None,
                                            media=media if first.media else None)
        except ProvError as exc:  # nothing committed: the group stays due
            result.failures += [(u, f"capture failed: {exc}") for u in urls]
            result.decisions += [f"{u}: capture failed ({exc}): still due next run"
                                 for u in urls]
            for url in urls:
                updates[url] = {**entries.get(url, {}), "lastFailure": result.started_at,
                                "lastError": f"capture failed: {exc}"}
            continue
        result.captures.append(captured.capture_id)
        result.unstamped += [{"captureId": captured.capture_id, "tsa": o.url,
                              "error": o.error or ""} for o in captured.unstamped]
        result.failures += [(o.seed, o.error or "no response") for o in captured.failed]
        scanned: dict[str, Any] = {}
        index.catch_up(scanned)
        index.save()
        by_url = latest_by_url(scanned.get(captured.capture_dir, []))
        hints = tuple(dict.fromkeys(k.capture_dir for u in by_url
                                    if (k := index.urls.get(u)) is not None))
        seal = file_subject(case, case.root / captured.capture_dir / SEAL_NAME)
        posts = {p["url"]: p for p in captured.media or []}
        for source in group:
            page = snapshot_page(case.root, captured.capture_id, captured.capture_dir,
                                 source.url, by_url, hints, previous.is_sealed)
            fingerprint = with_availability(page.fingerprint, posts.get(source.url),
                                            result.started_at)
            entry = dict(entries.get(source.url, {}))
            events += _detect(entry, fingerprint, result, seal)
            entry["lastRun"] = result.started_at
            entry["lastCapture"] = captured.capture_id
            updates[source.url] = entry
    if events:
        with case.lock():
            CustodyLog(case, checkpoint_stamper(case, stamper)).append(events, key, now())
    entries.update(updates)


# Fingerprint fields read from the capture's records; ``at`` (when the run was) is not in the
# WARC files and is kept as stored. A media post's fields come from the capture's sealed
# ``urn:prov:media:`` record (provenance.capture.mediaposts), read only for a media source.
MEDIA_FIELDS = frozenset({"availability", "availability_reason", "media"})
RECORDED = frozenset(Fingerprint.__dataclass_fields__) - {"at"} - MEDIA_FIELDS


class PreviousSnapshots:
    """A source's previous snapshots in ``state/schedule.json``, held to the sealed captures
    they name before a change or takedown is signed on their word (docs/SECURITY.md,
    "Derived state"): each fingerprint is made again from its capture, which must be sealed
    for this case by a trusted key with its files as sealed; a stored one that differs is
    replaced (one that cannot be made again is dropped), with a warning."""

    def __init__(self, case: Case, sealed: SealedCaptures) -> None:
        self.case = case
        self.sealed = sealed
        self._scanned: dict[str, dict[str, Any] | None] = {}

    def checked(self, url: str, entry: dict[str, Any]) -> dict[str, Any]:
        entry = dict(entry)
        for name in ("fingerprint", "available"):
            if name in entry and not self._holds(url, entry, name):
                entry.pop("removed", None)  # judged against what no longer stands
        removed = entry.get("removed")
        if removed and not self._still_removed(entry):
            derived.rebuilt("state/schedule.json", f"{url} is marked taken down, which its "
                            "snapshots there do not show")
            entry.pop("removed")
        return entry

    def _holds(self, url: str, entry: dict[str, Any], name: str) -> bool:
        stored = entry[name]
        try:
            capture_dir = str(stored["capture_dir"])
            made = self._fingerprint(url, capture_dir, str(stored["capture_id"]),
                                     media=stored.get("availability") is not None)
        except (KeyError, TypeError):
            made = None
        # a field the stored one lacks was written by an older prov: filled in from the capture
        if made is not None and all(stored[f] == v for f, v in made.items() if f in stored):
            entry[name] = {**stored, **made}
            return True
        where = f"the sealed capture {stored.get('capture_dir')}" if isinstance(
            stored, dict) else "no capture"
        derived.rebuilt("state/schedule.json", f"the {name} of {url} is not what {where} holds")
        if made is None:
            entry.pop(name)
        else:
            entry[name] = {**stored, **made}
        return False

    def is_sealed(self, capture_dir: str) -> bool:
        """Whether a folder holds what a trusted key sealed for this case: the only place a
        revisit's original body is read from before a change is signed."""
        return is_capture_dir(capture_dir) and self.sealed.seal(
            capture_dir) is not None

    def _fingerprint(self, url: str, capture_dir: str, capture_id: str, *,
                     media: bool = False) -> dict[str, Any] | None:
        """The recorded fields of ``url``'s fingerprint in a sealed capture, or None; with
        ``media``, also its availability and media digests from the capture's media record."""
        if capture_dir not in self._scanned:
            self._scanned[capture_dir] = latest_by_url(scan_capture(
                self.case.root / capture_dir)) if self.is_sealed(capture_dir) else None
        by_url = self._scanned[capture_dir]
        if by_url is None or capture_id != capture_dir.rsplit("/", 1)[-1]:
            return None
        made = snapshot_page(self.case.root, capture_id, capture_dir, url, by_url,
                             sealed=self.is_sealed).fingerprint
        fields = RECORDED
        if media:
            posts = load_posts(self.case.root / capture_dir, capture_id)
            made = with_availability(made, posts.get(url), None)
            fields = RECORDED | MEDIA_FIELDS
        return {k: v for k, v in made.as_json().items() if k in fields}

    @staticmethod
    def _still_removed(entry: dict[str, Any]) -> bool:
        try:
            return takedown(Fingerprint.from_json(entry["available"]),
                            Fingerprint.from_json(entry["fingerprint"])) is not None
        except (KeyError, TypeError, ValueError):
            return False


def _detect(entry: dict[str, Any], current: Fingerprint, result: RunResult,
            seal: Any) -> list[NewEntry]:
    """Compare with the source's previous snapshot; update ``entry``; the entries to log."""
    say = result.decisions.append
    if current.status is None:
        entry["lastFailure"], entry["lastError"] = result.started_at, current.error
        say(f"{current.url}: no answer ({current.error}): nothing to compare")
        return []
    if current.availability in REFUSALS:  # the platform refused us: nothing about the post
        entry["lastFailure"] = result.started_at
        entry["lastError"] = f"{current.availability}: {current.availability_reason}"
        say(f"{current.url}: the platform refused ({entry['lastError']}): nothing said about "
            "the post")
        return []
    previous = entry.get("fingerprint")
    available = entry.get("available")
    entry["fingerprint"] = current.as_json()
    if previous is None:
        if current.status < 400:
            entry["available"] = current.as_json()
        say(f"{current.url}: first snapshot ({current.status}, capture {current.capture_id}): "
            "later runs are compared with it")
        return []
    change = compare(Fingerprint.from_json(previous), current,
                     Fingerprint.from_json(available) if available else None)
    was_removed = entry.get("removed")
    if change.takedown and available:
        entry["removed"] = change.takedown
        if was_removed:
            say(f"{current.url}: still gone ({change.takedown}): reported before, not again")
            return []  # still gone: reported once
        entry["lastTakedown"] = entry["lastChange"] = result.started_at
        result.changes.append(change)
        say(f"{current.url}: taken down ({change.takedown}): logged as takedown-detected")
        return [NewEntry("takedown-detected", (seal,), change_details(change, change.takedown))]
    entry.pop("removed", None)
    if current.status < 400:
        entry["available"] = current.as_json()
    if was_removed and available:  # back: what differs from before it went away
        change = compare(Fingerprint.from_json(available), current)
        change = Change(change.url, change.before, change.after,
                        (f"available again (was: {was_removed})", *change.changes),
                        change.resources)
    if not change.changes:
        say(f"{current.url}: unchanged since capture {Fingerprint.from_json(previous).capture_id}"
            f" (status {current.status}, same content and visible text)")
        return []
    entry["lastChange"] = result.started_at
    entry["lastChangeSummary"] = "; ".join(change.changes)
    result.changes.append(change)
    say(f"{current.url}: changed ({'; '.join(change.changes)}): logged as change-detected")
    return [NewEntry("change-detected", (seal,), change_details(change, None))]


def change_details(change: Change, reason: str | None) -> dict[str, Any]:
    details: dict[str, Any] = {
        "url": change.url, "captureId": change.after.capture_id,
        "previousCaptureId": change.before.capture_id, "status": change.after.status,
        "finalUrl": change.after.final_url, "changes": list(change.changes),
        "resources": len(change.resources)}
    if change.after.availability is not None:
        details["availability"] = change.after.availability
    if change.rendered is not None:
        details["renderedText"] = change.rendered
    if reason is not None:
        details["reason"] = reason
        details["lastSeen"] = {"captureId": change.available.capture_id,
                               "at": change.available.at}
        details["firstMissing"] = {"captureId": change.after.capture_id,
                                   "at": change.after.at}
    return details


def _log_run(case: Case, result: RunResult) -> None:
    line = {**result.as_json(), "changes": [c.url for c in result.changes],
            "takedowns": [c.url for c in result.changes if c.takedown]}
    derived.make_way(case.state_dir / RUNS_LOG)  # a FIFO there would block the write
    with open(case.state_dir / RUNS_LOG, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(line, sort_keys=True) + "\n")

