"""The fixity check of a case's sealed WARC files: each file's sha256 against its seal, on
every core, without inflating a record (`prov verify --fixity`, docs/FORMATS.md "The verify
report").

Spec: FIPS 180-4 (SHA-256) over the exact bytes the signed seal names (an in-toto Statement v1
subject digest). Threat (docs/SECURITY.md, "Fixity"): any change to a sealed file's bytes
changes its sha256, so a file whose digest equals the signed one is the file that was sealed,
byte for byte; what fixity does not re-check is whether those sealed bytes were consistent
when sealed (each record's own digests, the seal's record count and ``recordsRoot``), which a
full verify proves once. The seal's digest is the only reference: nothing in the file, its
name, its size or its time is trusted.

Files are hashed whole (SHA-256 cannot be split), one file per worker process (``Hashes``),
planned ahead so the workers hash while the custody log is judged; at most a few files per
worker are in flight, so memory does not grow with the number of files. Only the WARCs the
seal of their folder lists are hashed ahead (``sealed_warcs``): a file no seal names is never
read, so one added to a case, however large it claims to be, neither delays the verdict nor
takes a worker from the sealed files. This module loads no
WARC reader, so that `prov verify --fixity` can start the hashing before it loads the rest of
the verifier (``Hashes.start``); a digest is only ever compared with the seal's. A digest
computed elsewhere (``known``: an object streamed from a bucket and hashed on the way, never
written) stands for the file of that name, whose placeholder on disk is never read.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import BrokenExecutor, CancelledError, Executor, Future, ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archive.errors import ProvError
from provenance.base.digests import sha256_regular
from provenance.base.report import Report
from provenance.base.untrusted import b64decode, is_dir, is_regular, load_json, read_regular
from provenance.custody import merkle
from provenance.custody.case import SEAL_NAME, WARC_SUFFIXES, iter_capture_dirs
from provenance.errors import UntrustedInputError

if TYPE_CHECKING:
    from provenance.verification.parallel import Tally

# What a full verify checks that fixity does not (the JSON report's ``notChecked``): each
# record's own digests and headers, the seal's record counts and records root, the WARC format,
# and the revisits against their originals.
NOT_CHECKED = ("record.blockDigest", "record.payloadDigest", "record.headers", "warc.format",
               "seal.records", "seal.recordsRoot", "revisit")
POOL_MIN_BYTES = 8 << 20  # below this much in all, each file is hashed here when asked for
MAX_SEAL = 16 << 20  # a seal's envelope, as verify reads it (signing.dsse.MAX_ENVELOPE)
PLAIN_NAME = re.compile(r"^[A-Za-z0-9._-]+$")  # a file of the capture folder itself


class Hashes:
    """The sha256 of a case's WARC files, hashed ahead by worker processes in planned order."""

    def __init__(self, root: Path, *, jobs: int | None = None,
                 known: Mapping[str, bytes] | None = None) -> None:
        self.root = root
        self.known = dict(known or {})
        self.workers = max(1, jobs or len(os.sched_getaffinity(0)))
        self.on_progress: Callable[[Tally], None] | None = None
        self.failures: Callable[[], int] = lambda: 0
        self.planned = False
        self._pool: Executor | None = None
        self._stop: Any = None  # the pool's stop event (set by close)
        self._queue: dict[str, int] = {}  # planned, not submitted: size by name, in order
        self._inflight: dict[str, tuple[int, Future[bytes]]] = {}
        self._window = 2 * self.workers
        self._parallel = False
        self._done = (0, 0)  # bytes, files
        self._total = (0, 0)

    @classmethod
    def start(cls, root: Path, jobs: int | None = None) -> Hashes:
        """Start hashing the WARC files of every capture folder of ``root`` now (a folder that
        is not a case holds none: nothing is hashed)."""
        hashes = cls(root, jobs=jobs)
        hashes.plan(f for f, _ in iter_capture_dirs(root))
        return hashes

    def plan(self, folders: Iterable[str]) -> None:
        """Capture folders in the order they will probably be judged: their WARCs are hashed
        ahead (a file asked for out of that order is hashed when asked)."""
        self.planned = True
        total = 0
        for folder in dict.fromkeys(folders):
            base = self.root / folder
            for name in sealed_warcs(base):
                rel = f"{folder}/{name}"
                if rel not in self.known and is_regular(base / name):
                    self._queue[rel] = size = _size(base / name)
                    total += size
        self._total = (total, len(self._queue))
        self._parallel = self.workers > 1 and total >= POOL_MIN_BYTES
        self._pump()

    def close(self) -> None:
        """Stop the workers: what is queued is cancelled, what is being hashed is given up
        within a chunk (a file nobody will ask for, such as one a forged seal lists, may be
        a sparse file of terabytes: the verdict never waits for it)."""
        if self._pool is not None:
            if self._stop is not None:
                self._stop.set()
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
            self._stop = None

    def digest(self, rel: str) -> bytes | None:
        """The sha256 of ``rel``, None if it is not a regular file or cannot be read."""
        if rel in self.known:
            return self.known[rel]
        future = None
        if rel in self._inflight:
            size, future = self._inflight.pop(rel)
        else:
            size = self.drop(rel)
        digest = self._result(future) if future is not None else None
        if future is None or digest is _LOST:
            digest = _sha256(self.root / rel, rel)
        self._advance(size)
        self._pump()
        return digest if isinstance(digest, bytes) else None

    def _result(self, future: Future[bytes]) -> bytes | object | None:
        """A worker's digest; ``_LOST`` if the worker could not give one (killed, or its pool
        shut down): the file is then hashed here, never judged on a worker's failure."""
        try:
            return future.result()
        except InterruptedError:  # given up when the pool closed: hashed here if asked
            return _LOST
        except (UntrustedInputError, OSError):
            return None
        except (CancelledError, BrokenExecutor):
            pool, self._pool = self._pool, None  # a broken pool takes no more work
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
            return _LOST

    def drop(self, rel: str) -> int:
        """Take ``rel`` out of the plan (it is judged now, or never): its planned size."""
        return self._queue.pop(rel, 0)

    def _pump(self) -> None:
        while self._queue and len(self._inflight) < self._window:
            if not self._parallel:
                return  # little to hash: each file in this process when it is asked for
            rel = next(iter(self._queue))
            size = self._queue.pop(rel)
            self._inflight[rel] = size, self._executor().submit(_hash, self.root / rel, rel)

    def _executor(self) -> Executor:
        if self._pool is None:
            methods = multiprocessing.get_all_start_methods()
            method = "fork" if "fork" in methods and sys.platform == "linux" else None
            context = multiprocessing.get_context(method)
            self._stop = context.Event()
            self._pool = ProcessPoolExecutor(self.workers, mp_context=context,
                                             initializer=_start_worker,
                                             initargs=(self._stop,))
        return self._pool

    def _advance(self, size: int) -> None:
        self._done = (self._done[0] + size, self._done[1] + 1)
        if self.on_progress is not None:
            # deferred: the tally's module loads the WARC scanner, which fixity never needs
            from provenance.verification.parallel import Tally

            self.on_progress(Tally(self._done[0], self._total[0], self._done[1],
                                   self._total[1], self.failures()))


