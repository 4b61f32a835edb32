"""Verifying a selective-disclosure package on its own (see ``provenance.exports.disclosure``).

Order: every log line against the checkpoint (inclusion proofs, RFC 9162 2.1.3.2); trust by
replaying the included trust entries from ``init``, anchored outside; the checkpoint's
signature; the seal against the capture entry's digest and a trusted key; every disclosed
record against its digests and, by inclusion proof, the seal's records root; every withheld
record's leaf hash by its proof. Everything is a finding; nothing stops at the first failure.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from archive.errors import ProvError
from archive.warc.recordcheck import RecordCheck, iter_checks
from provenance.base import timefmt
from provenance.base.report import Report
from provenance.base.untrusted import open_regular, read_regular
from provenance.custody import checkpoint as cp
from provenance.custody import merkle
from provenance.custody.case import SEAL_NAME
from provenance.exports.common import MAX_SMALL
from provenance.exports.disclosure import load_manifest
from provenance.signing.dsse import parse_envelope, verify_envelope
from provenance.signing.statements import IN_TOTO_PAYLOAD, CaptureSeal
from provenance.signing.trust import Anchors
from provenance.timestamps.tsatrust import TsaRoots
from provenance.verification.layout import DISCLOSURE, judge_layout
from provenance.verification.packagelog import PackageLog
from provenance.verification.stamps import StampJudge

# the fields of a record row something signed binds: the seal (index, file: its per-file
# counts), the inclusion proof (leafHash, proof), and for an included record its own bytes
BOUND = frozenset({"index", "file", "leafHash", "included", "proof"})
SHOWN = BOUND | {"recordId", "type", "uri", "packageOffset"}
TOKEN_NAME = re.compile(r"seal\.[0-9a-f]{16}\.tsr")  # as layout.DISCLOSURE names a seal token
# what malformed fields of a manifest raise when read as the right type: a finding, not a crash
MALFORMED = (ProvError, OSError, ValueError, KeyError, TypeError, AttributeError, IndexError)


class DisclosureVerifier:
    def __init__(self, root: Path, anchors: Anchors, *, strict: bool = False,
                 tsa_roots: TsaRoots | None = None, remember: bool = True,
                 since: Sequence[tuple[str, cp.Checkpoint]] = ()) -> None:
        self.root = root
        self.remember = remember
        self.since = since
        self.anchors = anchors
        self.tsa_roots = tsa_roots or TsaRoots.collect(target=root)
        self.report = Report(str(root), "disclosure", strict=strict)
        self.log = PackageLog(self.report, anchors, self.tsa_roots, kind="disclosure")

    def run(self) -> Report:
        add = self.report.add
        judge_layout(self.root, self.report, DISCLOSURE, "disclosure")
        try:
            manifest = load_manifest(self.root)
            note = _read(self.root / "checkpoint")
            checkpoint = cp.read_unverified(note, what="checkpoint")
        except (ValueError, ProvError, OSError) as exc:
            add("fail", "disclosure.manifest", "disclosure.json", f"unreadable: {exc}")
            return self.report
        self.log.check_identity(manifest, checkpoint, manifest.get("treeSize"),
                                "disclosure.json")
        steps: list[tuple[str, Callable[[], object]]] = [
            ("log-entries.jsonl", lambda: self._check_entries(manifest, checkpoint)),
            ("checkpoint", lambda: self._check_checkpoint(note, checkpoint)),
        ]
        for subject, step in steps:
            self._guard(subject, step)
        seal = self._guard(SEAL_NAME, lambda: self._check_seal(manifest))
        if isinstance(seal, CaptureSeal):
            self._guard("records.warc.gz", lambda: self._check_records(manifest, seal))
            self._guard("seal tokens", lambda: self._check_tokens(manifest, seal))
        self._guard("seal tokens", lambda: self._check_unbound_tokens(manifest))
        return self.report

    def _check_unbound_tokens(self, manifest: dict[str, Any]) -> None:
        """A token file no logged ``timestamp-added`` entry of this seal names is an added
        file, as in a case (``timestamp.unlogged``): never judged, never a pass. Otherwise a
        planted token, from any TSA, would put its time into the report."""
        seal_rel = f"{manifest.get('captureDir')}/seal.dsse.json"
        named = {s.name.rsplit("/", 1)[-1] for e in self.log.entries
                 if e.action == "timestamp-added" and str(e.details.get("stamped")) == seal_rel
                 for s in e.subjects[:1]}
        for name in sorted(os.listdir(self.root)):
            if TOKEN_NAME.fullmatch(name) and name not in named:
                self.report.add("fail", "timestamp.unlogged", name, "token that no logged "
                                "timestamp-added entry of this seal names: an added file")

    def _guard(self, subject: str, step: Callable[[], object]) -> object:
        """Run one stage; a missing or malformed part is a failure finding, never a crash."""
        try:
            return step()
        except MALFORMED as exc:
            self.report.add("fail", "disclosure.part", subject, f"cannot be checked: {exc}")
            return None

    def _check_tokens(self, manifest: dict[str, Any], seal: CaptureSeal) -> None:
        seal_rel = f"{manifest.get('captureDir')}/seal.dsse.json"
        judge = StampJudge(self.root, self.report, self.tsa_roots)
        judge.check_chains()  # certs/ is the case's, content-addressed
        started = timefmt.parse_time(seal.started_at)
        data = _read(self.root / SEAL_NAME)
        for entry in self.log.entries:
            if entry.action == "capture" and any(s.name == seal_rel for s in entry.subjects):
                judge.capture_entry(entry, seal_rel)
            if str(entry.details.get("stamped")) != seal_rel:
                continue
            if entry.action == "timestamp-pending":
                judge.pending_entry(entry)
                continue
            if entry.action != "timestamp-added" or not entry.subjects:
                continue
            judge.carry_named(entry)
            token = entry.subjects[0]
            name = token.name.rsplit("/", 1)[-1]
            judge.added.add((seal_rel, str(entry.details.get("tsaId"))))
            try:
                found = hashlib.sha256(_read(self.root / name)).digest()
            except ProvError as exc:
                self.report.add("fail", "file.missing", name, f"token the log names: {exc}")
                continue
            if found != token.sha256:
                self.report.add("fail", "file.digest", name, "token differs from the one logged")
                continue
            check = judge.token(name, data, str(entry.details.get("tsa")))
            if check is not None and check.gen_time < started:
                self.report.add("fail", "timestamp.backdated", name,
                                "token is older than the capture it stamps")
        judge.finish()
        judge.check_carried(complete=True, holder="the package")

    def _check_entries(self, manifest: dict[str, Any], checkpoint: cp.Checkpoint) -> None:
        self.log.check_lines(_read(self.root / "log-entries.jsonl"), manifest.get("entries", []),
                             checkpoint, "log-entries.jsonl")

    def _check_checkpoint(self, note: bytes, checkpoint: cp.Checkpoint) -> None:
        self.log.check_checkpoint(note, checkpoint, "checkpoint")
        self.log.check_history(note, checkpoint, self.since, remember=self.remember,
                               subject="checkpoint")

    def _check_seal(self, manifest: dict[str, Any]) -> CaptureSeal | None:
        add = self.report.add
        seal_path = f"{manifest.get('captureDir')}/seal.dsse.json"
        logged = [s for e in self.log.entries if e.action == "capture" for s in e.subjects
                  if s.name == seal_path]
        data = _read(self.root / SEAL_NAME)
        if not logged:
            add("fail", "disclosure.seal", SEAL_NAME, "no logged capture entry names it")
            return None
        if hashlib.sha256(data).digest() != logged[0].sha256:
            add("fail", "file.digest", SEAL_NAME, "seal differs from the one logged",
                expected="sha256:" + logged[0].sha256.hex(),
                found="sha256:" + hashlib.sha256(data).hexdigest())
            return None
        try:
            envelope = parse_envelope(data, what=SEAL_NAME)
            verify_envelope(envelope, payload_type=IN_TOTO_PAYLOAD, trusted=self.log.trusted,
                            what=SEAL_NAME)
            seal = CaptureSeal.parse(envelope.payload, what=SEAL_NAME)
        except ProvError as exc:
            add("fail", "seal.signature", SEAL_NAME, str(exc))
            return None
        named = (manifest.get("captureId"), manifest.get("captureDir"))
        if named != (seal.capture_id, seal.capture_dir):
            add("fail", "seal.binding", "disclosure.json", "captureId and captureDir are not "
                "the sealed capture's", expected=f"{seal.capture_id} at {seal.capture_dir}",
                found=f"{str(named[0])[:80]} at {str(named[1])[:200]}")
            return None
        if seal.case_id != manifest.get("caseId"):
            add("fail", "seal.case", SEAL_NAME, "sealed for another case",
                expected=str(manifest.get("caseId"))[:80], found=seal.case_id)
            return None
        add("pass", "seal.signature", SEAL_NAME, f"signed by {seal.operator}")
        return seal

    def _check_records(self, manifest: dict[str, Any], seal: CaptureSeal) -> None:
        add = self.report.add
        size = sum(seal.records.values())
        if int(manifest.get("recordsTreeSize", -1)) != size:
            add("fail", "disclosure.records", "disclosure.json", "record count differs from "
                "the seal", expected=str(size), found=str(manifest.get("recordsTreeSize")))
            return
        listed = self._listed(manifest["records"], size)
        files = _files_by_index(seal)
        for index, row in listed.items():
            self._check_row_fields(index, row, files)
        included = sorted((int(r["packageOffset"]), i) for i, r in listed.items()
                          if r.get("included"))
        for (offset, first), (again, index) in itertools.pairwise(included):
            if offset == again:
                add("fail", "disclosure.records", "disclosure.json", f"records {first} and "
                    f"{index} name one record in the package (packageOffset {offset})")
        wanted = {offset for offset, _ in included}
        found: dict[int, RecordCheck] = {}  # listed records only: memory follows the manifest
        fd = open_regular(self.root / "records.warc.gz", what="records.warc.gz")
        with os.fdopen(fd, "rb") as fh:
            _, checks = iter_checks(fh)
            for record in checks:
                if record.head.offset in wanted:
                    found[record.head.offset] = record
                else:
                    add("fail", "disclosure.record", f"records.warc.gz @{record.head.offset}",
                        "record not listed in the manifest")
        seen_offsets = set()
        for offset, index in included:
            check = found.get(offset)
            where = f"records.warc.gz @{offset}"
            if check is None:
                add("fail", "disclosure.record", where, f"record {index} is missing")
                continue
            seen_offsets.add(offset)
            bad = [lbl for lbl, d in (("block", check.block), ("payload", check.payload))
                   if d.status == "fail"]
            if bad:
                add("fail", "record.digest", where, f"{', '.join(bad)} digest does not match "
                    f"({check.head.get('WARC-Target-URI')})")
            self._check_shown(index, listed[index], check, where)
            self._prove(index, check.leaf_hash, listed[index], size, seal.records_root, where)
        for index, row in listed.items():
            if not row.get("included"):
                self._prove(index, bytes.fromhex(row["leafHash"]), row, size, seal.records_root,
                            f"withheld record {index}")

    def _check_row_fields(self, index: int, row: dict[str, Any],
                          files: Callable[[int], str]) -> None:
        """A row holds only fields something signed binds (``BOUND``, and ``SHOWN`` for an
        included record), and its ``file`` is the sealed file the seal's per-file record
        counts put record ``index`` in."""
        extra = sorted(set(row) - (SHOWN if row.get("included") is True else BOUND))
        if extra:
            self.report.add("fail", "disclosure.records", "disclosure.json", f"record {index} "
                            f"carries fields nothing signed binds: {', '.join(extra)[:200]}")
        if row.get("file") != files(index):
            self.report.add("fail", "disclosure.records", "disclosure.json", f"record {index} "
                            "is not in the file its row names", expected=files(index),
                            found=str(row.get("file"))[:200])

    def _check_shown(self, index: int, row: dict[str, Any], check: RecordCheck,
                     where: str) -> None:
        """An included record's row says what the record's own headers say."""
        head = check.head
        actual = {"recordId": head.record_id, "type": head.warc_type,
                  "uri": head.get("WARC-Target-URI"), "leafHash": check.leaf_hash.hex()}
        for name, value in actual.items():
            if row.get(name) != value:
                self.report.add("fail", "disclosure.records", where, f"record {index}'s "
                                f"{name} in disclosure.json is not the record's", expected=
                                str(value), found=str(row.get(name))[:200])

    def _listed(self, rows: object, size: int) -> dict[int, dict[str, Any]]:
        """The manifest's record rows by index: each of 0..size-1 exactly once."""
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ProvError("records is not a list of objects")
        listed: dict[int, dict[str, Any]] = {}
        for row in rows:
            index = row.get("index")
            if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < size:
                self.report.add("fail", "disclosure.records", "disclosure.json", f"record index "
                                f"{str(index)[:20]!r} is not in the sealed capture of {size}")
            elif index in listed:
                self.report.add("fail", "disclosure.records", "disclosure.json",
                                f"record {index} is listed twice")
            else:
                listed[index] = row
        missing = size - len(listed)
        if missing:
            first = min(set(range(size)) - set(listed))
            self.report.add("fail", "disclosure.records", "disclosure.json", f"{missing} sealed "
                            f"records are not listed (the first is record {first})")
        return listed

    def _prove(self, index: int, leaf: bytes, row: dict[str, Any], size: int, root: bytes,
               where: str) -> None:
        try:
            proof = [bytes.fromhex(h) for h in row["proof"]]
            merkle.verify_inclusion(leaf, index, size, proof, root)
        except (ProvError, ValueError) as exc:
            self.report.add("fail", "disclosure.proof", where, str(exc))
            return
        self.report.add("pass", "disclosure.proof", where,
                        f"record {index} is in the sealed capture")


def _files_by_index(seal: CaptureSeal) -> Callable[[int], str]:
    """The sealed file holding record ``index``: files in name order, each holding as many
    records as the seal counts for it (the records root's leaf order)."""
    names = sorted(seal.records)
    ends = list(itertools.accumulate(seal.records[n] for n in names))
    return lambda index: names[bisect.bisect_right(ends, index)]


def _read(path: Path) -> bytes:
    return read_regular(path, MAX_SMALL, what=path.name)
