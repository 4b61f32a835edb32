"""Verifying a WACZ that prov exported (``provenance.exports.wacz``), in place: every member is read
from the ZIP as a bounded stream through ``provenance.base.untrusted_zip``, nothing is unpacked
to disk.

Order: member names; ``datapackage-digest.json`` against ``datapackage.json`` and its P-384
signature (WebCrypto's raw r||s, SHA-256, over the UTF-8 ``sha256:<hex>`` string); the custody
lines and their proofs (``provenance.verification.packagelog``); the Ed25519 statement vouching
for the P-384 key; each capture's seal against its logged digest, its files (each WARC record
against its digests, its RFC 9162 leaf folded into the records root in the same pass), records
root and tokens; last, every member against its datapackage resource.

Threat (docs/SECURITY.md, "Hostile input"): ``datapackage.json`` is the attacker's until its
digest is checked, and lists what it likes: a member no seal names is hashed, never walked
record by record, so what it holds costs one pass and no memory.
"""

from __future__ import annotations

import hashlib
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from cryptography import x509

from archive.errors import NotATargetError, ProvError
from archive.warc.recordcheck import RecordCheck, iter_checks
from provenance.base import timefmt
from provenance.base.report import Report
from provenance.base.untrusted import b64decode, load_json
from provenance.base.untrusted_zip import member_problem, open_member, open_zip, read_member
from provenance.custody import checkpoint as cp
from provenance.custody import merkle
from provenance.errors import ZipDirectoryTooLarge, ZipMemberError
from provenance.exports.common import MAX_SMALL
from provenance.exports.wacz import MANIFEST, SCHEMA, SIGNER_PAYLOAD
from provenance.signing.dsse import parse_envelope, verify_envelope
from provenance.signing.p384 import P384PublicKey
from provenance.signing.statements import IN_TOTO_PAYLOAD, CaptureSeal, Entry
from provenance.signing.trust import Anchors
from provenance.timestamps.rfc3161 import pem_file_name
from provenance.timestamps.tsatrust import MAX_CASE_CHAINS, MAX_CHAIN_FILE, TsaRoots
from provenance.verification.packagelog import PackageLog

# what a malformed member or manifest field raises when read as the right type: a finding
MALFORMED = (ProvError, OSError, ValueError, KeyError, TypeError, AttributeError, IndexError,
             EOFError)
MEMBER = re.compile(r"^(archive|indexes|pages|prov)/[A-Za-z0-9._-]+$")
TOP = ("datapackage.json", "datapackage-digest.json")


