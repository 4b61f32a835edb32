"""Verifying a bag that prov exported (``provenance.exports.bag``): the BagIt 1.0 manifests (RFC
8493 section 3), the DSSE signature over the tag manifest and its RFC 3161 tokens, and ``data/``
as the case it is, by the case verifier (trust replayed from the log, anchored outside).

The bag is hostile input like a case: manifest paths must be plain relative names under
``data/`` (or tag files), only regular files are opened (never symlinks), reads are bounded.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence, Set
from pathlib import Path
from typing import Literal

from cryptography import x509

from archive.errors import ProvError
from provenance.base.report import Finding, Report, Status
from provenance.base.untrusted import (
    is_regular,
    is_safe_name,
    iter_tree,
    open_regular,
    read_regular,
)
from provenance.custody.checkpoint import Checkpoint
from provenance.errors import UntrustedInputError, UntrustedRootError
from provenance.exports.bag import PAYLOAD_TYPE, SIGNATURE, TAG_FILES, TSA_FIELD
from provenance.exports.common import MAX_SMALL
from provenance.signing.dsse import parse_envelope, verify_envelope
from provenance.signing.trust import Anchors
from provenance.timestamps.rfc3161 import pem_file_name, verify_stamp
from provenance.timestamps.tsatrust import MAX_CHAIN_FILE, TsaRoots
from provenance.verification.case import CaseVerifier
from provenance.verification.layout import BAG, judge_layout
from provenance.verification.stamps import ChainLedger, failed_check

MAX_LINE = 64 << 10  # one manifest line: a digest, two spaces, a path
MAX_TOKEN = 256 << 10
ALGORITHMS = ("sha256", "sha512")
TSA_ID = re.compile(r"^[0-9a-f]{16}$")


def _read(path: Path, limit: int = MAX_SMALL) -> bytes:
    return read_regular(path, limit, what=path.name)


def _in_bag(finding: Finding) -> str:
    """The finding's place in the bag: a case path moves under ``data/``; a history label (a
    checkpoint in $PROV_HOME/seen, a --since file) names a file outside the bag, as given."""
    if finding.check.startswith("history.") and finding.subject != "custody/log.jsonl":
        return finding.subject
    return f"data/{finding.subject}"


class BagVerifier:
    def __init__(self, root: Path, anchors: Anchors, *, strict: bool = False,
                 tsa_roots: TsaRoots | None = None, remember: bool = True,
                 since: Sequence[tuple[str, Checkpoint]] = ()) -> None:
        self.root = root
        self.since = since
        self.anchors = anchors
        self.tsa_roots = tsa_roots or TsaRoots.collect(target=root)
        self.remember = remember
        self.report = Report(str(root), "bag", strict=strict)

    def run(self) -> Report:
        add = self.report.add
        judge_layout(self.root, self.report, BAG, "bag")
        try:
            declared = _read(self.root / "bagit.txt", 4096)
        except ProvError as exc:  # deleted: still a bag (targets.REMAINS), a damaged one
            add("fail", "bag.version", "bagit.txt", f"{exc} (the bag's BagIt declaration)")
        else:
            if b"BagIt-Version: 1.0" not in declared:
                add("fail", "bag.version", "bagit.txt", "not a BagIt 1.0 declaration")
        on_disk = {f"data/{e.rel}" for e in iter_tree(self.root / "data") if e.kind != "dir"}
        listed = self._check_manifest("manifest", payload=True, on_disk=on_disk)
        self._check_manifest("tagmanifest", payload=False, on_disk=frozenset())
        for name in sorted(on_disk - listed):
            add("fail", "bag.unlisted", name, "file in data/ that no manifest lists")
        verifier = CaseVerifier(self.root / "data", self.anchors, strict=self.report.strict,
                                since=self.since, remember=self.remember,
                                tsa_roots=self.tsa_roots, package=True)
        self.report.merge(verifier.run(), _in_bag)
        trusted = verifier.judge.trusted
        try:
            envelope = parse_envelope(_read(self.root / SIGNATURE), what=SIGNATURE)
            signer = verify_envelope(envelope, payload_type=PAYLOAD_TYPE, trusted=trusted,
                                     what=SIGNATURE)
            if envelope.payload != _read(self.root / "tagmanifest-sha256.txt"):
                raise ProvError(f"{SIGNATURE}: signs another tag manifest")
        except ProvError as exc:
            add("fail", "bag.signature", SIGNATURE, str(exc))
        else:
            add("pass", "bag.signature", SIGNATURE, f"tag manifest signed by {signer}")
            named = self._named_tsas()
            self._check_tokens(named, verifier.stamps.certs)
            self._check_expected_tokens(named)
        try:
            info = _read(self.root / "bag-info.txt").decode("utf-8", "replace")
        except ProvError as exc:
            add("fail", "bag.info", "bag-info.txt", str(exc))
            info = ""
        if "Prov-Verification: pass" not in info:
            add("warn", "export.allowFailed", "bag-info.txt", "exported with --allow-failed "
                "from a case that failed verification")
        return self.report

    def _check_manifest(self, kind: str, *, payload: bool, on_disk: Set[str]) -> set[str]:
        """Check both algorithms' manifests of ``kind``, streamed a line at a time; return
        the paths listed that are on disk (memory follows the bag's files, not a manifest an
        attacker made long)."""
        listed: set[str] = set()
        for algo in ALGORITHMS:
            name = f"{kind}-{algo}.txt"
            try:
                fd = open_regular(self.root / name, what=name)
            except UntrustedInputError as exc:
                self.report.add("fail", "bag.manifest", name, str(exc))
                continue
            bad = lines = repeated = 0
            hashed: set[str] = set()  # a file on disk, or a tag file: bounded by the bag
            with open(fd, "rb") as fh:
                while raw := fh.readline(MAX_LINE + 1):
                    lines += 1
                    path, verdict = self._check_line(raw, name, algo, payload, hashed)
                    bad += verdict == "bad"
                    repeated += verdict == "repeat"
                    if path is not None and path in on_disk:
                        listed.add(path)
                    if path is not None and (path in on_disk or not payload):
                        hashed.add(path)
            if repeated:  # a file hashed once per line would let a long manifest cost hours
                bad += 1
                self.report.add("fail", "bag.manifest", name, f"{repeated:,} lines list a file "
                                "an earlier line listed (a manifest lists each file once)")
            if not bad:
                self.report.add("pass", "bag.manifest", name, f"{lines} files match")
        return listed

    def _check_line(self, raw: bytes, name: str, algo: str, payload: bool, hashed: Set[str]
                    ) -> tuple[str | None, Literal["ok", "bad", "repeat"]]:
        """One manifest line: the path it lists (None if unsafe) and whether it matches, or
        "repeat" for a path already ``hashed`` (not hashed again)."""
        try:
            line = raw.decode().rstrip("\r\n")
        except UnicodeDecodeError:
            self.report.add("fail", "bag.manifest", name, "a line that is not UTF-8")
            return None, "bad"
        digest, _, path = line.partition("  ")
        ok_path = is_safe_name(path) and (
            path.startswith("data/") if payload else path in TAG_FILES)
        if not ok_path:
            self.report.add("fail", "bag.manifest", name, f"unsafe or unexpected path "
                            f"{path[:80]!r}")
            return None, "bad"
        if path in hashed:
            return path, "repeat"
        found = self._hash(path, algo)
        if found != digest.lower():
            self.report.add("fail", "bag.digest", path[:300], f"differs from {name}",
                            expected=f"{algo}:{digest[:200]}", found=f"{algo}:{found}")
            return path, "bad"
        return path, "ok"

    def _hash(self, path: str, algo: str) -> str | None:
        try:
            fd = open_regular(self.root / path, what=path)
        except UntrustedInputError:
            return None
        digest = hashlib.new(algo)
        with open(fd, "rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
        return digest.hexdigest()

    def _named_tsas(self) -> list[str] | None:
        """The TSA ids the signed bag-info.txt names (``Prov-Tagmanifest-TSAs``, bound by the
        tag manifest the signature covers); None if it has no such field (an older bag)."""
        try:
            info = _read(self.root / "bag-info.txt").decode("utf-8", "replace")
        except ProvError:
            return []  # bag.info says why; no token can be bound then
        # the first such line, found in place: a list of every line would cost memory in
        # proportion to how many an attacker wrote (16 MiB of short lines: some 300 MB)
        named = re.search(rf"(?:\A|[\r\n]){re.escape(TSA_FIELD)}:([^\r\n]*)", info)
        return [t for t in named.group(1).split() if TSA_ID.match(t)] if named else None

    def _check_expected_tokens(self, named: list[str] | None) -> None:
        """Each TSA the signed bag-info.txt names has its token beside the signature."""
        if named is None:
            self.report.add("info", "timestamp.expected", "bag-info.txt", f"no {TSA_FIELD} "
                            "field (a bag made by an older prov): a deleted tag manifest token "
                            "cannot be noticed")
            return
        for tsa in named:
            name = f"tagmanifest.{tsa}.tsr"
            if TSA_ID.match(tsa) and not is_regular(self.root / name):
                self.report.add("warn", "timestamp.missing", name, f"bag-info.txt names TSA "
                                f"{tsa[:16]}, whose token over the tag manifest signature is "
                                "missing (deleted, or the TSA failed at export)")

    def _bound(self, path: Path, named: list[str] | None) -> bool:
        """Is the tag-manifest token or chain ``path`` one the signed bag-info.txt names? One
        it does not is an added file (``timestamp.unlogged``): never read, never a pass. A bag
        of an older prov names none, so its tokens can only be warned about."""
        tsa = path.name.split(".")[1]
        if named is not None and tsa in named:
            return True
        self.report.add("fail" if named is not None else "warn", "timestamp.unlogged",
                        path.name, f"tag manifest token or chain of TSA {tsa[:16]}, which the "
                        f"signed bag-info.txt does not name ({TSA_FIELD})")
        return named is None

    def _check_tokens(self, named: list[str] | None,
                      case_certs: Sequence[x509.Certificate]) -> None:
        """The tag manifest's tokens, with the case's chains (``data/certs``, read and judged
        by the case verifier) and the chains beside them as untrusted intermediates; a chain
        beside them that no token carries is ``certs.unused`` (``stamps.ChainLedger``)."""
        chains = ChainLedger()
        certs = list(case_certs)
        for pem in sorted(p for p in self.root.glob("tagmanifest.*.pem") if self._bound(p, named)):
            try:
                data = _read(pem, MAX_CHAIN_FILE)
                certs += x509.load_pem_x509_certificates(data)
            except (ProvError, ValueError) as exc:
                self.report.add("fail", "bag.certs", pem.name, f"not a PEM certificate chain "
                                f"({exc})")
                continue
            if is_regular(pem.with_suffix(".tsr")):  # a missing token is timestamp.missing
                chains.hold(pem_file_name(data), pem.name)
        stamped = _read(self.root / SIGNATURE)
        for token in sorted(self.root.glob("tagmanifest.*.tsr")):
            if not self._bound(token, named):
                continue
            name = token.name
            try:
                check = verify_stamp(_read(token, MAX_TOKEN), stamped, roots=self.tsa_roots.roots,
                                     untrusted=certs, require_trusted=False)
            except UntrustedRootError as exc:
                chains.unread += 1
                self.report.add("warn", "timestamp.root", name, str(exc))
                continue
            except ProvError as exc:
                chains.unread += 1
                self.report.add("fail", failed_check(exc), name, str(exc))
                continue
            chains.carried.add(check.chain_name)
            status: Status = "pass" if check.trusted else "warn"
            self.report.add(status, "timestamp", name, f"tag manifest signature stamped "
                            f"{check.gen_time.isoformat()} by {check.tsa_name}, root "
                            f"{check.root_fingerprint}" + ("" if check.trusted else
                                                          " (not trusted by this verifier)"))
        chains.judge(self.report, complete=True, holder="the bag")
