"""The case folder: the evidence locker's layout, its identity, and finding it.

Layout (docs/FORMATS.md, "The case folder")::

    case.json                     id, origin, title, created, formatVersion (RFC 8785 bytes)
    keys/ certs/                  caches of public keys and certificate chains, never authorities
    captures/YYYY/MM/DD/<id>/     data-NNNNN.warc.gz, seal.dsse.json, seal.<tsa>.tsr
    custody/log.jsonl             the custody log
    custody/checkpoints/<shard>/  signed checkpoints and their tokens (``custody.shard``)
    state/                        derived and unsigned: caches, locks, schedule state
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import stat
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rfc8785

from archive.errors import ConfigError, IntegrityError, LockedError, NotATargetError
from provenance.base.ids import is_capture_dir
from provenance.base.untrusted import listdir, load_json, read_regular
from provenance.errors import ReadOnlyError, UntrustedInputError

FORMAT_VERSION = 1
CASE_FILE = "case.json"
SEAL_NAME = "seal.dsse.json"  # in each capture folder: the capture's signed seal
WARC_SUFFIXES = (".warc.gz", ".warc")  # the names of a capture folder's WARC files
MAX_CASE_FILE = 64 << 10
READ_ONLY = "read-only"


@dataclass(frozen=True)
class CaseInfo:
    id: str
    origin: str
    title: str
    created: str
    format_version: int = FORMAT_VERSION
    # Object Lock a bucket case requires: {"mode": "compliance"|"governance", and "until":
    # time or "days": N} (docs/FORMATS.md, "case.json"); absent for cases that require none.
    retention: Mapping[str, Any] | None = None

    def to_bytes(self) -> bytes:
        doc: dict[str, Any] = {
            "id": self.id,
            "origin": self.origin,
            "title": self.title,
            "created": self.created,
            "formatVersion": self.format_version,
        }
        if self.retention is not None:
            doc["retention"] = dict(self.retention)
        return bytes(rfc8785.dumps(doc))

    @classmethod
    def from_bytes(cls, data: bytes, *, what: str) -> CaseInfo:
        try:
            doc = load_json(data, what=what, limit=MAX_CASE_FILE)
            info = cls(
                id=str(uuid.UUID(doc["id"])),
                origin=str(doc["origin"]),
                title=str(doc["title"]),
                created=str(doc["created"]),
                format_version=int(doc["formatVersion"]),
                retention=_retention(doc.get("retention")),
            )
        except UntrustedInputError as exc:
            raise NotATargetError(str(exc)) from None
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise NotATargetError(f"{what}: not a prov case file ({exc})") from None
        if info.origin != f"prov-case/{info.id}":
            raise NotATargetError(f"{what}: origin {info.origin!r} does not match id {info.id}")
        return info


def _retention(value: Any) -> Mapping[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or value.get("mode") not in ("compliance", "governance") or (
            not isinstance(value.get("days"), int) and not isinstance(value.get("until"), str)):
        raise ValueError("retention must be {mode: compliance|governance, until or days}")
    return dict(value)


class Case:
    """A case folder on disk."""

    def __init__(self, root: Path, info: CaseInfo, raw_info: bytes) -> None:
        self.root = root
        self.info = info
        self.raw_info = raw_info

    @property
    def log_path(self) -> Path:
        return self.root / "custody" / "log.jsonl"

    @property
    def checkpoints_dir(self) -> Path:
        return self.root / "custody" / "checkpoints"

    @property
    def captures_dir(self) -> Path:
        return self.root / "captures"

    @property
    def partial_dir(self) -> Path:
        return self.captures_dir / ".partial"

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    @property
    def keys_dir(self) -> Path:
        return self.root / "keys"

    @property
    def certs_dir(self) -> Path:
        return self.root / "certs"

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    @classmethod
    def open(cls, root: Path) -> Case:
        if not is_case_dir(root):
            raise NotATargetError(f"{root}: not a prov case (no {CASE_FILE} and custody/log.jsonl)")
        return cls.load(root)

    @classmethod
    def load(cls, root: Path) -> Case:
        """The case at ``root`` by its ``case.json`` alone (a regular file, bounded, JSON with
        limits); NotATargetError names what is wrong with it."""
        path = root / CASE_FILE
        try:
            raw = read_regular(path, MAX_CASE_FILE, what=str(path))
        except UntrustedInputError as exc:
            raise NotATargetError(str(exc)) from None
        return cls(root, CaseInfo.from_bytes(raw, what=str(path)), raw)

    def fetch_captures(self, folders: Sequence[str] | None = None) -> None:
        """Make capture files present before they are read: on disk they are; a bucket
        case's mirror (``storage.mirror.MirrorCase``) downloads what it lacks."""

    @contextlib.contextmanager
    def lock(self, *, wait: float = 30.0) -> Iterator[None]:
        """Hold ``CASE/.lock`` (flock: the kernel frees it if the process dies)."""
        fd = _open_lock(self.root / ".lock")
        try:
            _acquire(fd, wait, self.root)
            refuse_if_read_only(self.state_dir / READ_ONLY)
            yield
        finally:
            os.close(fd)