class WaczVerifier:
    def __init__(self, path: Path, anchors: Anchors, *, strict: bool = False,
                 tsa_roots: TsaRoots | None = None, remember: bool = True,
                 since: Sequence[tuple[str, cp.Checkpoint]] = ()) -> None:
        self.path = path
        self.remember = remember
        self.since = since
        self.report = Report(str(path), "wacz", strict=strict)
        self.log = PackageLog(self.report, anchors, tsa_roots or TsaRoots.collect(target=path))
        self.infos: dict[str, zipfile.ZipInfo] = {}
        self.refused: set[str] = set()  # members reported as unreadable, once
        self.hashed: dict[str, tuple[bytes, int]] = {}  # member -> (sha256, size)
        self.record_checked: set[str] = set()
        self.signer_key: P384PublicKey | None = None
        self.case_id: object = None

    def run(self) -> Report:
        if self.path.is_dir():
            raise NotATargetError(f"{self.path}: a folder, not a WACZ (ZIP) file")
        try:
            zf = open_zip(self.path)
        except ZipDirectoryTooLarge as exc:
            self.report.add("fail", "wacz.member", "(central directory)", exc.reason)
            return self.report
        except ZipMemberError as exc:
            # taken for a WACZ (--as, its name, its end record): a damaged one, not "no target"
            self.report.add("fail", "wacz.zip", self.path.name, exc.reason)
            return self.report
        with zf:
            self.zf = zf
            self._members()
            package = self._guard("datapackage.json", self._check_package)
            manifest = self._guard(MANIFEST, self._load_manifest)
            if isinstance(manifest, dict):
                self._guard(MANIFEST, lambda: self._check_prov(manifest))
            if isinstance(package, dict):
                self._guard("datapackage.json", lambda: self._check_resources(package))
        return self.report

    def _guard(self, subject: str, step: Callable[[], object]) -> object:
        """One stage; a missing or malformed part is a failure finding, never a crash."""
        try:
            return step()
        except MALFORMED as exc:
            self.report.add("fail", "wacz.part", subject, f"cannot be checked: {exc}")
            return None

    def _read(self, name: str, limit: int = MAX_SMALL) -> bytes:
        info = self.infos.get(name)
        if info is None:
            raise ProvError(f"{name[:200]}: not in the WACZ")
        try:
            return read_member(self.zf, info, limit)
        except ZipMemberError as exc:
            self._unreadable(name, exc)
            raise

    def _members(self) -> None:
        for info in self.zf.infolist():
            name = info.filename
            if name.endswith("/"):  # a folder entry (ZipInfo.is_dir fails on an empty name)
                continue
            problem = member_problem(info)
            if problem is not None:
                self.refused.add(name)
                self.report.add("fail", "wacz.member", name, problem)
            elif name in self.infos:
                self.report.add("fail", "wacz.member", name, "member appears twice in the ZIP")
            elif not (MEMBER.match(name) or name in TOP):
                self.report.add("fail", "wacz.member", name, "member name prov never writes")
            else:
                self.infos[name] = info

    def _unreadable(self, name: str, exc: ZipMemberError) -> None:
        if name not in self.refused:
            self.refused.add(name)
            self.report.add("fail", "wacz.member", name, exc.reason)

    def _check_package(self) -> dict[str, Any]:
        add = self.report.add
        raw = self._read("datapackage.json")
        digest = load_json(self._read("datapackage-digest.json"),
                           what="datapackage-digest.json", limit=MAX_SMALL)
        if not isinstance(digest, dict):
            raise ProvError("datapackage-digest.json: not a JSON object")
        label = "sha256:" + hashlib.sha256(raw).hexdigest()
        if digest.get("hash") != label or digest.get("path") != "datapackage.json":
            add("fail", "wacz.digest", "datapackage-digest.json", "does not match "
                "datapackage.json", expected=label, found=str(digest.get("hash")))
        package = load_json(raw, what="datapackage.json", limit=MAX_SMALL)
        if not isinstance(package, dict):
            raise ProvError("datapackage.json: not a JSON object")
        signed = digest.get("signedData") or {}
        if not signed:
            add("fail", "wacz.signature", "datapackage-digest.json", "no signedData")
            return dict(package)
        key = P384PublicKey.from_b64(signed.get("publicKey"), what="signedData")
        try:
            signature = b64decode(signed.get("signature"), what="signedData.signature")
        except ProvError:
            signature = b""
        if signed.get("hash") != label or signed.get("created") != package.get("created"):
            add("fail", "wacz.signature", "datapackage-digest.json",
                "signedData names another hash or creation time", expected=label,
                found=str(signed.get("hash")))
        key.verify_raw(signature, str(signed.get("hash")).encode(), what="signedData")
        self.signer_key = key
        add("pass", "wacz.signature", "datapackage-digest.json",
            f"datapackage.json signed by P-384 key {key.key_id}")
        return dict(package)

    def _check_resources(self, package: dict[str, Any]) -> None:
        listed = {str(r["path"]): r for r in package.get("resources", [])}
        for name in sorted(set(self.infos) - set(listed) - set(TOP)):
            self.report.add("fail", "wacz.resource", name, "not listed in datapackage.json")
        bad = 0
        for name, resource in sorted(listed.items()):
            if name in self.refused:
                bad += 1  # reported as wacz.member already
                continue
            if name not in self.infos:
                bad += 1
                self.report.add("fail", "wacz.resource", name, "listed but not in the ZIP")
                continue
            if name.startswith("archive/") and self.infos[name].compress_type != zipfile.ZIP_STORED:
                self.report.add("warn", "wacz.compression", name, "WARC compressed again in the "
                                "ZIP: replay by range requests cannot read it")
            hashed = self._hash_member(name)
            if hashed is None:
                bad += 1
                continue
            digest, size = hashed
            if resource.get("hash") != "sha256:" + digest.hex() or resource.get("bytes") != size:
                bad += 1
                self.report.add("fail", "wacz.resource", name, "differs from datapackage.json",
                                expected=str(resource.get("hash")), found="sha256:" + digest.hex())
        if not bad:
            self.report.add("pass", "wacz.resources", "datapackage.json",
                            f"{len(listed)} files match their listed sha256 and size")

    def _hash_member(self, name: str) -> tuple[bytes, int] | None:
        """A member's sha256 and size, read once, in one streaming pass (no record work: only
        what a seal names gets that, in ``_check_warc``); None when it cannot be read."""
        if name not in self.hashed and name not in self.refused:
            digest, size = hashlib.sha256(), 0
            try:
                with open_member(self.zf, self.infos[name]) as fh:
                    while chunk := fh.read(1 << 20):
                        digest.update(chunk)
                        size += len(chunk)
            except ZipMemberError as exc:
                self._unreadable(name, exc)
                return None
            self.hashed[name] = (digest.digest(), size)
        return self.hashed.get(name)

    def _check_warc(self, name: str, tree: merkle.TreeBuilder) -> int | None:
        """Hash a sealed WARC member and check its records in one streaming pass, folding the
        records' RFC 9162 leaves into ``tree`` (memory O(log n), whatever the record count).
        The number of records, or None when they could not all be read."""
        count = 0
        try:
            with open_member(self.zf, self.infos[name]) as fh:
                hashing, checks = iter_checks(fh)
                for check in checks:
                    tree.append(check.leaf_hash)
                    count += 1
                    self._record_findings(name, check)
                self.hashed[name] = (hashing.hash.digest(), hashing.size)
        except ZipMemberError as exc:
            self._unreadable(name, exc)
            return None
        except ProvError as exc:
            self.report.add("fail", "warc.format", name, str(exc))
            self._hash_member(name)
            return None
        return count

    def _record_findings(self, name: str, check: RecordCheck) -> None:
        for label, result in (("block", check.block), ("payload", check.payload)):
            if result.status == "fail":
                self.report.add("fail", f"record.{label}Digest",
                                f"{name} @{check.head.offset} {check.head.record_id}",
                                f"{label} digest does not match the record",
                                expected=result.declared, found=result.computed)

    def _load_manifest(self) -> dict[str, Any]:
        doc = load_json(self._read(MANIFEST), what=MANIFEST, limit=MAX_SMALL)
        if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
            raise ProvError(f"not a {SCHEMA} manifest: the WACZ was not exported by prov")
        return doc

    def _once(self, names: Iterable[object], field: str) -> Iterator[str]:
        """Each member a manifest list names, once: the manifest is unsigned until its digest
        is checked, and a name repeated would make one member's work (a seal's signature and
        files, a chain, a token) be done again as many times (``wacz.part``, not judged again)."""
        seen: set[str] = set()
        repeated = 0
        for name in map(str, names):
            if name in seen:
                repeated += 1
                continue
            seen.add(name)
            yield name
        if repeated:
            self.report.add("fail", "wacz.part", MANIFEST, f"{field} names a member more than "
                            f"once ({repeated:,} repeats, not judged again): an export names "
                            "each once")

    def _check_prov(self, manifest: dict[str, Any]) -> None:
        self._read_chains(manifest)
        self.case_id = manifest.get("caseId")
        read = [self._guard("prov/log-entries.jsonl", lambda: self._check_log(manifest))]
        self._guard(str(manifest.get("signer")), lambda: self._check_signer(manifest))
        sealed: set[str] = set()
        captures: dict[str, Any] = {}
        for capture in manifest.get("captures", []):
            captures.setdefault(str(capture.get("seal")), capture)
        for seal_name in self._once((c.get("seal") for c in manifest.get("captures", [])),
                                    "captures"):
            capture = captures[seal_name]
            read.append(self._guard(seal_name, partial(self._check_capture, capture)))
            sealed |= set(captures[seal_name].get("files", {}).values())
        # the chains against the tokens, when every token was read (stamps.ChainLedger)
        self.log.chains.judge(self.report, complete=all(r is True for r in read),
                              holder="the WACZ")
        for name in sorted(n for n in self.infos if n.startswith("archive/")):
            if name not in sealed:
                self.report.add("fail", "wacz.unsealed", name, "WARC no exported seal names")
        verification = manifest.get("verification", {})
        if verification.get("result") != "pass":
            self.report.add("warn", "export.allowFailed", MANIFEST, "exported with "
                            "--allow-failed from a case that failed verification: "
                            + "; ".join(verification.get("failures", [])[:3]))

    def _read_chains(self, manifest: dict[str, Any]) -> None:
        """The TSA chains the manifest lists, each once, within the case's bounds: untrusted
        intermediates for every token, and held against the tokens as a case's ``certs/`` is
        (``stamps.ChainLedger``). One listed but not in the WACZ is named by the resource
        check (and a token that needs it fails); one that is not PEM is ``certs.chain``."""
        certs: list[x509.Certificate] = []
        total = 0
        for name in self._once(manifest.get("certs", []), "certs"):
            if name not in self.infos:
                continue
            try:
                data = self._read(name, MAX_CHAIN_FILE)
            except ZipMemberError:
                continue  # reported as wacz.member
            total += len(data)
            if total > MAX_CASE_CHAINS:
                self.report.add("fail", "certs.chain", name, f"not read: the WACZ's chains "
                                f"hold more than {MAX_CASE_CHAINS:,} bytes")
                break
            try:
                chain = x509.load_pem_x509_certificates(data)
            except ValueError as exc:
                self.report.add("fail", "certs.chain", name, f"not a PEM certificate chain "
                                f"({exc})")
                continue
            certs += chain
            self.log.chains.hold(pem_file_name(data), name)
        self.log.certs = certs

    def _check_log(self, manifest: dict[str, Any]) -> bool:
        log = manifest["log"]
        note = self._read(log["checkpoint"])
        checkpoint = cp.read_unverified(note, what=log["checkpoint"])
        self.log.check_identity(manifest, checkpoint, log.get("treeSize"), MANIFEST)
        self.log.check_lines(self._read(log["entries"]), log["proofs"], checkpoint,
                             log["entries"])
        self.log.check_checkpoint(note, checkpoint, log["checkpoint"])
        self.log.check_history(note, checkpoint, self.since, remember=self.remember,
                               subject=log["checkpoint"])
        tokens: dict[str, str] = {}
        for tsa, name in sorted(log.get("checkpointTokens", {}).items()):
            tokens.setdefault(str(name), tsa)
        for name in self._once((n for _, n in sorted(log.get("checkpointTokens", {}).items())),
                               "log.checkpointTokens"):
            self.log.token(name, self._read(name), note, f"TSA {tokens[name]}")
        return True

    def _check_signer(self, manifest: dict[str, Any]) -> None:
        name = str(manifest["signer"])
        envelope = parse_envelope(self._read(name), what=name)
        signer = verify_envelope(envelope, payload_type=SIGNER_PAYLOAD,
                                 trusted=self.log.trusted, what=name)
        doc = load_json(envelope.payload, what=name, limit=MAX_SMALL)
        if self.signer_key is None or doc.get("p384PublicKey") != self.signer_key.b64:
            self.report.add("fail", "wacz.signer", name, "vouches for another P-384 key than "
                            "the one that signed datapackage.json", found=str(doc.get("p384KeyId")))
            return
        self.report.add("pass", "wacz.signer", name, f"P-384 key {self.signer_key.key_id} "
                        f"vouched for by {signer}")

    def _check_capture(self, capture: dict[str, Any]) -> bool:
        add = self.report.add
        seal_name, capture_dir = str(capture["seal"]), str(capture["captureDir"])
        seal_rel = f"{capture_dir}/seal.dsse.json"
        data = self._read(seal_name)
        logged = [s for e in self.log.entries if e.action == "capture" for s in e.subjects
                  if s.name == seal_rel]
        if not logged or hashlib.sha256(data).digest() != logged[0].sha256:
            add("fail", "wacz.seal", seal_name, "no logged capture entry names this seal"
                if not logged else "seal differs from the one logged")
            return False
        envelope = parse_envelope(data, what=seal_name)
        verify_envelope(envelope, payload_type=IN_TOTO_PAYLOAD, trusted=self.log.trusted,
                        what=seal_name)
        seal = CaptureSeal.parse(envelope.payload, what=seal_name)
        if (seal.capture_dir, seal.capture_id) != (capture_dir, capture.get("captureId")):
            add("fail", "seal.binding", seal_name, "seal belongs to another capture",
                expected=f"{str(capture.get('captureId'))[:80]} at {capture_dir}",
                found=f"{seal.capture_id} at {seal.capture_dir}")
            return False
        if seal.case_id != self.case_id:
            add("fail", "seal.case", seal_name, "sealed for another case",
                expected=str(self.case_id)[:80], found=seal.case_id)
            return False
        add("pass", "seal.signature", seal_name, f"signed by {seal.operator}")
        self._check_sealed_files(capture, seal, seal_name)
        self._check_seal_tokens(capture, seal, seal_rel, data)
        return True

    def _check_named_chains(self, entry: Entry) -> None:
        """The chains a ``timestamp-added`` entry names beside its token are carried (never
        ``certs.unused``) and must be in the WACZ as in a case (``file.missing``)."""
        self.log.chains.carry_named(entry)
        for chain in entry.subjects[1:]:
            if f"{chain.sha256.hex()}.pem" not in self.log.chains.held:
                member = "prov/" + chain.name.replace("/", ".")[:200]
                self.report.add("fail", "file.missing", member,
                                f"named by entry {entry.seq} (timestamp-added), missing")

    def _check_sealed_files(self, capture: dict[str, Any], seal: CaptureSeal, where: str) -> None:
        files = capture.get("files", {})
        tree, ok = merkle.TreeBuilder(), True
        for subject in sorted(seal.subjects, key=lambda s: s.name):
            member = files.get(subject.name)
            if not isinstance(member, str) or member not in self.infos:
                ok = False
                self.report.add("fail", "file.digest", str(member or subject.name)[:200],
                                f"{subject.name} as sealed is missing or unreadable",
                                expected="sha256:" + subject.sha256.hex())
                continue
            if member in self.record_checked:
                ok = False
                self.report.add("fail", "wacz.member", member, "named by more than one sealed "
                                "file (an export names each file once)")
                continue
            self.record_checked.add(member)
            if subject.name in seal.records:
                count = self._check_warc(member, tree)
                ok = ok and count == seal.records[subject.name]
            digest = self._hash_member(member)
            if digest is None or digest[0] != subject.sha256:
                ok = False
                self.report.add("fail", "file.digest", member,
                                f"differs from {subject.name} as sealed, or is missing",
                                expected="sha256:" + subject.sha256.hex())
        if ok and tree.root() == seal.records_root:
            self.report.add("pass", "capture", where, f"{sum(seal.records.values())} records "
                            f"of capture {seal.capture_id} match the seal")
        elif ok:
            self.report.add("fail", "seal.recordsRoot", where, "records differ from those sealed")

    def _check_seal_tokens(self, capture: dict[str, Any], seal: CaptureSeal, seal_rel: str,
                           data: bytes) -> None:
        tokens, added, pending = capture.get("tokens", {}), set(), set()
        started = timefmt.parse_time(seal.started_at)
        for entry in self.log.entries:
            if str(entry.details.get("stamped")) != seal_rel:
                continue
            tsa = str(entry.details.get("tsa"))
            if entry.action == "timestamp-pending":
                pending.add(tsa)
            if entry.action != "timestamp-added" or not entry.subjects:
                continue
            added.add(tsa)
            self._check_named_chains(entry)
            name = tokens.get(entry.subjects[0].name.rsplit("/", 1)[-1], "")
            token = self._read(name) if name in self.infos else b""
            if hashlib.sha256(token).digest() != entry.subjects[0].sha256:
                self.report.add("fail", "file.digest", name or entry.subjects[0].name,
                                "token missing or differs from the one logged")
                continue
            check = self.log.token(name, token, data, tsa)
            if check is not None and check.gen_time < started:
                self.report.add("fail", "timestamp.backdated", name,
                                "token is older than the capture it stamps")
        capture_entry = next((e for e in self.log.entries if e.action == "capture" and any(
            s.name == seal_rel for s in e.subjects)), None)
        for tsa_id in (capture_entry.details.get("tsa", []) if capture_entry else []):
            stamped = {e.details.get("tsaId") for e in self.log.entries
                       if str(e.details.get("stamped")) == seal_rel}
            if tsa_id not in stamped:
                self.report.add("fail", "timestamp.missing", seal_rel,
                                f"stamped by TSA {tsa_id} but neither token nor pending entry")
        for tsa in sorted(pending - added):
            self.report.add("warn", "timestamp.pending", seal_rel, f"timestamp by {tsa} pending")