class FixityJudge:
    """Judges sealed WARC files by their sha256 alone: the interface of ``WarcJudge``.
    ``hashes``: started earlier (``Hashes.start``), else made here."""

    def __init__(self, root: Path, report: Report, *, jobs: int | None = None,
                 known: Mapping[str, bytes] | None = None, hashes: Hashes | None = None,
                 on_progress: Callable[[Tally], None] | None = None) -> None:
        self.root = root
        self.report = report
        self.hashes = hashes or Hashes(root, jobs=jobs, known=known)
        self.hashes.on_progress = on_progress
        self.hashes.failures = lambda: report.counts["fail"]

    def plan(self, folders: Iterable[str]) -> None:
        if not self.hashes.planned:
            self.hashes.plan(folders)

    def close(self) -> None:
        self.hashes.close()

    def check(self, rel: str, sha256: bytes, records: int | None,
              tree: merkle.TreeBuilder) -> bool:
        """One sealed WARC: its sha256 against the seal's. ``records`` and ``tree`` (the
        full check's record count and records root) are not looked at: nothing is inflated."""
        del records, tree
        if rel not in self.hashes.known and not is_regular(self.root / rel):
            self.hashes.drop(rel)
            self.report.add("fail", "file.missing", rel, "sealed file is missing")
            return False
        found = self.hashes.digest(rel)
        if found is None:
            self.report.add("fail", "file.missing", rel, "sealed file is not a regular file "
                            "or cannot be read")
            return False
        if found != sha256:
            self.report.add("fail", "file.digest", rel, "file differs from the sealed digest",
                            expected=_label(sha256), found=_label(found))
            return False
        return True


_LOST = object()


def _sha256(path: Path, rel: str) -> bytes | None:
    try:
        return sha256_regular(path, what=rel)
    except (UntrustedInputError, OSError):
        return None


_STOP: Any = None  # in a worker process: its pool's stop event


def _start_worker(stop: Any) -> None:
    global _STOP
    _STOP = stop


def _stopping() -> bool:
    return _STOP is not None and bool(_STOP.is_set())


def _hash(path: Path, rel: str) -> bytes:
    """A worker's sha256 of one file, given up between two chunks once the pool closes."""
    return sha256_regular(path, what=rel, stop=_stopping)


def sealed_warcs(folder: Path) -> list[str]:
    """The WARC files the seal in ``folder`` lists, sorted: what is worth hashing ahead.

    A hint, never a verdict: the seal is read here before anything judged it (its signature
    and its digest in the log are checked when the folder is judged, and only then is a digest
    asked for). It keeps a file that no seal names from ever being read: one added to a
    capture folder, however large it claims to be (a sparse file of terabytes costs nothing to
    make), neither costs the hashing nor takes a worker from the sealed files. Only plain
    names of that folder are taken; a seal that cannot be read gives none (its folder's files
    are hashed when asked for, if ever), and so does a folder that is a symlink (never
    followed: the layout walk fails it)."""
    if not is_dir(folder):
        return []
    try:
        envelope = load_json(read_regular(folder / SEAL_NAME, MAX_SEAL, what=SEAL_NAME),
                             what=SEAL_NAME, limit=MAX_SEAL)
        statement = load_json(b64decode(envelope["payload"], what=SEAL_NAME, dsse=True),
                              what=SEAL_NAME, limit=MAX_SEAL)
        records = statement["predicate"]["records"]
        names = {item["name"] for item in statement["subject"]}
    except (ProvError, KeyError, TypeError, ValueError):
        return []
    if not isinstance(records, dict):
        return []
    return sorted(n for n in names if isinstance(n, str) and n in records
                  and PLAIN_NAME.match(n) and n not in (".", "..") and n.endswith(WARC_SUFFIXES))


def _size(path: Path) -> int:
    try:
        return os.lstat(path).st_size
    except OSError:
        return 0


def _label(digest: bytes) -> str:
    return "sha256:" + digest.hex()
