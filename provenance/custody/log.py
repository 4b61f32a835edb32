"""The custody log: an append-only file of signed entries, and its checkpoints.

``custody/log.jsonl`` holds one line per entry: the RFC 8785 bytes of a DSSE envelope whose
payload is the RFC 8785 bytes of the entry. The log is an RFC 9162 Merkle tree whose leaves
are the exact bytes of each line without its newline. A command appends all its entries under
the case lock (O_APPEND, fsync), then writes one checkpoint for the new size
(``custody/checkpoints/<shard>/<size:020d>.checkpoint``, a C2SP signed note).

Checkpoints, their tokens and cosignatures live in shard folders named by the first 17 of the
size's 20 digits (``shard``): 1,000 sizes per folder, so an append lists one small folder
however many checkpoints a long-lived case has gathered (docs/FORMATS.md, "Checkpoints").
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from archive.errors import IntegrityError, NotATargetError, ProvError
from provenance.base import failpoints, timefmt
from provenance.base.digests import sha256_file
from provenance.base.untrusted import read_regular
from provenance.custody import checkpoint as cp
from provenance.custody import derived, merkle, seen
from provenance.custody.case import Case, fsync_dir, write_durable
from provenance.custody.logfile import MAX_LINE, iter_lines
from provenance.custody.treestore import TreeStore
from provenance.errors import LogFormatError, RefusedEntryError
from provenance.signing.dsse import parse_envelope, sign_envelope
from provenance.signing.keys import PublicKey, SigningKey
from provenance.signing.statements import CUSTODY_PAYLOAD, Entry, Prev, Subject

CHECKPOINT_RE = re.compile(r"^([0-9]{20})\.checkpoint$")
SHARD_DIGITS = 17  # of the 20: 1,000 sizes per shard folder
SHARD_RE = re.compile(rf"^[0-9]{{{SHARD_DIGITS}}}$")


@dataclass(frozen=True)
class NewEntry:
    """What a command wants logged; seq, time, actor and prev are filled in at append."""

    action: str
    subjects: tuple[Subject, ...] = ()
    details: Mapping[str, Any] | None = None


def shard(name: int | str) -> str:
    """The shard folder of a size, or of a file named ``<size:020d>.…``: the first 17 digits.

    The one place the rule lives; everything under ``custody/checkpoints/`` is placed and
    found through it (and verify fails a file anywhere else: ``checkpoint.unexpected``).
    """
    return (f"{name:020d}" if isinstance(name, int) else name)[:SHARD_DIGITS]


def checkpoint_rel(size: int, suffix: str = "checkpoint") -> str:
    """Case-relative path of the checkpoint of ``size``, or with another ``suffix`` of a file
    beside it (``<tsa id>.tsr``, ``<16 hex>.cosignature``); also its S3 key."""
    return f"custody/checkpoints/{shard(size)}/{size:020d}.{suffix}"


def checkpoint_dir(case: Case, size: int) -> Path:
    """The shard folder holding the checkpoint of ``size``, its tokens and cosignatures."""
    return case.checkpoints_dir / shard(size)


def checkpoint_path(case: Case, size: int) -> Path:
    return checkpoint_dir(case, size) / f"{size:020d}.checkpoint"


def shard_names(case: Case) -> list[str]:
    """The shard folders present, ascending: real folders named by the rule (anything else
    there is verify's to judge, never followed)."""
    try:
        with os.scandir(case.checkpoints_dir) as found:
            return sorted(e.name for e in found
                          if SHARD_RE.match(e.name) and e.is_dir(follow_symlinks=False))
    except (FileNotFoundError, NotADirectoryError):
        return []


def _names(folder: Path) -> list[str]:
    try:
        return os.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _sizes_in(case: Case, name: str) -> list[int]:
    """Sizes of the checkpoints in shard folder ``name`` that belong there, ascending."""
    return sorted(int(m.group(1)) for n in _names(case.checkpoints_dir / name)
                  if (m := CHECKPOINT_RE.match(n)) and shard(n) == name)


def checkpoint_sizes(case: Case) -> list[int]:
    """Sizes of the checkpoint files present, ascending (names only; nothing verified).
    Lists every shard folder: for verify, repair and copies, never on the append path."""
    return [size for name in shard_names(case) for size in _sizes_in(case, name)]


def latest_checkpoint_size(case: Case, at_most: int | None = None) -> int:
    """The largest checkpoint size present (not above ``at_most``), or 0: shards newest
    first, so only the shard folders down to the first one holding a checkpoint are listed."""
    top = shard(at_most) if at_most is not None else None
    for name in reversed(shard_names(case)):
        if top is not None and name > top:
            continue
        sizes = [s for s in _sizes_in(case, name) if at_most is None or s <= at_most]
        if sizes:
            return sizes[-1]
    return 0


def latest_checkpoint(case: Case) -> bytes:
    """The bytes of the newest checkpoint (nothing verified); NotATargetError without one."""
    size = latest_checkpoint_size(case)
    if not size:
        raise NotATargetError(f"{case.root}: the case has no checkpoint")
    path = checkpoint_path(case, size)
    return read_regular(path, cp.MAX_NOTE, what=case.relative(path))


def token_paths(case: Case, size: int) -> list[Path]:
    """Stamp tokens written beside the checkpoint of ``size`` (one shard folder listed)."""
    prefix = f"{size:020d}."
    folder = checkpoint_dir(case, size)
    return sorted(folder / n for n in _names(folder) if n.startswith(prefix) and n.endswith(".tsr"))


def iter_log_entries(case: Case) -> Iterator[Entry]:
    """The log's entries one at a time, parsed without verification (for display, repair and
    export; verify judges): memory stays flat at any log length."""
    for number, line in enumerate(iter_lines(case.log_path)):
        envelope = parse_envelope(line, what=f"entry {number}")
        yield Entry.parse(envelope.payload, what=f"entry {number}")


def file_subject(case: Case, path: Path) -> Subject:
    return Subject(case.relative(path), sha256_file(path))


class CustodyLog:
    """Appends to a case's log; every append ends with a new signed checkpoint."""

    def __init__(self, case: Case, on_checkpoint: Callable[[Path], object] | None = None) -> None:
        """``on_checkpoint`` is called with each new checkpoint file (to stamp it)."""
        self.case = case
        self.on_checkpoint = on_checkpoint

    def tree(self, signer: PublicKey | None = None, *, checked: bool = True) -> TreeStore:
        """The log's tree: the derived cache in ``state/tree``, checked before a root taken
        from it is signed or handed out, and rebuilt from the log (with a warning) when it
        does not match (docs/SECURITY.md, "Derived state").

        The check: the cache's root at the latest checkpoint equals that checkpoint's root
        when ``signer`` (the operator's own key) signed it, else the largest root the user's
        own verify remembered, and the entries after it are hashed again from the log;
        with neither, the whole log is hashed once and compared. A log that differs from the
        operator's own signed checkpoint is refused: nothing is signed on top of it.
        ``checked=False`` is for what signs nothing and is checked by its reader (a proof
        against its checkpoint).
        """
        folder = self.case.state_dir / "tree"
        store = TreeStore.for_log(folder, self.case.log_path)
        if not checked:
            return store
        try:
            why = self._tree_problem(store, signer)
        except (ProvError, OSError) as exc:  # a node or offset the cache lacks, a torn log
            why = str(exc)
        except BaseException:
            store.close()
            raise
        if why is None:
            return store
        store.close()
        derived.rebuilt("state/tree (the custody log's tree cache)", why)
        store = TreeStore.rebuild(folder, self.case.log_path)
        self._check_own_checkpoint(store, signer)
        return store

    def _own_checkpoint(self, size: int, signer: PublicKey | None) -> cp.Checkpoint | None:
        """The checkpoint of ``size`` if ``signer`` signed it for this case's log."""
        if signer is None or not size:
            return None
        path = checkpoint_path(self.case, size)
        try:
            data = read_regular(path, cp.MAX_NOTE, what=self.case.relative(path))
            checkpoint, _ = cp.verify_checkpoint(data, self.case.info.origin, [signer],
                                                 what=self.case.relative(path))
        except ProvError:
            return None
        return checkpoint if checkpoint.size == size else None

    def _anchor(self, size: int, signer: PublicKey | None) -> tuple[int, bytes, str] | None:
        """A root of the log's first entries that this operator vouches for: the latest
        checkpoint if ``signer`` signed it, else the largest root this user's own verify
        remembered ($PROV_HOME/seen, outside the case). (size, root, what it is) or None."""
        checked = latest_checkpoint_size(self.case, size)
        own = self._own_checkpoint(checked, signer)
        if own is not None:
            return checked, own.root, "your checkpoint of that size"
        try:
            roots = seen.load_roots(self.case.info.origin)
        except (ProvError, OSError, ValueError):
            roots = {}
        best = max((s for s in roots if 0 < s <= size), default=0)
        return (best, roots[best], "the root your verify remembered") if best else None

    def _tree_problem(self, store: TreeStore, signer: PublicKey | None) -> str | None:
        """Why ``store`` cannot be used as it is, or None. Up to the anchor, its root must be
        the anchor's (the nodes appends build on are those of that root); after it, its nodes
        are made again from the log's lines. With no anchor, the whole log is hashed."""
        size = len(store)
        anchor = self._anchor(size, signer)
        if anchor is None:
            tree = merkle.TreeBuilder()
            for line in iter_lines(self.case.log_path):
                tree.append(merkle.leaf_hash(line))
            if tree.size != size or tree.root() != store.root():
                return f"its root differs from the log's over {tree.size} entries"
            return None
        checked, root, what = anchor
        if store.range_root(0, checked) != root:
            return f"its root at size {checked} differs from {what}"
        if checked < size:  # entries after the anchor: their nodes, again, from the log
            start = store.offset(checked)
            store.truncate(checked)
            with open(self.case.log_path, "rb") as fh:
                fh.seek(start)
                while line := fh.readline(MAX_LINE + 2):
                    if not line.endswith(b"\n"):
                        return "it does not end where the log's lines do"
                    store.append(merkle.leaf_hash(line[:-1]), start)
                    start += len(line)
            if len(store) != size or start != self.case.log_path.stat().st_size:
                return f"its entries after size {checked} are not the log's"
        return None

    def _check_own_checkpoint(self, store: TreeStore, signer: PublicKey | None) -> None:
        """After a rebuild: a log that differs from a checkpoint the operator signed is
        refused (an IntegrityError, exit 3): ``prov verify`` says what changed."""
        checked = latest_checkpoint_size(self.case, len(store))
        own = self._own_checkpoint(checked, signer)
        if own is not None and store.range_root(0, checked) != own.root:
            store.close()
            raise IntegrityError(
                f"custody/log.jsonl: its first {checked} entries differ from the checkpoint "
                "of that size you signed; nothing was appended",
                hint="run `prov verify` on the case")

    def latest_prev(self, tree: merkle.Leaves) -> Prev:
        size_now = len(tree)
        if size_now and checkpoint_path(self.case, size_now).is_file():
            size = size_now  # always, after a complete append: one stat, no listing
        else:  # a crash before the checkpoint was written: the latest one before it
            size = latest_checkpoint_size(self.case, size_now)
        if not size:
            return Prev(0, merkle.EMPTY_ROOT)
        tokens = tuple(file_subject(self.case, p) for p in token_paths(self.case, size))
        return Prev(size, tree.range_root(0, size), tokens)

    def append(
        self, entries: Sequence[NewEntry], key: SigningKey, now: datetime
    ) -> cp.Checkpoint:
        """Append ``entries`` (caller holds the case lock) and write the new checkpoint.
        The signed lines are first judged as verify will judge them
        (``provenance.custody.signers``): an entry the case could not verify is refused
        before a byte is written."""
        tree = self.tree(key.public)
        try:
            prev = self.latest_prev(tree)
            lines = [self._signed(len(tree) + offset, new, prev, key, now)
                     for offset, new in enumerate(entries)]
            self.check_new_lines(lines, key, len(tree))
            start = self._write_lines(lines)
            failpoints.reach("after-log-lines")
            for line in lines:
                tree.append(merkle.leaf_hash(line), start)
                start += len(line) + 1
            tree.save_meta(start)
            checkpoint = self.write_checkpoint(len(tree), tree.root(), key)
        finally:
            tree.close()
        if self.on_checkpoint is not None:
            self.on_checkpoint(checkpoint_path(self.case, checkpoint.size))
        return checkpoint

    def check_new_lines(self, lines: Sequence[bytes], key: SigningKey, first_seq: int) -> None:
        """``errors.RefusedEntryError`` unless the case could verify every line (the
        signer trusted at the end of the log, each line as verify's judge reads it)."""
        # deferred: start-up of prov verify (only an append loads the signer checks)
        from provenance.custody import signers

        signers.check_lines(signers.replay(self.case.log_path), key.public, key.name, lines,
                            first_seq)

    @staticmethod
    def _signed(seq: int, new: NewEntry, prev: Prev, key: SigningKey, now: datetime) -> bytes:
        """The log line of ``new`` at ``seq``; a value RFC 8785 cannot carry (text that is
        not Unicode, a number JSON cannot hold) refuses the entry (exit 6)."""
        entry = Entry(seq=seq, time=timefmt.format_time(now), actor=key.key_id,
                      action=new.action, subjects=new.subjects, prev=prev,
                      details=dict(new.details or {}))
        try:
            payload = entry.payload()
        except ValueError as exc:  # rfc8785.CanonicalizationError
            raise RefusedEntryError(f"a {new.action} entry cannot hold what was given ({exc}); "
                                    "nothing was written") from None
        return sign_envelope(CUSTODY_PAYLOAD, payload, key)

    def _write_lines(self, lines: Sequence[bytes]) -> int:
        """Append lines durably; return the log's byte length before them."""
        fd = os.open(self.case.log_path, os.O_WRONLY | os.O_APPEND)
        try:
            before = os.fstat(fd).st_size
            data = b"".join(line + b"\n" for line in lines)
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        return before

    def write_checkpoint(self, size: int, root: bytes, key: SigningKey) -> cp.Checkpoint:
        checkpoint = cp.Checkpoint(self.case.info.origin, size, root)
        path = checkpoint_path(self.case, checkpoint.size)
        if path.exists():
            return checkpoint
        try:
            path.parent.mkdir()
            fsync_dir(path.parent.parent)  # a new shard folder: durable before what is in it
        except FileExistsError:
            pass
        tmp = path.with_suffix(".tmp")
        write_durable(tmp, cp.sign_checkpoint(checkpoint, key), exclusive=False)
        os.replace(tmp, path)
        fsync_dir(path.parent)
        return checkpoint

    def read_entry_line(self, tree: TreeStore, index: int) -> bytes:
        with open(self.case.log_path, "rb") as fh:
            fh.seek(tree.offset(index))
            line = fh.readline(MAX_LINE + 2)
        if not line.endswith(b"\n"):
            raise LogFormatError(f"log.jsonl: entry {index} is not a complete line")
        return line[:-1]


@dataclass(frozen=True)
class CaptureSummary:
    """A capture as its ``capture`` entry in the log names it."""

    capture_id: str
    capture_dir: str
    logged_at: str
    urls: int
    failed: int

    def as_json(self) -> dict[str, Any]:
        return {"captureId": self.capture_id, "captureDir": self.capture_dir,
                "loggedAt": self.logged_at, "urls": self.urls, "failed": self.failed}


def logged_captures(case: Case) -> list[CaptureSummary]:
    """The captures the log names, in log order (entries parsed, not judged)."""
    return [
        CaptureSummary(str(e.details.get("captureId")), str(e.details.get("captureDir")),
                       e.time, detail_count(e.details.get("urls")),
                       detail_count(e.details.get("failed")))
        for e in iter_log_entries(case) if e.action == "capture"
    ]


def detail_count(value: object) -> int:
    """A count an entry's details give (``urls``, ``failed``), read from an entry nothing has
    verified yet: a non-negative integer, else 0 (a string, a float, a list or a bool from an
    edited line is never converted, so it cannot crash a reader)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0
