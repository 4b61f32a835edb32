"""Derived state in ``CASE/state/``: never trusted, checked before anything is signed over it.

Threat (docs/SECURITY.md, "Derived state"): ``state/`` (the tree cache, the dedup index, the
schedule state) is unsigned and writable by anyone who can write the case. Whatever in it can
change what the operator signs is checked against something signed first: the tree cache
against the operator's own last checkpoint or the log itself (``provenance.custody``), a dedup
match against the sealed original (``provenance.dedup``), a source's previous fingerprint
against the sealed capture it names (``provenance.schedule``). When it does not match, it is
rebuilt from the log and the operator is told: ``rebuilt`` logs a warning on the
``provenance.derived`` logger, which the command line prints on stderr.

``SealedCaptures`` is the one check "this capture folder holds what a trusted key sealed for
this case": the seal verifies with a trusted key, names this case, folder and id, and every
sealed file has its sealed digest. It is made once per folder and run, then remembered.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path

from archive.errors import ProvError
from provenance.case import Case
from provenance.digests import sha256_file
from provenance.keys import PublicKey
from provenance.signing import parse_envelope, verify_envelope
from provenance.statements import IN_TOTO_PAYLOAD, CaptureSeal
from provenance.untrusted import is_regular, read_regular

LOG = logging.getLogger("provenance.derived")
SEAL_NAME = "seal.dsse.json"
MAX_SEAL = 16 << 20


def rebuilt(what: str, why: str) -> None:
    """Tell the operator that derived state did not match what is signed and was rebuilt."""
    LOG.warning("%s did not match the signed evidence (%s); rebuilt from the custody log. "
                "state/ is derived and unsigned: if nothing crashed, someone changed it",
                what, why)


class SealedCaptures:
    """Which capture folders of a case hold exactly what a trusted key sealed for it."""

    def __init__(self, case: Case, trusted: Callable[[], Mapping[str, PublicKey]]) -> None:
        """``trusted`` gives the keys a seal may be signed by (asked once, when first needed)."""
        self.case = case
        self._trusted = trusted
        self._keys: Mapping[str, PublicKey] | None = None
        self._seals: dict[str, CaptureSeal | None] = {}

    def seal(self, capture_dir: str) -> CaptureSeal | None:
        """The seal of ``capture_dir`` if the folder is what it sealed, else None."""
        if capture_dir not in self._seals:
            self._seals[capture_dir] = self._check(capture_dir)
        return self._seals[capture_dir]

    def _check(self, capture_dir: str) -> CaptureSeal | None:
        folder = self.case.root / capture_dir
        if self._keys is None:
            self._keys = dict(self._trusted())
        try:
            data = read_regular(folder / SEAL_NAME, MAX_SEAL, what=f"{capture_dir}/{SEAL_NAME}")
            envelope = parse_envelope(data, what=capture_dir)
            verify_envelope(envelope, payload_type=IN_TOTO_PAYLOAD, trusted=dict(self._keys),
                            what=capture_dir)
            seal = CaptureSeal.parse(envelope.payload, what=capture_dir)
        except ProvError:
            return None
        if (seal.case_id != self.case.info.id or seal.capture_dir != capture_dir
                or seal.capture_id != Path(capture_dir).name):
            return None
        for subject in seal.subjects:
            path = folder / subject.name
            if not is_regular(path) or sha256_file(path) != subject.sha256:
                return None
        return seal
