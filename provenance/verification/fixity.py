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

Files are hashed whole (SHA-256 cannot be split), one file per worker process, planned ahead
so the workers hash while the custody log is judged; at most a few files per worker are in
flight, so memory does not grow with the number of files. A digest computed elsewhere
(``known``: an object streamed from a bucket and hashed on the way, never written) stands for
the file of that name, whose placeholder on disk is never read.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from pathlib import Path

from provenance.base.digests import sha256_regular
from provenance.base.report import Report
from provenance.base.untrusted import is_regular, listdir
from provenance.custody import merkle
from provenance.errors import UntrustedInputError
from provenance.verification.parallel import POOL_MIN_BYTES, Tally
from provenance.verification.warcjudge import WARC_SUFFIXES

# What a full verify checks that fixity does not (the JSON report's ``notChecked``): each
# record's own digests and headers, the seal's record counts and records root, the WARC format,
# and the revisits against their originals.
NOT_CHECKED = ("record.blockDigest", "record.payloadDigest", "record.headers", "warc.format",
               "seal.records", "seal.recordsRoot", "revisit")


class FixityJudge:
    """Judges sealed WARC files by their sha256 alone: the interface of ``WarcJudge``."""

    def __init__(self, root: Path, report: Report, *, jobs: int | None = None,
                 known: Mapping[str, bytes] | None = None,
                 on_progress: Callable[[Tally], None] | None = None) -> None:
        self.root = root
        self.report = report
        self.known = dict(known or {})
        self.workers = max(1, jobs or len(os.sched_getaffinity(0)))
        self.on_progress = on_progress
        self._pool: Executor | None = None
        self._queue: dict[str, int] = {}  # planned, not submitted: size by name, in order
        self._inflight: dict[str, tuple[int, Future[bytes]]] = {}
        self._window = 2 * self.workers
        self._parallel = False
        self.tally = Tally(0, 0, 0, 0)

    def plan(self, folders: Iterable[str]) -> None:
        """Capture folders in the order they will probably be judged: their WARCs are hashed
        ahead (a file asked for out of that order is hashed when asked)."""
        total = 0
        for folder in dict.fromkeys(folders):
            base = self.root / folder
            for name in sorted(listdir(base)):
                rel = f"{folder}/{name}"
                if name.endswith(WARC_SUFFIXES) and rel not in self.known and is_regular(
                        base / name):
                    self._queue[rel] = size = _size(base / name)
                    total += size
        self.tally = Tally(0, total, 0, len(self._queue))
        self._parallel = self.workers > 1 and total >= POOL_MIN_BYTES
        self._pump()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def check(self, rel: str, sha256: bytes, records: int | None,
              tree: merkle.TreeBuilder) -> bool:
        """One sealed WARC: its sha256 against the seal's. ``records`` and ``tree`` (the
        full check's record count and records root) are not looked at: nothing is inflated."""
        del records, tree
        if rel in self.known:
            found: bytes | None = self.known[rel]
        elif not is_regular(self.root / rel):
            self._drop(rel)
            self.report.add("fail", "file.missing", rel, "sealed file is missing")
            return False
        else:
            found = self._digest(rel)
        if found is None:
            self.report.add("fail", "file.missing", rel, "sealed file is not a regular file "
                            "or cannot be read")
            return False
        if found != sha256:
            self.report.add("fail", "file.digest", rel, "file differs from the sealed digest",
                            expected=_label(sha256), found=_label(found))
            return False
        return True

    def _digest(self, rel: str) -> bytes | None:
        digest: bytes | None = None
        try:
            if rel in self._inflight:
                size, future = self._inflight.pop(rel)
                digest = future.result()
            else:
                size = self._drop(rel)
                digest = sha256_regular(self.root / rel, what=rel)
        except (UntrustedInputError, OSError):
            pass
        self._advance(size)
        self._pump()
        return digest

    def _drop(self, rel: str) -> int:
        """Take ``rel`` out of the plan (it is judged now, or never): its planned size."""
        return self._queue.pop(rel, 0)

    def _pump(self) -> None:
        while self._queue and len(self._inflight) < self._window:
            if not self._parallel:
                return  # little to hash: each file in this process when it is asked for
            rel = next(iter(self._queue))
            size = self._queue.pop(rel)
            self._inflight[rel] = size, self._executor().submit(
                sha256_regular, self.root / rel, what=rel)

    def _executor(self) -> Executor:
        if self._pool is None:
            methods = multiprocessing.get_all_start_methods()
            method = "fork" if "fork" in methods and sys.platform == "linux" else None
            self._pool = ProcessPoolExecutor(self.workers,
                                             mp_context=multiprocessing.get_context(method))
        return self._pool

    def _advance(self, size: int) -> None:
        done = self.tally
        self.tally = Tally(done.bytes_done + size, done.bytes_total, done.files_done + 1,
                           done.files_total, self.report.counts["fail"])
        if self.on_progress is not None:
            self.on_progress(self.tally)


def _size(path: Path) -> int:
    try:
        return os.lstat(path).st_size
    except OSError:
        return 0


def _label(digest: bytes) -> str:
    return "sha256:" + digest.hex()
