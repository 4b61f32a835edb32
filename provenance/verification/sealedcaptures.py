"""Which capture folders of a case hold exactly what a trusted key sealed for it.

Threat (docs/SECURITY.md, "Derived state"): a capture folder is writable by anyone who can
write the case. Before a capture's content is reused (a dedup original, a source's previous
fingerprint, a repaired seal), ``SealedCaptures`` checks the seal verifies with a trusted key,
names this case (or the case a fork's ``sealedFor`` names), this folder and this id, and that
every sealed file has its sealed digest. It is made once per folder and run, then remembered.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from archive.errors import ProvError
from provenance.base.digests import sha256_file
from provenance.base.untrusted import is_regular, read_regular
from provenance.custody.case import SEAL_NAME, Case
from provenance.custody.logfile import iter_lines
from provenance.signing.dsse import MAX_ENVELOPE, parse_envelope, verify_envelope
from provenance.signing.keys import PublicKey
from provenance.signing.statements import IN_TOTO_PAYLOAD, CaptureSeal, Entry
from provenance.signing.trust import Anchors
from provenance.verification.case import CaseVerifier


def adopted_captures(case: Case) -> dict[str, str]:
    """Capture folders the log's capture entries say were sealed for another case (a fork's
    ``sealedFor``), by folder (entries parsed, not judged: verify judges them)."""
    out = {}
    for line in iter_lines(case.log_path):
        try:
            entry = Entry.parse(parse_envelope(line, what="log").payload, what="log")
        except (ProvError, ValueError):
            continue
        folder, sealed_for = entry.details.get("captureDir"), entry.details.get("sealedFor")
        if entry.action == "capture" and isinstance(folder, str) and isinstance(sealed_for, str):
            out[folder] = sealed_for
    return out


def log_trusted_keys(case: Case) -> dict[str, PublicKey]:
    """The keys the case's own log trusts after its last entry (replayed, signatures checked;
    the rest of the log is verify's to judge)."""
    return CaseVerifier(case.root, Anchors(), remember=False).trusted_now(case)


class SealedCaptures:
    """Which capture folders of a case hold exactly what a trusted key sealed for it."""

    def __init__(self, case: Case, own: Mapping[str, PublicKey],
                 everyone: Callable[[], Mapping[str, PublicKey]]) -> None:
        """A seal may be signed by one of ``own`` (the operator's keys: no cost) or of
        ``everyone`` (the keys the log trusts: replayed once, when first needed)."""
        self.case = case
        self._own = dict(own)
        self._everyone = everyone
        self._keys: dict[str, PublicKey] | None = None
        self._seals: dict[str, CaptureSeal | None] = {}
        self._adopted: dict[str, str] | None = None

    def seal(self, capture_dir: str) -> CaptureSeal | None:
        """The seal of ``capture_dir`` if the folder is what it sealed, else None."""
        if capture_dir not in self._seals:
            self._seals[capture_dir] = self._check(capture_dir)
        return self._seals[capture_dir]

    def _signed(self, capture_dir: str) -> CaptureSeal | None:
        what = f"{capture_dir}/{SEAL_NAME}"
        try:
            envelope = parse_envelope(read_regular(self.case.root / what, MAX_ENVELOPE, what=what),
                                      what=what)
        except ProvError:
            return None
        for keys in (self._own, None):
            if keys is None:
                if self._keys is None:
                    self._keys = dict(self._everyone())
                keys = self._keys
            try:
                verify_envelope(envelope, payload_type=IN_TOTO_PAYLOAD, trusted=keys, what=what)
                return CaptureSeal.parse(envelope.payload, what=what)
            except ProvError:
                continue
        return None

    def _sealed_for(self, capture_dir: str) -> str | None:
        if self._adopted is None:
            self._adopted = adopted_captures(self.case)
        return self._adopted.get(capture_dir)

    def _check(self, capture_dir: str) -> CaptureSeal | None:
        seal = self._signed(capture_dir)
        if seal is None or seal.capture_dir != capture_dir or seal.capture_id != Path(
                capture_dir).name:
            return None
        if seal.case_id != self.case.info.id and seal.case_id != self._sealed_for(capture_dir):
            return None
        folder = self.case.root / capture_dir
        for subject in seal.subjects:
            path = folder / subject.name
            if not is_regular(path) or sha256_file(path) != subject.sha256:
                return None
        return seal
