"""History: a log judged against what this verifier saw of it before, for every kind of target.

Spec: RFC 9162 section 2.1.4 (an older tree head is a prefix of a newer one), the auditor's
memory in ``provenance.custody.seen`` and ``verify --since`` (docs/AUDITING.md, "History").

Threat (docs/SECURITY.md, "One judge for every log"): whoever holds a trusted key can truncate
a log, rewrite it and sign it again; a case, a bag, a WACZ or a disclosure package made from
such a log verifies on its own. Only an earlier look tells: every checkpoint remembered in
``$PROV_HOME/seen`` or given with ``--since`` (and every root remembered at a checkpoint size)
must agree with the log at its size. A case shorter than a checkpoint seen earlier was rolled
back. A package is different: it was exported at some moment, so a package whose log is
shorter than the one seen is older, and passes if its tree head is the one remembered at its
size (a prefix of what was seen); a different head at that size is a fork.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from archive.errors import ProvError
from provenance.base import home
from provenance.base.report import Report
from provenance.custody import seen
from provenance.custody.checkpoint import Checkpoint

RootAt = Callable[[int], bytes | None]  # a log's tree head at a size, None if it cannot tell


class History:
    """``subject`` is the log's place in the report; ``package`` allows an older log."""

    def __init__(self, report: Report, origin: str, since: Sequence[tuple[str, Checkpoint]],
                 *, subject: str, package: bool) -> None:
        self.report = report
        self.origin = origin
        self.subject = subject
        self.package = package
        self.known = [*self._load_seen(), *since]
        self.roots = self._load_roots()
        self.full = self._load_full()
        self._forked: set[int] = set()  # sizes already reported as a fork

    def sizes(self) -> set[int]:
        """The sizes at which the log's tree heads are wanted (taken while it streams)."""
        full = {self.full[1]} if self.full else set()
        return {c.size for _, c in self.known} | set(self.roots) | full

    def judge(self, have: int, root_at: RootAt) -> None:
        """Judge a log of ``have`` entries whose heads ``root_at`` gives."""
        if not self.known:
            self.report.add("warn", "history.unanchored", self.subject,
                            "no earlier checkpoint of this log is known to this verifier: "
                            "truncation or rollback cannot be detected (keep the output of "
                            "`prov log checkpoint` and pass it with --since)")
        for label, checkpoint in self.known:
            self._consistent(label, checkpoint, have, root_at)
        judged = {c.size for _, c in self.known} | self._forked
        for size, root in sorted(self.roots.items()):
            found = root_at(size) if size <= have and size not in judged else None
            if found is not None and found != root:
                self._fork(str(seen.seen_folder(self.origin) / seen.ROOTS), size, root, found)

    def _consistent(self, label: str, checkpoint: Checkpoint, have: int, root_at: RootAt
                    ) -> None:
        add = self.report.add
        size = checkpoint.size
        if checkpoint.origin != self.origin:
            add("fail", "history.origin", label, "checkpoint of another log",
                expected=self.origin, found=checkpoint.origin)
        elif size > have and self.package:
            self._older(label, checkpoint, have, root_at(have))
        elif size > have:
            add("fail", "history.rollback", label,
                f"the log was rolled back or truncated: a checkpoint seen earlier covers {size} "
                f"entries, the log now has {have}", expected=f">= {size}", found=str(have))
        elif (found := root_at(size)) is None:
            add("info", "history.unproven", label, f"the package carries no consistency proof "
                f"from the checkpoint of size {size} seen earlier to its own of size {have}: "
                "a fork after that size cannot be detected from the package alone")
        elif found != checkpoint.root:
            self._fork(label, size, checkpoint.root, found)
        else:
            add("pass", "history.consistent", label,
                f"log is consistent with the checkpoint of size {size} seen earlier")

    def _older(self, label: str, checkpoint: Checkpoint, have: int, head: bytes | None) -> None:
        add = self.report.add
        remembered = self.roots.get(have)
        if remembered is None:
            remembered = next((c.root for _, c in self.known if c.size == have
                               and c.origin == self.origin), None)
        if remembered is None or head is None:
            add("warn", "history.unproven", label, f"the package's log ({have} entries) is "
                f"older than the checkpoint of size {checkpoint.size} seen earlier, and no tree "
                f"head of size {have} was remembered: whether it is a prefix of the log seen "
                "cannot be shown (verify the case it came from)")
        elif head != remembered:
            self._fork(label, have, remembered, head)
        else:
            add("info", "history.older", label, f"the package's log ({have} entries) is a "
                f"prefix of the log seen earlier ({checkpoint.size} entries): the log seen is "
                f"{checkpoint.size - have} entries newer than the package")

    def _fork(self, label: str, size: int, expected: bytes, found: bytes) -> None:
        self._forked.add(size)
        self.report.add("fail", "history.fork", label,
                        f"the first {size} entries differ from those seen earlier: the log was "
                        "rewritten, reordered or forked", expected="sha256:" + expected.hex(),
                        found="sha256:" + found.hex())

    def remember(self, size: int, note: bytes, roots: Mapping[int, bytes]) -> bool:
        """Keep the checkpoint ``note`` of ``size`` and the heads at ``roots``' sizes, unless
        this verify found something wrong with the log or its history, or the log's founding
        key is not anchored outside the target."""
        failed = any(f.status == "fail" and f.check.startswith(
            ("log.", "checkpoint", "history.", "package.entr", "disclosure.entr", "trust.anchor"))
            for f in self.report.findings)
        if failed:
            return False
        if not any(f.check == "trust.anchor" and f.status == "pass" for f in self.report.findings):
            # a log founded by a key the verifier did not name could be anyone's: remembering
            # it would let a forged copy of the same origin poison the memory of the real one
            self.report.add("info", "history.remembered", self.subject, "nothing remembered: "
                            "the founding key is not one this verifier trusts (--trust, "
                            "--trust-id or $PROV_HOME/trusted)")
            return False
        try:
            stored = seen.remember(self.origin, size, note)
            seen.remember_roots(self.origin, roots)
        except (OSError, ValueError) as exc:
            self.report.add("warn", "history.seen", str(home.seen_dir()), f"not remembered: {exc}")
            return False
        self.report.add("info", "history.remembered", self.subject,
                        f"checkpoint of size {size} remembered in {stored.parent}")
        return True

    # -- the last full verify: what a fixity check reports ------------------------------------

    def last_full(self, case_id: str, have: int, root_at: RootAt) -> dict[str, object] | None:
        """The last full verify of this log by this verifier that passed, as the JSON report's
        ``lastFullVerify``, if it was of this case and of this very log up to its size (a
        record of another case, or of a log that differs at its size, is not this one's)."""
        try:
            where = str(seen.seen_folder(self.origin) / seen.FULL)
        except ValueError:  # an origin that names no folder: nothing was remembered for it
            where = str(home.seen_dir())
        record = self.full
        if record is None or record[0] != case_id or record[1] > have or (
                root_at(record[1]) != record[2]):
            self.report.add("warn", "history.fullVerify", where, "no full verify of this case "
                            "by this verifier is recorded: the records inside the sealed files "
                            "have not been checked here (run `prov verify` without --fixity "
                            "once)")
            return None
        _, size, root, at = record
        since = (f"; the {have - size} entries logged since were never fully verified here"
                 if have > size else "")
        self.report.add("info", "history.fullVerify", where, f"the last full verify of this "
                        f"case by this verifier passed at {at}, over the first {size} "
                        f"entries{since}")
        return {"at": at, "logSize": size, "logRoot": "sha256:" + root.hex()}

    def remember_full(self, case_id: str, size: int, root: bytes, at: str) -> None:
        """Record that a full verify of this case, whose log had ``root`` at ``size``, passed
        at ``at`` (the caller judged that it passed and that its history was remembered)."""
        record = {"at": at, "caseId": case_id, "logSize": size,
                  "logRoot": "sha256:" + root.hex()}
        try:
            seen.remember_full(self.origin, record)
        except (OSError, ValueError) as exc:
            self.report.add("warn", "history.seen", str(home.seen_dir()), f"not remembered: {exc}")

    def _load_full(self) -> tuple[str, int, bytes, str] | None:
        """(case id, log size, root, time) of the last full verify, None if none is kept."""
        try:
            doc = seen.load_full(self.origin)
        except ValueError:  # an origin that names no folder: said once, by _load_seen
            return None
        except (ProvError, OSError) as exc:
            self.report.add("warn", "history.seen", str(home.seen_dir()), f"unreadable: {exc}")
            return None
        if doc is None:
            return None
        case_id, size, root, at = (doc.get(k) for k in ("caseId", "logSize", "logRoot", "at"))
        if not (isinstance(case_id, str) and isinstance(size, int) and not isinstance(size, bool)
                and isinstance(at, str)
                and isinstance(root, str) and root.startswith("sha256:") and len(root) == 71):
            self.report.add("warn", "history.seen", str(home.seen_dir()), "unreadable: "
                            f"{seen.FULL} of this log is not a record of a full verify")
            return None
        try:
            return case_id, size, bytes.fromhex(root[7:]), at
        except ValueError:
            return None

    def _load_seen(self) -> Iterable[tuple[str, Checkpoint]]:
        try:
            return [(str(p), c) for p, c in seen.load_seen(self.origin)]
        except (ValueError, ProvError, OSError) as exc:
            self.report.add("warn", "history.seen", str(home.seen_dir()), f"unreadable: {exc}")
            return []

    def _load_roots(self) -> dict[int, bytes]:
        try:
            return seen.load_roots(self.origin)
        except ValueError:  # an origin that names no folder: said once, by _load_seen
            return {}
        except (ProvError, OSError) as exc:
            self.report.add("warn", "history.seen", str(home.seen_dir()), f"unreadable: {exc}")
            return {}
