"""Derived state in ``CASE/state/``: never trusted, checked before anything is signed over it.

Threat (docs/SECURITY.md, "Derived state"): ``state/`` (the tree cache, the dedup index, the
schedule state) is unsigned and writable by anyone who can write the case. Whatever in it can
change what the operator signs is checked against something signed first: the tree cache
against the operator's own last checkpoint or the log itself (``provenance.custody.log``), a dedup
match against the sealed original (``provenance.capture.dedup``), a source's previous fingerprint
against the sealed capture it names (``provenance.watch.schedule``). When it does not match, it is
rebuilt from the log and the operator is told: ``rebuilt`` logs a warning on the
``provenance.custody.derived`` logger, which the command line prints on stderr.

``SealedCaptures`` is the one check "this capture folder holds what a trusted key sealed for
this case": the seal verifies with a trusted key, names this case, folder and id, and every
sealed file has its sealed digest. It is made once per folder and run, then remembered.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import stat
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path

from archive.errors import ProvError
from provenance.base.digests import sha256_file
from provenance.base.untrusted import is_regular, read_regular
from provenance.custody.case import Case
from provenance.signing.dsse import parse_envelope, verify_envelope
from provenance.signing.keys import PublicKey
from provenance.signing.statements import IN_TOTO_PAYLOAD, CaptureSeal

LOG = logging.getLogger("provenance.custody.derived")
SEAL_NAME = "seal.dsse.json"
MAX_SEAL = 16 << 20


def make_way(path: Path, *, folder: bool = False) -> None:
    """Before prov writes derived state at ``path``: anything planted there that is not what
    prov writes (a folder where a file goes, a file where a folder goes, a symlink, a FIFO
    that would block a write forever) is moved aside, and removed when it can be."""
    try:
        mode = os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return
    if (stat.S_ISDIR(mode) if folder else stat.S_ISREG(mode)):
        return
    discard(path)


def discard(path: Path) -> None:
    """Remove whatever is at ``path``: moved aside first, so something too deep to remove
    (left for the operator) is never in the way of what replaces it."""
    if not os.path.lexists(path):
        return
    aside = path.with_name(f"{path.name}.discarded-{uuid.uuid4().hex}")
    os.replace(path, aside)
    if stat.S_ISDIR(os.lstat(aside).st_mode):
        with contextlib.suppress(OSError, RecursionError):
            shutil.rmtree(aside)
    else:
        aside.unlink()


def rebuilt(what: str, why: str) -> None:
    """Tell the operator that derived state did not match what is signed and was rebuilt."""
    LOG.warning("%s did not match the signed evidence (%s); rebuilt from the custody log. "
                "state/ is derived and unsigned: if nothing crashed, someone changed it",
                what, why)


def adopted_captures(case: Case) -> dict[str, str]:
    """Capture folders the log's capture entries say were sealed for another case (a fork's
    ``sealedFor``), by folder (entries parsed, not judged: verify judges them)."""
    from provenance.custody.log import iter_lines
    from provenance.signing.statements import Entry

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
    from provenance.signing.trust import Anchors
    from provenance.verification.case import CaseVerifier

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
            envelope = parse_envelope(read_regular(self.case.root / what, MAX_SEAL, what=what),
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
