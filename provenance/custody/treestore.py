"""A custody log's Merkle tree kept level by level on disk, for fast appends and proofs.

``state/tree/level-KK.bin`` holds, for level K, the hashes of every complete aligned subtree
of 2^K leaves, 32 bytes each, in order (level 0: the leaf hashes). An append touches O(log n)
bytes; the root of any range RFC 9162's PATH and SUBPROOF ask for is O(log n) reads.
``state/tree/offsets.bin`` holds each entry's byte offset in the log (8 bytes, big-endian),
so one entry is read without scanning the log.

This is derived, unsigned state: it is trusted by nobody. ``meta.json`` records the log's
byte length it was built from; when that differs from the log (a crash between the log
append and the cache update, or a stale copy) the store is rebuilt from the log. Verify
never reads it. Anyone who can write the case can change it, so before a root taken from it is
signed, ``provenance.custody.log.CustodyLog.tree`` checks it against a signed checkpoint or the
log itself (docs/SECURITY.md, "Derived state").
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from archive.errors import ProvError
from provenance.base.untrusted import load_json, read_regular
from provenance.custody import derived, merkle
from provenance.custody.logfile import iter_lines
from provenance.errors import ProofError

HASH = 32


class TreeStore:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._fds: dict[int, int] = {}

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    def _fd(self, level: int) -> int:
        if level not in self._fds:
            path = self.folder / f"level-{level:02d}.bin"
            self._fds[level] = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        return self._fds[level]

    def _count(self, level: int) -> int:
        return os.fstat(self._fd(level)).st_size // HASH

    def _read(self, level: int, index: int) -> bytes:
        data = os.pread(self._fd(level), HASH, index * HASH)
        if len(data) != HASH:
            raise ProofError(f"tree store: level {level} lacks node {index}")
        return data

    def __len__(self) -> int:
        return self._count(0)

    def _offsets_fd(self) -> int:
        if -1 not in self._fds:
            path = self.folder / "offsets.bin"
            self._fds[-1] = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        return self._fds[-1]

    def offset(self, index: int) -> int:
        data = os.pread(self._offsets_fd(), 8, index * 8)
        if len(data) != 8:
            raise ProofError(f"tree store: no offset for entry {index}")
        return int.from_bytes(data, "big")

    def append(self, leaf_hash: bytes, offset: int) -> None:
        os.write(self._offsets_fd(), offset.to_bytes(8, "big"))
        os.write(self._fd(0), leaf_hash)
        level, node = 0, leaf_hash
        while self._count(level) % 2 == 0:
            left = self._read(level, self._count(level) - 2)
            node = merkle.node_hash(left, node)
            level += 1
            os.write(self._fd(level), node)

    def range_root(self, start: int, end: int) -> bytes:
        """MTH over leaves [start, end) (RFC 9162 2.1.1), from stored aligned subtrees."""
        count = end - start
        if count == 0:
            return merkle.EMPTY_ROOT
        if count & (count - 1) == 0 and start % count == 0:
            return self._read(count.bit_length() - 1, start // count)
        k = 1 << ((count - 1).bit_length() - 1)
        return merkle.node_hash(self.range_root(start, start + k), self.range_root(start + k, end))

    def root(self) -> bytes:
        return self.range_root(0, len(self))

    # -- staying in step with the log ---------------------------------------------------------

    def meta(self) -> dict[str, int]:
        try:
            doc = load_json(read_regular(self.folder / "meta.json", 4096), what="meta.json",
                            limit=4096)
            return {"size": int(doc["size"]), "logBytes": int(doc["logBytes"])}
        except (ProvError, OSError, ValueError, KeyError, TypeError):
            return {"size": -1, "logBytes": -1}

    def save_meta(self, log_bytes: int) -> None:
        tmp = self.folder / "meta.json.tmp"
        tmp.write_text(json.dumps({"size": len(self), "logBytes": log_bytes}))
        os.replace(tmp, self.folder / "meta.json")

    def truncate(self, size: int) -> None:
        """Keep the first ``size`` leaves and the subtrees over them, nothing after."""
        os.ftruncate(self._offsets_fd(), size * 8)
        for level in range(64):
            if (size >> level) or (self.folder / f"level-{level:02d}.bin").exists():
                os.ftruncate(self._fd(level), (size >> level) * HASH)

    @classmethod
    def for_log(cls, folder: Path, log_path: Path) -> TreeStore:
        """The store for ``log_path``, rebuilt from the log if it is not in step with it."""
        derived.make_way(folder.parent, folder=True)
        if not _sound(folder):
            derived.rebuilt("state/tree (the custody log's tree cache)",
                            "it holds something other than the files prov writes")
            return cls.rebuild(folder, log_path)
        store = cls(folder)
        meta = store.meta()
        log_bytes = log_path.stat().st_size
        if meta["logBytes"] == log_bytes and meta["size"] == len(store):
            return store
        store.close()
        return cls.rebuild(folder, log_path)

    @classmethod
    def rebuild(cls, folder: Path, log_path: Path) -> TreeStore:
        """A new store made from the log alone."""
        derived.discard(folder)
        store = cls(folder)
        offset = 0
        for line in iter_lines(log_path):
            store.append(merkle.leaf_hash(line), offset)
            offset += len(line) + 1
        store.save_meta(offset)
        return store



def _sound(folder: Path) -> bool:
    """A real folder holding only regular files (or nothing yet): anything else planted
    there (a symlink, a FIFO, a folder) makes the store be rebuilt, never read or written."""
    try:
        if not stat.S_ISDIR(os.lstat(folder).st_mode):
            return False
        with os.scandir(folder) as found:
            return all(e.is_file(follow_symlinks=False) for e in found)
    except FileNotFoundError:  # not made yet (a new case): nothing was planted
        return True
    except OSError:
        return False
