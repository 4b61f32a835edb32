"""What every hand-over package shares (docs/FORMATS.md, "Exports"): choosing captures and
the originals their revisits refer to, the verification gate, the custody lines and RFC 9162
inclusion proofs a package carries, and the ``export`` entry that logs it.

A case that fails verification is not exported unless the operator says ``--allow-failed``;
then the package carries the verdict and says so on its first page.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from archive.errors import IntegrityError, UsageError, WarcFormatError
from archive.warc.reader import WarcReader
from provenance.base.untrusted import load_json, open_regular, read_regular
from provenance.custody import merkle
from provenance.custody.case import SEAL_NAME, Case
from provenance.custody.checkpoint import read_unverified
from provenance.custody.log import (
    CustodyLog,
    NewEntry,
    latest_checkpoint,
    logged_captures,
    token_paths,
)
from provenance.custody.logfile import iter_lines
from provenance.custody.stamping import Stamper, checkpoint_stamper
from provenance.errors import UntrustedInputError
from provenance.signing.dsse import MAX_ENVELOPE, parse_envelope
from provenance.signing.entryjudge import TRUST_ACTIONS
from provenance.signing.keys import SigningKey
from provenance.signing.statements import CaptureSeal, Entry
from provenance.signing.trust import Anchors
from provenance.verification.case import CaseVerifier

SHOWN_FAILURES = 10
MAX_SMALL = 16 << 20  # a package's small file (manifest, seal, signature, token) as checked
MAX_SEEDS_BLOCK = 1 << 20


@dataclass(frozen=True)
class Verdict:
    """The case's verification when it was exported."""

    ok: bool
    counts: Mapping[str, int]
    failures: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {"result": "pass" if self.ok else "fail", "counts": dict(self.counts),
                "failures": list(self.failures)}

    @property
    def banner(self) -> str | None:
        """The warning a package exported with ``--allow-failed`` shows first."""
        if self.ok:
            return None
        return (f"WARNING: exported with --allow-failed from a case that FAILED verification "
                f"({self.counts.get('fail', 0)} failures). Do not rely on this package "
                "without re-verifying it.")


def gate(case: Case, allow_failed: bool, *, label: Path | None = None) -> Verdict:
    """Verify the case; ``IntegrityError`` if it fails and ``allow_failed`` is not given.
    ``label`` names the case in the message when ``case`` is a copy of it."""
    # the operator's own anchors; one that does not name the founder warns: the package's
    # recipient judges the anchor with theirs
    anchors = Anchors.collect((), (), target=case.root, allow_unanchored=True)
    report = CaseVerifier(case.root, anchors, remember=False).run()
    failed = [f"{f.subject}: {f.message}" for f in report.findings if f.status == "fail"]
    verdict = Verdict(report.ok, report.counts, tuple(failed[:SHOWN_FAILURES]))
    if not report.ok and not allow_failed:
        first = failed[0] if failed else "warnings under --strict"
        raise IntegrityError(f"{label or case.root}: the case fails verification ({len(failed)} "
                             f"failures; first: {first}); nothing exported",
                             hint="run `prov verify` to see every finding; --allow-failed "
                                  "exports anyway, marked as failed on its first page")
    return verdict


@dataclass(frozen=True)
class CaptureParts:
    """One logged capture's files, as its seal names them."""

    capture_id: str
    capture_dir: str
    folder: Path
    seal_bytes: bytes
    seal: CaptureSeal
    warcs: tuple[str, ...]  # seal subjects holding records, in name order
    extras: tuple[str, ...]  # other sealed files (the CDXJ index)
    tokens: tuple[str, ...]  # seal.<tsa>.tsr beside the seal

    @property
    def seal_rel(self) -> str:
        return f"{self.capture_dir}/{SEAL_NAME}"

    def open(self, name: str) -> BinaryIO:
        """One of the capture's files, opened as untrusted input (a regular file, no
        symlink followed): a case exported with --allow-failed may hold anything."""
        fd = open_regular(self.folder / name, what=f"{self.capture_dir}/{name}")
        return os.fdopen(fd, "rb")


def capture_parts(case: Case, capture_dir: str) -> CaptureParts:
    folder = case.root / capture_dir
    data = read_regular(folder / SEAL_NAME, MAX_ENVELOPE, what=f"{capture_dir}/{SEAL_NAME}")
    seal = CaptureSeal.parse(parse_envelope(data, what=SEAL_NAME).payload, what=SEAL_NAME)
    names = sorted(s.name for s in seal.subjects)
    return CaptureParts(seal.capture_id, capture_dir, folder, data, seal,
                        tuple(n for n in names if n in seal.records),
                        tuple(n for n in names if n not in seal.records),
                        tuple(sorted(p.name for p in folder.glob("seal.*.tsr"))))


