"""Verifying a case: every signature, digest, checkpoint and capture, collected as findings.

The case is hostile input. Only regular files inside it are opened (``lstat`` first, symlinks
are findings, never followed), names must match prov's own patterns, and every read is
bounded. The custody log is read up to its latest checkpoint first, so a snapshot committing
beside this verify cannot cause a false failure. Trust in keys is derived by replaying the
log from its ``init`` entry, anchored outside the case (see ``provenance.signing.trust``).
"""

from __future__ import annotations

import heapq
import os
import re
import struct
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence, Set
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from archive.errors import NotATargetError, ProvError
from provenance.base import timefmt
from provenance.base.digests import sha256_regular
from provenance.base.report import KEEP, Report
from provenance.base.untrusted import (
    is_dir,
    is_regular,
    iter_names,
    listdir,
    open_regular,
    read_regular,
)
from provenance.custody import checkpoint as cp
from provenance.custody import merkle
from provenance.custody.case import SEAL_NAME, Case, iter_capture_dirs
from provenance.custody.log import (
    CHECKPOINT_RE,
    SHARD_RE,
    checkpoint_path,
    checkpoint_sizes,
    shard,
)
from provenance.custody.logfile import MAX_LINE
from provenance.errors import UntrustedInputError
from provenance.signing.dsse import parse_envelope, verify_envelope
from provenance.signing.entryjudge import EntryJudge
from provenance.signing.keys import PublicKey
from provenance.signing.statements import (
    IN_TOTO_PAYLOAD,
    CaptureSeal,
    Entry,
    Subject,
)
from provenance.signing.trust import Anchors
from provenance.timestamps.tsatrust import TsaRoots
from provenance.verification.fixity import NOT_CHECKED, FixityJudge, Hashes
from provenance.verification.history import History
from provenance.verification.keycache import check_key_cache
from provenance.verification.layout import judge_layout
from provenance.verification.parallel import Tally
from provenance.verification.revisits import RevisitLedger
from provenance.verification.signatures import DeferredSignatures
from provenance.verification.stamps import StampJudge
from provenance.verification.warcjudge import WarcJudge

TOKEN_NAME = re.compile(r"^seal\.[0-9a-f]{16}\.tsr$")
CKPT_TOKEN = re.compile(r"^[0-9]{20}\.[0-9a-f]{16}\.tsr$")
COSIGNATURE = re.compile(r"^([0-9]{20})\.[0-9a-f]{16}\.cosignature$")
SIZED = re.compile(r"^[0-9]{20}\.")  # a name that places itself in a shard
# a log at least this large has its signatures checked by worker processes (about 6,000 entries:
# below, starting them costs more than it saves)
PARALLEL_LOG_BYTES = 4 << 20


class _JudgeAgain(Exception):
    """A signature checked by a worker did not verify, or could not be checked."""


@dataclass
class LoggedEntry:
    index: int
    entry: Entry
    trusted: dict[str, PublicKey]  # keys trusted when this entry was appended


