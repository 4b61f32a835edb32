"""Judging the custody lines a package carries, without the case they came from.

A package (WACZ, disclosure) holds some lines of a case's log, each with its RFC 9162
inclusion proof (section 2.1.3.2) against a signed checkpoint. The proven lines are judged in
sequence order by ``provenance.signing.entryjudge``, the same judge as a case's log: trust is
replayed
from the ``init`` line through the trust entries included (key-trusted, key-revoked, transfer,
accepted), anchored outside the package (``provenance.signing.trust``); lines out of sequence order
or repeated are failures. The checkpoint's note signature must be by a key trusted at the end.
Time-stamp tokens (RFC 3161) are judged with the verifier's TSA roots and the package's chains
as untrusted intermediates. Every outcome is a finding.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from cryptography import x509

from archive.errors import ProvError
from provenance.base import timefmt
from provenance.base.report import Report
from provenance.custody import checkpoint as cp
from provenance.custody import merkle
from provenance.errors import UntrustedRootError
from provenance.signing.entryjudge import EntryJudge
from provenance.signing.keys import PublicKey
from provenance.signing.statements import Entry
from provenance.signing.trust import Anchors
from provenance.timestamps.rfc3161 import TokenCheck, verify_stamp
from provenance.timestamps.tsatrust import TsaRoots
from provenance.verification.history import History
from provenance.verification.stamps import ChainLedger, failed_check

MAX_PROOF = 64  # an RFC 9162 audit path has at most one hash per level of a 2**64 tree


class PackageLog:
    """``kind`` names the findings: ``package.entries`` for a WACZ, ``disclosure.entries`` for a
    disclosure package (docs/FORMATS.md)."""

    def __init__(self, report: Report, anchors: Anchors, tsa_roots: TsaRoots,
                 certs: Sequence[x509.Certificate] = (), *, kind: str = "package") -> None:
        self.kind = kind
        self.report = report
        self.anchors = anchors
        self.tsa_roots = tsa_roots
        self.certs = list(certs)
        self.chains = ChainLedger()  # the package's chains against its tokens (certs.unused)
        self.judge = EntryJudge(report, entry_check=f"{kind}.entry")
        self.entries: list[Entry] = []
        self.checkpoint_ok = False

    @property
    def trusted(self) -> dict[str, PublicKey]:
        """The keys trusted after the last line the package carries."""
        return self.judge.trusted

    def check_identity(self, manifest: Mapping[str, Any], checkpoint: cp.Checkpoint,
                       tree_size: object, subject: str) -> None:
        """The manifest's unsigned fields must agree with what is signed: the checkpoint's
        origin and size, and the case id the origin is made of (``prov-case/<id>``)."""
        add, kind = self.report.add, self.kind
        if checkpoint.origin != manifest.get("origin"):
            add("fail", f"{kind}.origin", subject, "checkpoint of another log",
                expected=str(manifest.get("origin"))[:200], found=checkpoint.origin)
        if f"prov-case/{manifest.get('caseId')}" != checkpoint.origin:
            add("fail", f"{kind}.caseId", subject, "caseId is not the case whose log the "
                "checkpoint signs", expected=checkpoint.origin.removeprefix("prov-case/"),
                found=str(manifest.get("caseId"))[:80])
        if tree_size != checkpoint.size or isinstance(tree_size, bool):
            add("fail", f"{kind}.treeSize", subject, "treeSize is not the size of the signed "
                "checkpoint", expected=str(checkpoint.size), found=str(tree_size)[:40])

    def check_lines(self, data: bytes, proofs: Sequence[object],
                    checkpoint: cp.Checkpoint, subject: str) -> None:
        """Prove each line of ``data`` (lines ending in a newline) into the checkpoint, then
        judge them in sequence order. The lines are counted before any is taken apart, so a
        file of millions of short lines costs no list of them: only lines a proof places in
        the signed log are kept, and the proofs are a bounded document's."""
        add = self.report.add
        count = data.count(b"\n")
        if count != len(proofs):
            add("fail", f"{self.kind}.entries", subject, "log lines and proofs differ in number",
                expected=str(len(proofs)), found=str(count))
            return
        proven: list[tuple[int, bytes]] = []
        for number, (line, item) in enumerate(zip(_lines(data), proofs, strict=True), start=1):
            try:
                seq, path = _proof_item(item, checkpoint.size)
                merkle.verify_inclusion(merkle.leaf_hash(line), seq, checkpoint.size, path,
                                        checkpoint.root)
            except (ProvError, ValueError) as exc:
                add("fail", f"{self.kind}.entry", f"{subject} line {number}", str(exc))
                continue
            proven.append((seq, line))
        seqs = [seq for seq, _ in proven]
        if seqs != sorted(seqs):
            add("fail", "log.order", subject, "lines are not in sequence order (trust is "
                "replayed by sequence number, never by position in the file)")
        for seq, line in sorted(proven, key=lambda p: p[0]):  # stable: a repeat is refused
            judged = self.judge.judge(seq, line, f"{subject} entry {seq}")
            if judged.entry is not None:
                self.entries.append(judged.entry)
        if 0 not in seqs:
            add("fail", "log.init", subject, "the package carries no entry 0 (init): trust "
                "cannot be replayed from the founding key")
        self.judge.check_anchor(self.anchors, f"{subject} entry 0", "package")
        failed = self.report.findings_for(f"{self.kind}.entry") or [
            f for f in self.report.findings_for("log.order") if f.status == "fail"]
        if count and not failed:
            add("pass", f"{self.kind}.entries", subject, f"{count} custody entries signed and "
                f"proven in the log of size {checkpoint.size}")

    def check_checkpoint(self, note: bytes, checkpoint: cp.Checkpoint, subject: str) -> None:
        try:
            cp.verify_checkpoint(note, checkpoint.origin, self.trusted.values(), what=subject)
        except ProvError as exc:
            self.report.add("fail", "checkpoint.signature", subject, str(exc))
            return
        self.report.add("pass", "checkpoint", subject,
                        f"signed checkpoint of size {checkpoint.size}")
        self.checkpoint_ok = True

    def check_history(self, note: bytes, checkpoint: cp.Checkpoint,
                      since: Sequence[tuple[str, cp.Checkpoint]], *, remember: bool,
                      subject: str) -> None:
        """The package's checkpoint against those this verifier saw
        (``provenance.verification.history``):
        the package holds no more of the log than its lines, so only its own tree head is
        known. Remembered when it (``check_checkpoint``, called first) and the lines verified."""
        history = History(self.report, checkpoint.origin, since, subject=subject, package=True)
        history.judge(checkpoint.size,
                      lambda size: checkpoint.root if size == checkpoint.size else None)
        if remember and self.checkpoint_ok:
            history.remember(checkpoint.size, note, {checkpoint.size: checkpoint.root})

    def token(self, subject: str, token: bytes, stamped: bytes, tsa: str) -> TokenCheck | None:
        """One RFC 3161 token over ``stamped``: pass if its root is trusted, else warn/fail.
        Returns its check only when trusted: an untrusted time supports no finding."""
        try:
            check = verify_stamp(token, stamped, roots=self.tsa_roots.roots,
                                 untrusted=self.certs, require_trusted=False)
        except UntrustedRootError as exc:
            self.chains.unread += 1
            self.report.add("warn", "timestamp.root", subject, f"token from {tsa}: {exc}")
            return None
        except ProvError as exc:
            self.chains.unread += 1
            self.report.add("fail", failed_check(exc), subject, f"token from {tsa}: {exc}")
            return None
        self.chains.carried.add(check.chain_name)
        when = timefmt.format_time(check.gen_time)
        if check.trusted:
            self.report.add("pass", "timestamp", subject, f"stamped {when} by "
                            f"{check.tsa_name}, root {check.root_fingerprint} (trusted)")
        else:
            self.report.add("warn", "timestamp.root", subject, f"stamped {when} by "
                            f"{check.tsa_name}, but its root {check.root_fingerprint} is not "
                            "trusted by this verifier (--tsa-root, or `prov tsa trust ROOT.pem`)")
        return check if check.trusted else None


def _proof_item(item: object, size: int) -> tuple[int, list[bytes]]:
    """A manifest's ``{"seq": N, "proof": [hex, ...]}`` for a log of ``size`` entries."""
    if not isinstance(item, dict):
        raise ProvError("proof is not an object")
    seq, proof = item.get("seq"), item.get("proof")
    if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq < size:
        raise ProvError(f"seq {str(seq)[:20]!r} is not an entry of the log of size {size}")
    if not isinstance(proof, list) or len(proof) > MAX_PROOF or not all(
            isinstance(h, str) and len(h) == 64 for h in proof):
        raise ProvError(f"entry {seq}: proof is not a list of sha256 hex digests")
    return seq, [bytes.fromhex(h) for h in proof]


def _lines(data: bytes) -> Iterator[bytes]:
    """The newline-terminated lines of ``data``, one at a time (a trailing piece without a
    newline is not a line)."""
    start = 0
    while (end := data.find(b"\n", start)) != -1:
        yield data[start:end]
        start = end + 1