def select(case: Case, ids: Sequence[str]) -> list[CaptureParts]:
    """The captures named by ``ids`` (unique prefixes; all when empty), in log order, and
    the captures holding the originals that their revisit records refer to."""
    logged = logged_captures(case)
    if not logged:
        raise UsageError(f"{case.root}: the case holds no capture to export")
    chosen = logged if not ids else []
    for given in ids:
        matches = [c for c in logged if c.capture_id.startswith(given.lower())]
        if len(matches) != 1:
            raise UsageError(f"--capture {given!r}: {len(matches)} captures match "
                             "(give more of the id; `prov captures list` shows them)")
        if matches[0] not in chosen:
            chosen.append(matches[0])
    parts = {c.capture_dir: capture_parts(case, c.capture_dir) for c in chosen}
    _add_revisit_origins(case, [c.capture_dir for c in logged], parts)
    order = [c.capture_dir for c in logged]
    return sorted(parts.values(), key=lambda p: order.index(p.capture_dir))


def _record_refs(parts: CaptureParts) -> tuple[set[str], set[str]]:
    """(record ids in the capture, ids its revisit records refer to)."""
    ids, refers = set(), set()
    for name in parts.warcs:
        with parts.open(name) as fh, contextlib.suppress(WarcFormatError):
            for head in WarcReader(fh):  # a damaged WARC (--allow-failed): what can be read
                ids.add(head.record_id)
                target = head.get("WARC-Refers-To")
                if head.warc_type == "revisit" and target:
                    refers.add(target.strip())
    return ids, refers


def _add_revisit_origins(case: Case, logged: Sequence[str], parts: dict[str, CaptureParts]
                         ) -> None:
    have: set[str] = set()
    wanted: set[str] = set()
    for p in parts.values():
        ids, refers = _record_refs(p)
        have |= ids
        wanted |= refers
    for capture_dir in logged:
        if not wanted - have:
            return
        if capture_dir in parts:
            continue
        candidate = capture_parts(case, capture_dir)
        ids, refers = _record_refs(candidate)
        if ids & (wanted - have):
            parts[capture_dir] = candidate
            have |= ids
            wanted |= refers


def capture_seeds(capture: CaptureParts) -> list[str]:
    """The URLs as given to the capture (its seed-list metadata record)."""
    for warc in capture.warcs[:1]:
        with capture.open(warc) as fh:
            return seeds_in(fh, capture.capture_id)
    return []


def seeds_in(fh: BinaryIO, capture_id: str) -> list[str]:
    """The seeds of capture ``capture_id`` in its first WARC, read from ``fh``; none when the
    record is missing, damaged or not the JSON prov writes."""
    want = f"urn:prov:seeds:{capture_id}"
    with contextlib.suppress(WarcFormatError):
        reader = WarcReader(fh)
        for head in reader:
            if head.warc_type == "metadata" and head.get("WARC-Target-URI") == want:
                block = bytearray()
                for chunk in reader.iter_block(1 << 16):
                    block += chunk
                    if len(block) > MAX_SEEDS_BLOCK:
                        return []
                try:
                    doc = load_json(bytes(block), what=want, limit=MAX_SEEDS_BLOCK)
                except UntrustedInputError:
                    return []
                seeds = doc.get("seeds") if isinstance(doc, dict) else None
                return [str(s) for s in seeds] if isinstance(seeds, list) else []
    return []


@dataclass(frozen=True)
class LogExtract:
    """The custody lines a package needs, with inclusion proofs to a signed checkpoint."""

    checkpoint: bytes
    size: int
    lines: tuple[bytes, ...]
    proofs: tuple[dict[str, Any], ...]  # {"seq": n, "proof": [hex, ...]}
    checkpoint_tokens: tuple[Path, ...]
    entries: tuple[Entry, ...]


def extract_log(case: Case, capture_dirs: Sequence[str]) -> LogExtract:
    """Trust entries and every entry about the captures, up to the latest checkpoint."""
    note = latest_checkpoint(case)
    size = read_unverified(note, what="checkpoint").size
    prefixes = tuple(d + "/" for d in capture_dirs)
    tree = CustodyLog(case).tree()
    lines, proofs, entries = [], [], []
    try:
        prefix = merkle.Prefix(tree, size)
        for seq, line in enumerate(iter_lines(case.log_path)):
            if seq >= size:
                break
            entry = Entry.parse(parse_envelope(line, what="entry").payload, what="entry")
            about = any(s.name.startswith(prefixes) for s in entry.subjects)
            if entry.action in TRUST_ACTIONS or about:
                lines.append(line)
                entries.append(entry)
                proofs.append({"seq": seq, "proof": [
                    h.hex() for h in merkle.inclusion_proof(seq, prefix)]})
    finally:
        tree.close()
    return LogExtract(note, size, tuple(lines), tuple(proofs), tuple(token_paths(case, size)),
                      tuple(entries))


def log_export(case: Case, stamper: Stamper | None, key: SigningKey, at: datetime,
               details: Mapping[str, Any]) -> None:
    """Append the ``export`` entry (and a checkpoint, stamped when TSAs are configured).
    It names no subjects: the package lies outside the case, bound by digests in details."""
    with case.lock():
        CustodyLog(case, checkpoint_stamper(case, stamper)).append(
            [NewEntry("export", (), details)], key, at)