def _open_lock(path: Path) -> int:
    """The lock file, created if missing: a regular file only (a planted symlink is never
    followed, a FIFO never blocks the open, a folder is not a crash)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
    except OSError as exc:
        fd = -1
        reason = exc.strerror
    if fd >= 0:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            return fd
        os.close(fd)
        reason = "not a regular file"
    raise IntegrityError(f"{path}: cannot be the case's lock ({reason}); nothing was done",
                         hint="remove it: prov creates it as an empty regular file")


class _Timeout(Exception):
    pass


def _acquire(fd: int, wait: float, root: Path) -> None:
    """flock(LOCK_EX) within ``wait`` seconds. In the main thread a blocking flock, cut by
    SIGALRM, queues this process in the kernel (no starvation by a busy writer); elsewhere
    a short poll."""
    locked = LockedError(f"{root}: another prov process holds the case lock")
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return
    except BlockingIOError:
        if wait <= 0:
            raise locked from None
    if threading.current_thread() is threading.main_thread():
        def expire(signum: int, frame: object) -> None:
            raise _Timeout

        previous = signal.signal(signal.SIGALRM, expire)
        signal.setitimer(signal.ITIMER_REAL, wait)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            return
        except _Timeout:
            raise locked from None
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise locked from None
            time.sleep(0.01)


def refuse_if_read_only(marker: Path) -> None:
    """``prov copy`` leaves ``state/read-only`` in a case it moved: no more appends there."""
    if marker.is_file():
        with open(marker, "rb") as fh:
            moved = fh.read(4096).decode(errors="replace").strip()
        raise ReadOnlyError(f"{marker.parent.parent}: read-only since it was copied ({moved})",
                            hint="work on the copy; to append here anyway, delete "
                                 f"{marker} (the log's transfer-started entry stays)")


def is_case_dir(root: Path) -> bool:
    return (root / CASE_FILE).is_file() and (root / "custody" / "log.jsonl").is_file()


def find_case(explicit: str | None, cwd: Path | None = None) -> Path:
    """``--case``, else ``$PROV_CASE``, else the case folder containing the current directory."""
    chosen = explicit or os.environ.get("PROV_CASE")
    if chosen:
        root = Path(chosen)
        if not is_case_dir(root):
            raise NotATargetError(f"{root}: not a prov case", hint="create one with `prov init`")
        return root
    here = (cwd or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if is_case_dir(folder):
            return folder
    raise ConfigError(
        "no case given and the current directory is not inside a case",
        hint="pass --case PATH, set PROV_CASE, or run `prov init PATH`",
    )


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durable(path: Path, data: bytes, *, exclusive: bool = True) -> None:
    """Write a file and fsync it and its folder; with ``exclusive`` never overwrite."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    with os.fdopen(os.open(path, flags, 0o644), "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    fsync_dir(path.parent)


def iter_capture_dirs(root: Path) -> Iterator[tuple[str, bool]]:
    """Every folder four levels under ``captures/`` (``.partial`` aside), in name order, and
    whether its path has prov's form (``ids.CAPTURE_DIR_RE``); no symlink followed."""
    base = root / "captures"
    for year in listdir(base):
        if year == ".partial":
            continue
        for month in listdir(base / year):
            for day in listdir(base / year / month):
                for name in listdir(base / year / month / day):
                    rel = f"captures/{year}/{month}/{day}/{name}"
                    yield rel, is_capture_dir(rel)