class HashArray:
    """Leaf hashes spooled to an anonymous temporary file: constant memory at any log size.

    Roots at the sizes verify needs (checkpoints, seen and ``--since`` checkpoints) are taken
    while the log streams by; the file serves only a size learnt later (a checkpoint written
    while verify ran), read once with an O(log n) tree builder.
    """

    BUFFER = 1 << 20

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile(prefix="prov-verify-")  # noqa: SIM115 (closed by run)
        self._buffer = bytearray()
        self._size = 0

    def append(self, digest: bytes) -> None:
        self._buffer += digest
        self._size += 1
        if len(self._buffer) >= self.BUFFER:
            self._flush()

    def _flush(self) -> None:
        self._file.write(self._buffer)
        self._buffer.clear()

    def __len__(self) -> int:
        return self._size

    def root_of_prefix(self, size: int) -> bytes:
        self._flush()
        self._file.seek(0)
        tree = merkle.TreeBuilder()
        left = size
        while left:
            chunk = self._file.read(min(left, self.BUFFER // 32) * 32)
            if not chunk:
                break
            for i in range(0, len(chunk), 32):
                tree.append(chunk[i : i + 32])
            left -= len(chunk) // 32
        self._file.seek(0, os.SEEK_END)
        return tree.root()

    def close(self) -> None:
        self._file.close()


class EntrySpool:
    """The entries that name files, kept for the checks after the log pass, spooled to an
    anonymous temporary file and parsed again as they are read: memory does not grow with the
    captures a log names. What is spooled is the exact line this verify judged, never read
    again from the case (which may change meanwhile); each reading is independent."""

    HEAD = struct.Struct("<QII")  # index, key set, line length

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile(prefix="prov-verify-")  # noqa: SIM115 (closed by run)
        self._keys: list[dict[str, PublicKey]] = []  # the key sets, one per change of trust
        self._count = 0
        self._size = 0

    def append(self, index: int, line: bytes, trusted: dict[str, PublicKey]) -> None:
        if not self._keys or self._keys[-1] is not trusted:
            self._keys.append(trusted)
        record = self.HEAD.pack(index, len(self._keys) - 1, len(line)) + line
        self._file.write(record)
        self._count += 1
        self._size += len(record)

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[LoggedEntry]:
        self._file.flush()
        fd, at, end = self._file.fileno(), 0, self._size
        while at < end:
            index, keys, length = self.HEAD.unpack(os.pread(fd, self.HEAD.size, at))
            line = os.pread(fd, length, at + self.HEAD.size)
            at += self.HEAD.size + length
            what = f"custody/log.jsonl entry {index}"
            entry = Entry.parse(parse_envelope(line, what=what).payload, what=what)
            yield LoggedEntry(index, entry, self._keys[keys])

    def close(self) -> None:
        self._file.close()


@dataclass
class LogState:
    hashes: HashArray = field(default_factory=HashArray)
    entries: EntrySpool = field(default_factory=EntrySpool)
    roots: dict[int, bytes] = field(default_factory=lambda: {0: merkle.EMPTY_ROOT})  # MTH by size
    latest_time_at: dict[int, datetime | None] = field(default_factory=dict)
    checkpoint_size: int = 0

    @property
    def size(self) -> int:
        return len(self.hashes)

    def root_at(self, size: int) -> bytes:
        if size not in self.roots:
            self.roots[size] = self.hashes.root_of_prefix(size)
        return self.roots[size]


class CaseVerifier:
    def __init__(self, root: Path, anchors: Anchors, *, strict: bool = False,
                 since: Sequence[tuple[str, cp.Checkpoint]] = (), remember: bool = True,
                 tsa_roots: TsaRoots | None = None, jobs: int | None = None,
                 on_progress: Callable[[Tally], None] | None = None,
                 package: bool = False, fixity: bool = False,
                 known: Mapping[str, bytes] | None = None,
                 hashes: Hashes | None = None) -> None:
        """``package``: the case inside a bag, which may be older than a log seen earlier.
        ``fixity``: sealed WARCs are judged by their sha256 alone, nothing inflated
        (``provenance.verification.fixity``); ``known``: their digests, computed elsewhere
        (a bucket's objects, hashed as they streamed by), by case-relative name; ``hashes``:
        their hashing, started before (``Hashes.start``; a judging again starts its own)."""
        self._args = {"anchors": anchors, "strict": strict, "since": since, "remember": remember,
                      "tsa_roots": tsa_roots, "jobs": jobs, "on_progress": on_progress,
                      "package": package, "fixity": fixity, "known": known}
        self.jobs = jobs
        self.serial_signatures = False  # True: every signature checked in this process
        self.root = root
        self.fixity = fixity
        self.package = package
        self.anchors = anchors
        self.since = list(since)
        self.remember = remember
        self.verified_checkpoints: list[tuple[int, Path]] = []
        self.latest_verified: tuple[int, Path] | None = None
        self.remembered: tuple[int, bytes] | None = None  # (size, root) kept in $PROV_HOME
        self.report = Report(str(root), "case", strict=strict)
        if fixity:  # said from the start: a case that fails early was still not inflated
            self.report.mode, self.report.not_checked = "fixity", list(NOT_CHECKED)
        self.stamps = StampJudge(root, self.report, tsa_roots or TsaRoots.collect(target=root))
        self.seal_started: dict[str, datetime] = {}
        self.token_files: set[str] = set()
        self.bound_tokens: set[str] = set()  # checkpoint tokens named by an entry's prev
        self.staged_files: set[str] = set()
        self.latest_time: datetime | None = None
        self.case: Case
        self.log = LogState()
        self.logged_dirs: set[str] = set()
        self.judge = EntryJudge(self.report)
        self.revisits = RevisitLedger()  # each revisit checked against its original at the end
        self.warcs: WarcJudge | FixityJudge
        if fixity:
            self.warcs = FixityJudge(root, self.report, jobs=jobs, known=known, hashes=hashes,
                                     on_progress=on_progress)
        else:
            self.warcs = WarcJudge(root, self.report, self.revisits, jobs=jobs,
                                   on_progress=on_progress)

    def run(self) -> Report:
        """Judge the case: ``provenance.verification.targets`` decided that ``root`` is one, so
        from here on everything wrong with it is a finding (exit 3), never "not a case" (exit 4).

        A large log's signatures are checked by worker processes while the log is replayed
        (``provenance.verification.signatures``); if one of them does not verify, or could not
        be checked, the case is judged again from the start with every signature checked in
        place, so the report is the one a serial replay gives."""
        try:
            return self._run()
        except _JudgeAgain:
            again = CaseVerifier(self.root, **self._args)  # type: ignore[arg-type]
            again.serial_signatures = True
            report = again.run()
            self.__dict__.update(again.__dict__)
            return report

    def _run(self) -> Report:
        judge_layout(self.root, self.report)
        try:
            self.case = Case.load(self.root)
        except NotATargetError as exc:  # a case folder whose identity was damaged: evidence
            self.report.add("fail", "case.file", "case.json", f"{exc}: without the case's "
                            "identity nothing else in it can be judged")
            return self.report
        self.history = History(self.report, self.case.info.origin, self.since,
                               subject="custody/log.jsonl", package=self.package)
        try:  # the spooled hashes serve every root asked for until the judging ends
            self._judge_case()
        finally:
            self.log.hashes.close()
            self.log.entries.close()
            self.warcs.close()
            self.revisits.close()
        return self.report

    def _judge_case(self) -> None:
        if self.fixity:  # the workers hash the files on disk while the log is judged
            self.warcs.plan(f for f, _ in iter_capture_dirs(self.root))
        self._read_log(self.history.sizes())
        self._check_anchor()
        check_key_cache(self.root / "keys", self.judge.named_keys(), self.report)
        self.stamps.check_chains()
        self._check_checkpoints()
        self._check_history()
        if not self.fixity:
            self.warcs.plan(self._capture_folders())
        for logged in self.log.entries:
            self._check_entry_subjects(logged)
        self._scan_captures()
        self.warcs.close()
        self.stamps.finish()
        self.stamps.check_carried(complete=not self.staged_files)
        for token in sorted(self.token_files - self.stamps.logged_tokens - self.staged_files):
            if token.rsplit("/", 1)[0] in self.logged_dirs:
                self.report.add("fail", "timestamp.unlogged", token,
                                "file in a capture folder that no custody entry names")
            else:
                self.report.add("warn", "timestamp.unlogged", token,
                                "token of a capture not yet logged; `prov log repair` logs both")
        self.revisits.finish(self.report)
        if self.fixity:
            self._fixity_report()

    def _fixity_report(self) -> None:
        """Say what fixity did not re-check, and when this verifier last checked it all."""
        self.report.add("info", "fixity", "captures", "fixity check: every sealed file's "
                        "sha256 against its seal, every signature, the custody log, its "
                        "checkpoints and the time-stamp tokens; NOT re-checked: each record's "
                        "own digests and headers and each seal's record count and records root "
                        "(a full `prov verify` checks them)")
        self.report.last_full = self.history.last_full(self.case.info.id, self.log.size,
                                                       self.log.roots.get)

    # -- the log ---------------------------------------------------------------------------

    def trusted_now(self, case: Case) -> dict[str, PublicKey]:
        """The keys ``case``'s own log trusts after its last entry (no other check judged)."""
        self.case = case
        self.serial_signatures = True  # only ``run`` judges again when one does not verify
        try:
            self._read_log()
        finally:
            self.log.hashes.close()
        return self.judge.trusted_after(self.log.size - 1)

    def _read_log(self, remembered: Set[int] = frozenset()) -> None:
        """Stream the log once: hash, replay trust and check every entry as it comes.

        Roots are taken on the way at every checkpoint size and at the ``remembered`` sizes
        (seen and ``--since`` checkpoints), so nothing per entry stays in memory.
        """
        add = self.report.add
        sizes = checkpoint_sizes(self.case)  # shard folders by the rule; the rest is judged later
        self.log.checkpoint_size = latest = max(sizes, default=0)
        wanted = set(sizes) | remembered
        tree = merkle.TreeBuilder()
        torn = False
        try:
            fd = open_regular(self.case.log_path, what="custody/log.jsonl")
        except UntrustedInputError as exc:
            add("fail", "log.missing", "custody/log.jsonl", f"custody log missing ({exc}): "
                "nothing in the case can be tied to its custody")
            fd = os.open(os.devnull, os.O_RDONLY)
        with open(fd, "rb") as fh:
            deferred = self._deferred(fh.fileno())
            try:
                while True:
                    if tree.size in wanted:
                        self.log.roots[tree.size] = tree.root()
                        self.log.latest_time_at[tree.size] = self.latest_time
                    line = fh.readline(MAX_LINE + 2)
                    if not line:
                        break
                    if not line.endswith(b"\n"):
                        torn = True
                        break
                    digest = merkle.leaf_hash(line[:-1])
                    self.log.hashes.append(digest)
                    tree.append(digest)
                    self._replay_one(tree.size - 1, line[:-1])
                    if deferred is not None and not deferred.ok:
                        raise _JudgeAgain
                if deferred is not None and not deferred.all_valid():
                    raise _JudgeAgain
            finally:
                if deferred is not None:
                    self.judge.defer = None
                    deferred.close()
        size = self.log.size
        self.log.roots[size] = tree.root()  # the log's own head: history judges it
        if size < latest:
            add("fail", "log.length", "custody/log.jsonl",
                f"log has {size} complete entries but a checkpoint covers {latest}: "
                "entries were removed", expected=str(latest), found=str(size))
        elif torn:
            add("warn", "log.tail", "custody/log.jsonl",
                f"an incomplete line follows entry {size - 1} (a write in progress or "
                "interrupted); `prov log repair` quarantines it")
        if size > latest:
            add("warn", "log.unchecked", "custody/log.jsonl",
                f"{size - latest} entries after the latest checkpoint (size {latest}): a command "
                "in progress or interrupted; `prov log repair` writes a checkpoint")
        if size and not self.report.findings_for("log.entry"):
            add("pass", "log.signatures", "custody/log.jsonl",
                f"{size} entries signed by keys the log trusts")

    def _deferred(self, fd: int) -> DeferredSignatures | None:
        """Worker processes for the signatures of a large log, when ``run`` may judge again."""
        workers = self.jobs or len(os.sched_getaffinity(0))
        if self.serial_signatures or workers < 2:
            return None
        if os.fstat(fd).st_size < PARALLEL_LOG_BYTES:
            return None
        deferred = DeferredSignatures(workers)
        self.judge.defer = deferred.add
        return deferred

    def _replay_one(self, index: int, line: bytes) -> None:
        """Judge one entry (``provenance.signing.entryjudge``), then what only a whole log can
        show:
        its ``prev`` root against the log's own prefix and the checkpoint it names."""
        what = f"custody/log.jsonl entry {index}"
        judged = self.judge.judge(index, line, what)
        entry = judged.entry
        if entry is None:
            return
        if judged.prev_in_order:
            self._check_prev(index, entry, judged.prev_new, what)
        moment = timefmt.parse_time(entry.time)
        self.latest_time = max(self.latest_time or moment, moment)
        if entry.subjects or entry.action.startswith("timestamp"):
            # kept for the file checks after the log pass; the rest are done with here, so
            # memory follows what the log names, not the log's length
            self.log.entries.append(index, line, judged.trusted)

    def _check_prev(self, index: int, entry: Entry, new: bool, what: str) -> None:
        prev = entry.prev
        # a size with no checkpoint to take a root at is checkpoint.missing (below), not a root
        # recomputed from the spooled hashes: a hostile log costs no quadratic time
        rootable = prev.size in self.log.roots or is_regular(checkpoint_path(self.case,
                                                                               prev.size))
        if rootable and self.log.root_at(prev.size) != prev.root:
            self.report.add("fail", "log.prev", what, f"prev root does not match the log's "
                            f"first {prev.size} entries (history rewritten)")
        if new:
            self._check_prev_checkpoint(prev.size, prev.tokens, what)

    def _check_prev_checkpoint(self, size: int, tokens: tuple[Subject, ...], what: str) -> None:
        path = checkpoint_path(self.case, size)
        if not is_regular(path):
            self.report.add("fail", "checkpoint.missing", self.case.relative(path),
                            f"checkpoint named by {what} is missing")
        self.bound_tokens.update(token.name for token in tokens)
        for token in tokens:
            self._check_file_digest(token, f"token named by {what}")

    def _check_anchor(self) -> None:
        self.judge.check_anchor(self.anchors, "custody/log.jsonl", "case")

    # -- checkpoints -----------------------------------------------------------------------

    def _check_checkpoints(self) -> None:
        """Every shard folder, and anything in ``custody/checkpoints`` that is not one."""
        top = self.case.checkpoints_dir
        for name in listdir(top):
            if SHARD_RE.match(name) and is_dir(top / name):
                for inner in listdir(top / name):
                    self._check_checkpoint_file(top / name, inner)
            else:
                self.report.add("fail", "checkpoint.unexpected", f"custody/checkpoints/{name}",
                                "prov writes only shard folders here (named by the first 17 "
                                "digits of a checkpoint's size)")

    def _check_checkpoint_file(self, folder: Path, name: str) -> None:
        rel = f"custody/checkpoints/{folder.name}/{name}"
        if shard(name) != folder.name:  # every name prov writes starts with its size
            if SIZED.match(name):
                self.report.add("fail", "checkpoint.unexpected", rel, "file in the wrong shard "
                                f"folder: size {int(name[:20])} belongs in custody/checkpoints/"
                                f"{shard(name)}", expected=shard(name), found=folder.name)
            else:
                self.report.add("fail", "checkpoint.unexpected", rel,
                                "file that prov never writes in custody/checkpoints")
            return
        match = CHECKPOINT_RE.match(name)
        cosig = COSIGNATURE.match(name)
        if match:
            self._check_checkpoint(folder / name, int(match.group(1)), rel)
        elif cosig:
            self._check_cosignature(folder / name, int(cosig.group(1)), rel)
        elif CKPT_TOKEN.match(name):
            self._check_checkpoint_token(folder / name, int(name[:20]), rel)
        elif name.endswith(".tmp") and (CHECKPOINT_RE.match(name[:-4] + ".checkpoint")
                                        or COSIGNATURE.match(name[:-4] + ".cosignature")):
            self.report.add("warn", "checkpoint.tmp", rel, "left by an interrupted write "
                            "(not evidence); `prov log repair` sets it aside")
        else:
            self.report.add("fail", "checkpoint.unexpected", rel,
                            "file that prov never writes in custody/checkpoints")

    def _check_checkpoint(self, path: Path, size: int, rel: str) -> None:
        add = self.report.add
        if size > self.log.size or size == 0:
            add("fail", "checkpoint.size", rel, "checkpoint covers entries the log lacks",
                expected=f"<= {self.log.size}", found=str(size))
            return
        keys = self.judge.trusted_after(size - 1).values()
        try:
            checkpoint, _ = cp.verify_checkpoint(
                self._read(path, cp.MAX_NOTE), self.case.info.origin, keys, what=rel)
        except ProvError as exc:
            add("fail", "checkpoint.signature", rel, str(exc))
            return
        expected = self.log.root_at(size)
        if checkpoint.size != size:
            add("fail", "checkpoint.size", rel, "size inside differs from the file name",
                expected=str(size), found=str(checkpoint.size))
        elif checkpoint.root != expected:
            add("fail", "checkpoint.root", rel, "root does not match the log (history rewritten)",
                expected="sha256:" + expected.hex(), found="sha256:" + checkpoint.root.hex())
        else:
            add("pass", "checkpoint", rel, f"signed checkpoint matches the first {size} entries")
            self.verified_checkpoints.append((size, path))

    def _check_checkpoint_token(self, path: Path, size: int, rel: str) -> None:
        if size < self.log.size and rel not in self.bound_tokens:  # the latest is bound later
            self.report.add("fail", "timestamp.unlogged", rel, "checkpoint token that no entry "
                            "binds (an added file): the entry after a checkpoint names its tokens")
            return
        checkpoint = checkpoint_path(self.case, size)
        if not is_regular(checkpoint):
            self.report.add("fail", "timestamp.stamped", rel, "token for a missing checkpoint")
            return
        try:
            data = self._read(checkpoint, cp.MAX_NOTE)
        except ProvError as exc:
            self.report.add("fail", "timestamp.stamped", rel, str(exc))
            return
        self.stamps.checkpoint_token(rel, data, self.log.latest_time_at.get(size), size)

    def _check_cosignature(self, path: Path, size: int, rel: str) -> None:
        """The file is the case's checkpoint note, byte for byte, then cosignature lines. Its
        name gives the cosigner's key id: a verifier who knows that key needs a valid line by
        it, or an edited hint or cosigner name would pass as a cosigner it does not know.
        A line by a key the verifier does not hold is whatever its writer chose (name, hint,
        time, signature): an unverified claim, a warning (``--strict`` fails it)."""
        add = self.report.add
        original = checkpoint_path(self.case, size)
        try:
            data = self._read(path, cp.MAX_NOTE)
            text, found = cp.verify_cosignatures(data, self.anchors.keys, what=rel)
            note = self._read(original, cp.MAX_NOTE)
            expected_text, _ = cp.split_note(note, what=rel)
        except ProvError as exc:
            add("fail", "cosignature", rel, str(exc))
            return
        if text != expected_text:
            add("fail", "cosignature", rel, "cosigns a checkpoint that differs from the case's")
            return
        if not data.startswith(note) or not found:
            add("fail", "cosignature", rel, "not the case's checkpoint note, byte for byte, "
                "followed by cosignature lines")
            return
        hex16 = path.name.split(".")[1]
        named = next((k for k in self.anchors.keys if k.key_id.split(":", 1)[1][:16] == hex16),
                     None)
        if named is not None and all(key != named for _, key, _ in found):
            add("fail", "cosignature", rel, "no valid cosignature by the key the file name "
                "gives", expected=named.key_id, found=", ".join(n for n, _, _ in found))
            return
        for name, key, timestamp in found:
            if key is None:  # anyone can write this line: a claim, never a cosigner
                add("warn", "cosignature", rel, f"claims a cosignature by {name!r}, NOT "
                    "checked: no key of this verifier matches it, so it proves nothing "
                    "(trust the cosigner's key with --trust to check it)")
            else:
                add("pass", "cosignature", rel, f"cosigned by {name} ({key.key_id}) at "
                    f"unix time {timestamp}")

    def _read(self, path: Path, limit: int) -> bytes:
        """A file of the case, as ``untrusted.read_regular`` reads it, named case-relative."""
        return read_regular(path, limit, what=self._rel(path))

    def _sha256(self, path: Path) -> bytes | None:
        try:
            return sha256_regular(path, what=self._rel(path))
        except UntrustedInputError:
            return None

    def _rel(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    # -- history: what this auditor saw before -------------------------------------------

    def _check_history(self) -> None:
        self.history.judge(self.log.size, self.log.root_at)
        log_failed = any(f.status == "fail" and f.check.startswith(("log.", "checkpoint",
                         "history.")) for f in self.report.findings)
        if not self.verified_checkpoints or log_failed:
            return
        self.latest_verified = size, path = max(self.verified_checkpoints)
        if self.remember:
            roots = {s: self.log.roots[s] for s, _ in self.verified_checkpoints}
            if self.history.remember(size, self._read(path, cp.MAX_NOTE), roots):
                self.remembered = size, roots[size]

    # -- captures --------------------------------------------------------------------------

    def _check_entry_subjects(self, logged: LoggedEntry) -> None:
        entry = logged.entry
        what = f"entry {logged.index} ({entry.action})"
        for subject in entry.subjects:
            if entry.action in ("capture", "capture-failed") and subject.name.endswith(SEAL_NAME):
                if entry.action == "capture":
                    self._check_capture(subject, logged, what)
                    self.stamps.capture_entry(entry, subject.name)
                continue
            if entry.action == "timestamp-pending":
                continue
            self._check_file_digest(subject, what)
        if entry.action == "timestamp-added":
            stamped = str(entry.details.get("stamped"))
            self.stamps.added_entry(entry, self.seal_started.get(stamped))
        elif entry.action == "timestamp-pending":
            self.stamps.pending_entry(entry)

    def _check_file_digest(self, subject: Subject, what: str) -> bool:
        path = self.root / subject.name
        staged = path.with_name(path.name + ".partial")
        if not is_regular(path) and is_regular(staged) and self._sha256(staged) == subject.sha256:
            self.report.add("warn", "file.staged", subject.name,
                            f"named by {what} but not moved into place (an interrupted command); "
                            "`prov log repair` completes it")
            self.staged_files.add(self.case.relative(staged))
            return False
        if not is_regular(path):
            self.report.add("fail", "file.missing", subject.name, f"named by {what}, missing")
            return False
        found = self._sha256(path)
        if found is None:
            self.report.add("fail", "file.missing", subject.name, f"named by {what}, not a "
                            "regular file")
            return False
        if found != subject.sha256:
            self.report.add("fail", "file.digest", subject.name, f"changed since {what}",
                            expected=_label(subject.sha256), found=_label(found))
            return False
        return True

    def _check_capture(self, subject: Subject, logged: LoggedEntry, what: str) -> None:
        folder = subject.name.rsplit("/", 1)[0]
        self.logged_dirs.add(folder)
        if not is_regular(self.root / folder / SEAL_NAME):
            self.report.add("fail", "capture.missing", folder,
                            f"capture logged by {what} is gone{_held(logged.entry)}")
            return
        if not self._check_file_digest(subject, what):
            return
        sealed_for = logged.entry.details.get("sealedFor")
        self._check_sealed_folder(folder, logged.trusted,
                                  str(sealed_for) if sealed_for else None)

    def _check_sealed_folder(self, folder: str, trusted: dict[str, PublicKey],
                             sealed_for: str | None = None) -> bool:
        """``sealed_for``: the case a logged capture entry says the capture was sealed for
        (a capture carried into a new case by `prov copy --keep-source-writable`, adopted
        by a signed entry); otherwise the seal must name this case."""
        add = self.report.add
        seal_rel = f"{folder}/{SEAL_NAME}"
        try:
            envelope = parse_envelope(self._read(self.root / seal_rel, 16 << 20), what=seal_rel)
            verify_envelope(envelope, payload_type=IN_TOTO_PAYLOAD, trusted=trusted, what=seal_rel)
            seal = CaptureSeal.parse(envelope.payload, what=seal_rel)
        except ProvError as exc:
            add("fail", "seal.signature", seal_rel, str(exc))
            return False
        name = folder.rsplit("/", 1)[-1]
        if seal.capture_id != name or seal.capture_dir != folder:
            add("fail", "seal.binding", seal_rel, "seal belongs to another capture",
                expected=f"{name} at {folder}", found=f"{seal.capture_id} at {seal.capture_dir}")
            return False
        expected = sealed_for or self.case.info.id
        if seal.case_id != expected:  # same key, another case: moved evidence
            add("fail", "seal.case", seal_rel, "capture sealed for another case",
                expected=expected, found=seal.case_id)
            return False
        if sealed_for and sealed_for != self.case.info.id:
            add("info", "seal.case", seal_rel, f"sealed for case {sealed_for}, carried into "
                "this one by its signed capture entry")
        add("pass", "seal.signature", seal_rel, f"signed by {seal.operator}")
        self.seal_started[seal_rel] = timefmt.parse_time(seal.started_at)
        return self._check_capture_files(folder, seal)

    def _check_capture_files(self, folder: str, seal: CaptureSeal) -> bool:
        add = self.report.add
        expected_names = {s.name for s in seal.subjects}
        ok = True
        unexpected = 0

        def strangers() -> Iterator[str]:  # the folder streamed: no list of what was added
            nonlocal unexpected
            for name in iter_names(self.root / folder):
                if TOKEN_NAME.match(name) or TOKEN_NAME.match(name.removesuffix(".partial")):
                    self.token_files.add(f"{folder}/{name}")
                elif name not in expected_names and name != SEAL_NAME:
                    unexpected += 1
                    yield name

        # the first KEEP in name order are all a report can store: the rest are counted
        for name in heapq.nsmallest(KEEP, strangers()):
            add("fail", "capture.unexpected", f"{folder}/{name}", "file not named by the seal")
        self.report.count_more("fail", "capture.unexpected", max(0, unexpected - KEEP))
        ok = not unexpected
        tree = merkle.TreeBuilder()
        for subject in sorted(seal.subjects, key=lambda s: s.name):
            if subject.name in seal.records:
                ok = self._check_warc(folder, subject, seal, tree) and ok
            else:  # a sealed file that is not a WARC (the CDXJ index): its digest
                ok = self._check_file_digest(Subject(f"{folder}/{subject.name}",
                                                     subject.sha256), "the seal") and ok
        if self.fixity:
            if ok:
                add("pass", "capture", folder, f"{len(seal.subjects)} sealed files match the "
                    "seal's digests (records not re-read: fixity)")
            return ok
        root = tree.root()
        if root != seal.records_root:
            add("fail", "seal.recordsRoot", folder, "records differ from those sealed",
                expected="sha256:" + seal.records_root.hex(), found="sha256:" + root.hex())
            return False
        if ok:
            add("pass", "capture", folder, f"{sum(seal.records.values())} records match the seal")
        return ok

    def _check_warc(self, folder: str, subject: Subject, seal: CaptureSeal,
                    tree: merkle.TreeBuilder) -> bool:
        return self.warcs.check(f"{folder}/{subject.name}", subject.sha256,
                                seal.records.get(subject.name), tree)

    def _capture_folders(self) -> list[str]:
        """Capture folders in the order they will be judged: logged ones, then the others."""
        logged = [s.name.rsplit("/", 1)[0] for e in self.log.entries
                  if e.entry.action == "capture" for s in e.entry.subjects
                  if s.name.endswith(SEAL_NAME)]
        return [*logged, *(f for f, _ in iter_capture_dirs(self.root))]

    def _scan_captures(self) -> None:
        for folder, well_named in iter_capture_dirs(self.root):
            if folder in self.logged_dirs:
                continue
            if not well_named:
                self.report.add("fail", "capture.unexpected", folder,
                                "folder that is not a prov capture")
                continue
            self._unlogged(folder)
        partial = self.root / "captures" / ".partial"
        for name in listdir(partial):
            rel = f"captures/.partial/{name}"
            has_seal = is_regular(partial / name / SEAL_NAME)
            self.report.add("warn", "capture.incomplete", rel,
                            "capture sealed but not moved into place; `prov log repair` "
                            "completes it" if has_seal else
                            "capture interrupted before it was sealed (not evidence)")

    def _unlogged(self, folder: str) -> None:
        if not is_regular(self.root / folder / SEAL_NAME):
            self.report.add("fail", "capture.unsealed", folder, "capture folder without a seal")
            return
        trusted = self.judge.trusted_after(self.log.size - 1)
        if self._check_sealed_folder(folder, trusted):
            self.report.add("warn", "capture.unlogged", folder,
                            "sealed by a trusted key but not in the custody log; "
                            "`prov log repair` logs it")
        else:
            self.report.add("fail", "capture.unlogged", folder,
                            "capture folder not in the custody log and its seal does not verify")


def _held(entry: Entry) -> str:
    """What a deleted capture held, as its signed entry lists it (``urlList``)."""
    urls = entry.details.get("urlList")
    count = entry.details.get("urls")
    if not isinstance(urls, list) or not urls:
        return f"; it held {count} URL(s), which its entry does not list" if isinstance(
            count, int) and not isinstance(count, bool) and count > 0 else ""
    shown = ", ".join(str(u)[:200] for u in urls[:5])
    unlisted = entry.details.get("urlsNotListed")
    more = len(urls) - 5 + (unlisted if isinstance(unlisted, int) else 0)
    return f"; it held {shown}" + (f" and {more} more URL(s)" if more > 0 else "")


def _label(digest: bytes) -> str:
    return "sha256:" + digest.hex()

