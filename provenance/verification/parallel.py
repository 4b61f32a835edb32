"""Checking WARC files on every core: files cut into ranges, ranges scanned by worker processes,
results put back together in file order, so a report never depends on scheduling.

A file is cut where records start (``archive.warc.members.split_points``); each range is scanned on
its own (``archive.warc.scan.scan_range``); the sha256 of the whole file, which cannot be split, is
one more task. Ranges of one file must join exactly: each must end cleanly where the next begins.
When one does not (a damaged file, or a split guessed inside a member), the file is read again
in one piece from the start of that range, and that sequential reading is the result.

Files are planned ahead (``plan``) and at most a few ranges per worker are in flight, so memory
stays bounded and the workers and the hashing move through a file together: each byte comes from
the disk once, a second reader finds it in the page cache.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import sys
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from archive.warc.members import is_gzip_file, split_points
from archive.warc.recordjudge import Batch
from archive.warc.scan import RangeResult, RecordResult, scan_range

# A range per this many bytes of a file, at most MAX_RANGES per worker: small ranges, because
# the last one to finish is what keeps the other workers waiting.
RANGE_BYTES = 4 << 20
MAX_RANGES = 32
POOL_MIN_BYTES = 8 << 20  # below this much in all, no worker processes are started
HASH_CHUNK = 1 << 20


@dataclass
class FileOutcome:
    """One WARC file, scanned: digest, records and how far it could be read."""

    path: Path
    size: int
    sha256: bytes | None
    count: int = 0
    uncompressed: int = 0
    leaves: bytes = b""
    heads: list[tuple[int, tuple[tuple[str, str], ...]]] = field(default_factory=list)  # revisits
    responses: list[tuple[str, str | None, str | None, str | None]] = field(default_factory=list)
    decoded: list[tuple[str, str]] = field(default_factory=list)  # (record id, decoded digest)
    records: list[RecordResult] = field(default_factory=list)
    error: str | None = None
    error_offset: int | None = None
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Tally:
    """How far a verification has got (bytes and files done and planned, failures so far), for
    the progress display of the CLI."""

    bytes_done: int
    bytes_total: int
    files_done: int
    files_total: int
    failures: int = 0


def hash_file(path: Path) -> tuple[bytes, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb", opener=_no_follow) as fh:
        while chunk := fh.read(HASH_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.digest(), size


def process_pool(workers: int) -> ProcessPoolExecutor:
    """``workers`` processes, forked where that is safe (Linux): quick to start, nothing
    imported again."""
    methods = multiprocessing.get_all_start_methods()
    method = "fork" if "fork" in methods and sys.platform == "linux" else None
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method))


def _no_follow(path: str, flags: int) -> int:
    """Open a file of a target: never through a symlink, never blocking on a FIFO (a file
    checked regular and swapped since; ``provenance.base.untrusted`` has the rule)."""
    return os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK)


def _ranges(path: Path, size: int, workers: int, cap: bool = True) -> list[tuple[int, int]]:
    parts = max(1, size // RANGE_BYTES)
    if cap:
        parts = min(parts, MAX_RANGES * workers)
    if parts == 1 or workers == 1:
        return [(0, size)]
    with open(path, "rb", opener=_no_follow) as fh:
        points = split_points(fh, parts, is_gzip_file(fh))
    return list(zip(points, [*points[1:], size], strict=True))


class _Planned:
    def __init__(self, path: Path, mode: str, digest: bool, bounded: bool = True) -> None:
        self.path = path
        self.mode = mode
        self.bounded = bounded
        try:
            self.size = os.lstat(path).st_size
        except OSError:
            self.size = 0
        self.hash: Future[tuple[bytes, int]] | None = None
        self.digest = digest
        self.ranges: list[tuple[int, int, Future[RangeResult]]] = []
        self.spans: list[tuple[int, int]] = []  # judge mode: every range, submitted or not


class Engine:
    """Scans WARC files with ``workers`` processes (1: in this process)."""

    def __init__(self, workers: int | None = None,
                 on_progress: Callable[[Tally], None] | None = None) -> None:
        self.workers = max(1, workers or len(os.sched_getaffinity(0)))
        self.on_progress = on_progress
        self._pool: Executor | None = None
        self._local = _InProcess()
        self._plan: deque[_Planned] = deque()
        self._inflight: dict[Path, _Planned] = {}
        self._window = 3 * self.workers
        self._busy = 0
        self.tally = Tally(0, 0, 0, 0)

    def plan(self, paths: Iterable[Path], mode: str = "leaf", digest: bool = True) -> None:
        """Files that will be asked for, in that order: their ranges start now."""
        planned = [_Planned(p, mode, digest) for p in paths]
        self._plan.extend(planned)
        total = sum(p.size for p in planned)
        self.tally = Tally(self.tally.bytes_done, self.tally.bytes_total + total,
                           self.tally.files_done, self.tally.files_total + len(planned))
        self._pump()

    def scan(self, path: Path, mode: str = "leaf", digest: bool = True, *,
             bounded: bool = True) -> FileOutcome:
        """The outcome for one file, from the plan if it was planned, otherwise now.

        ``bounded=False`` lifts the decompression-bomb bound (``archive.warc.members``): only for a
        file already proven to be the one a trusted seal names."""
        self._skip_to(path)
        planned = self._inflight.pop(path, None)
        if planned is not None:
            self._busy -= len(planned.ranges)
        if (planned is None or planned.mode != mode or planned.digest != digest
                or planned.bounded != bounded):
            queued = bool(self._plan) and self._plan[0].path == path  # asked for in order
            if queued:  # planned but not started: counted already
                self._plan.popleft()
            planned = _Planned(path, mode, digest, bounded)
            self._submit(planned)
            if not queued:
                self.tally = Tally(self.tally.bytes_done, self.tally.bytes_total +
                                   planned.size, self.tally.files_done,
                                   self.tally.files_total + 1)
        outcome = self._collect(planned)
        self._pump()
        return outcome

    def scan_batches(self, path: Path, mode: str, emit: Callable[[Batch], None]) -> FileOutcome:
        """A judge-mode scan of one file: its batches go to ``emit`` in file order as ranges
        finish, so no more than the ranges in flight is ever held; the outcome has the counts
        and errors, no records. A file read in this process is read as a stream."""
        self._skip_to(path)
        planned = self._inflight.pop(path, None)
        if planned is not None:
            self._busy -= len(planned.ranges)
        else:
            queued = bool(self._plan) and self._plan[0].path == path
            if queued:
                planned = self._plan.popleft()
            else:
                planned = _Planned(path, mode, False)
                self.tally = Tally(self.tally.bytes_done, self.tally.bytes_total +
                                   planned.size, self.tally.files_done,
                                   self.tally.files_total + 1)
        outcome = FileOutcome(path, planned.size, None)
        spans = planned.spans if planned.mode == mode else []
        waiting = deque(planned.ranges if spans else [])
        advanced = 0
        for i, (start, end) in enumerate(spans):
            if len(waiting) + i < len(spans):
                ahead = spans[len(waiting) + i]
                waiting.append((*ahead, self._executor().submit(scan_range, path, *ahead, mode)))
            result = waiting.popleft()[2].result()
            joins = i + 1 == len(spans) or result.end == spans[i + 1][0]
            if result.error is not None or not joins:
                for _, _, later in waiting:
                    later.cancel()
                # a damaged file or a bad guess: one sequential reading from here
                result = scan_range(path, start, planned.size, mode, emit)
                _add(outcome, result, [])
                if result.batch is not None:
                    emit(result.batch)
                break
            _add(outcome, result, [])
            if result.batch is not None:
                emit(result.batch)
            self._advance(end - start, 0)
            advanced += end - start
        if not spans:
            _add(outcome, scan_range(path, 0, planned.size, mode, emit), [])
        self._advance(max(0, planned.size - advanced), 1)
        self._pump()
        return outcome

    def _skip_to(self, path: Path) -> None:
        """Files planned before ``path`` that were not asked for never will be: drop them."""
        if path not in self._inflight and all(p.path != path for p in self._plan):
            return
        dropped: list[_Planned] = []
        for key in list(self._inflight):
            if key == path:
                break
            dropped.append(self._inflight.pop(key))
        while path not in self._inflight and self._plan and self._plan[0].path != path:
            dropped.append(self._plan.popleft())
        for planned in dropped:
            self._busy -= len(planned.ranges)
            for future in [planned.hash, *(f for _, _, f in planned.ranges)]:
                if future is not None:
                    future.cancel()
        done = self.tally
        self.tally = Tally(done.bytes_done, done.bytes_total - sum(p.size for p in dropped),
                           done.files_done, done.files_total - len(dropped))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- scheduling ------------------------------------------------------------------------

    @property
    def _parallel(self) -> bool:
        return self.workers > 1 and self.tally.bytes_total >= POOL_MIN_BYTES

    def _executor(self) -> Executor:
        if not self._parallel:
            return self._local
        if self._pool is None:
            self._pool = process_pool(self.workers)
        return self._pool

    def _pump(self) -> None:
        while self._parallel and self._plan and self._busy < self._window:
            planned = self._plan.popleft()
            if planned.path in self._inflight:
                continue
            self._submit(planned)
            self._inflight[planned.path] = planned
            self._busy += len(planned.ranges)

    def _submit(self, planned: _Planned) -> None:
        pool = self._executor()
        if planned.digest:
            planned.hash = pool.submit(hash_file, planned.path)
        judge = planned.mode.startswith("judge")
        try:
            ranges = _ranges(planned.path, planned.size, self.workers if self._parallel else 1,
                             cap=not judge)
        except OSError:
            ranges = [(0, planned.size)]
        if judge:
            # Ranges of one file are read a window at a time (scan_batches submits the rest as
            # it takes results), so memory does not grow with the file; a file that cannot be
            # cut is read in this process, as a stream.
            if self._parallel and (len(ranges) > 1 or planned.size <= 2 * RANGE_BYTES):
                planned.spans = ranges
                for start, end in ranges[: self._window]:
                    planned.ranges.append((start, end, pool.submit(
                        scan_range, planned.path, start, end, planned.mode)))
            return
        for start, end in ranges:
            planned.ranges.append((start, end, pool.submit(scan_range, planned.path, start,
                                                           end, planned.mode,
                                                           bounded=planned.bounded)))

    def _collect(self, planned: _Planned) -> FileOutcome:
        outcome = FileOutcome(planned.path, planned.size, None)
        results = []
        for start, end, future in planned.ranges:  # a live display moves range by range
            results.append(future.result())
            self._advance(end - start, 0)
        if planned.hash is not None:
            try:
                outcome.sha256, outcome.size = planned.hash.result()
            except OSError as exc:
                outcome.error = f"cannot read: {exc.strerror or exc}"
        _merge(outcome, results, planned)
        self._advance(planned.size - sum(end - start for start, end, _ in planned.ranges), 1)
        return outcome

    def _advance(self, count: int, files: int) -> None:
        done = self.tally
        self.tally = Tally(done.bytes_done + count, done.bytes_total,
                           done.files_done + files, done.files_total)
        if self.on_progress is not None:
            self.on_progress(self.tally)


def _merge(outcome: FileOutcome, results: Sequence[RangeResult], planned: _Planned) -> None:
    """Join the ranges in order; re-read the file from the first range that did not join."""
    leaves: list[bytes] = []
    for i, result in enumerate(results):
        joins = i + 1 == len(results) or result.end == results[i + 1].start
        if result.error is not None or not joins:
            if len(results) > 1:  # a damaged file or a bad guess: one sequential reading
                result = scan_range(planned.path, result.start, planned.size, planned.mode,
                                    bounded=planned.bounded)
            _add(outcome, result, leaves)
            break
        _add(outcome, result, leaves)
    outcome.leaves = b"".join(leaves)


def _add(outcome: FileOutcome, result: RangeResult, leaves: list[bytes]) -> None:
    outcome.count += result.count
    outcome.uncompressed += result.uncompressed
    leaves.append(result.leaves)
    outcome.records.extend(result.records)
    outcome.heads.extend(result.heads)
    outcome.responses.extend(result.responses)
    outcome.decoded.extend(result.decoded)
    if result.error is not None and outcome.error is None:
        outcome.error = result.error
        outcome.error_offset = result.error_offset
    outcome.errors += result.errors


class _InProcess(Executor):
    """The executor interface, run at once in this process (one worker, or little to do)."""

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
        future: Future[object] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # delivered by result(), as a pool would
            future.set_exception(exc)
        return future
