"""Judging a case's ``keys/`` cache against the custody log (docs/FORMATS.md, "The case folder").

``keys/<64 hex>.pub`` holds the PEM (SubjectPublicKeyInfo) of each key the log names: the
founding key in the ``init`` entry and every key a ``key-trusted`` or ``transfer`` entry
carries, named by its key id. Verify never takes trust from it (``provenance.signing.trust``),
but a human may: it is where the README says a case's keys are. Threat (docs/SECURITY.md,
"Caches"): whoever can write the case replaces ``keys/<operator id>.pub`` with their own key,
or plants keys and garbage there, and a cache nobody checks passes it on. So every file there
must be, byte for byte, the PEM of a key the log names under that id; anything else prov never
writes is a failure (``keys.cache``): another key under the operator's id, a key under a name
that is not its id, garbage. The PEM of a well-formed key under its own id that the log does
not name is a warning: ``prov keys add`` caches the key before it appends the entry, so an
interrupted command leaves one (a crash must leave nothing verify takes for tampering), and
such a key is never trusted. A key the log names whose file is missing is no finding.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from archive.errors import ProvError
from provenance.base.report import Report
from provenance.base.untrusted import is_regular, listdir, read_regular
from provenance.errors import UntrustedInputError
from provenance.signing.keys import PublicKey

MAX_CACHED_KEY = 4 << 10  # an Ed25519 SPKI PEM is 113 bytes
MAX_KEY_FILES = 10_000  # past this, files are counted, not read
KEY_FILE = re.compile(r"([0-9a-f]{64})\.pub")  # the layout's name (layout.CASE)


def check_key_cache(keys_dir: Path, named: Mapping[str, PublicKey], report: Report,
                    *, prefix: str = "keys") -> None:
    """Judge every ``<64 hex>.pub`` in ``keys_dir`` against ``named`` (key id -> key: every
    key the log names). Other names and types are the layout's (``case.unexpected``)."""
    read = 0
    for name in listdir(keys_dir):
        match = KEY_FILE.fullmatch(name)
        if match is None or not is_regular(keys_dir / name):
            continue  # the layout judges other names and types
        subject, key_id = f"{prefix}/{name}", f"ed25519:{match.group(1)}"
        read += 1
        if read > MAX_KEY_FILES:
            report.add("fail", "keys.cache", subject, f"not read: keys/ holds more than "
                       f"{MAX_KEY_FILES:,} keys")
            continue
        try:
            data = read_regular(keys_dir / name, MAX_CACHED_KEY, what=subject)
        except UntrustedInputError as exc:
            report.add("fail", "keys.cache", subject, str(exc))
            continue
        key = named.get(key_id)
        if key is not None and data == key.pem():
            continue
        held = _held(data)
        if key is None and held == key_id and data == _pem_of(data):
            report.add("warn", "keys.cache", subject, "public key of a key the custody log "
                       "never names (left by an interrupted `prov keys add`, or added): not "
                       "trusted")
            continue
        report.add("fail", "keys.cache", subject, "is not the public key the custody log "
                   "names under this id" if key is not None else "is not the public key "
                   "its name says (prov writes the key whose id is the file name)",
                   expected=key_id, found=held)


def _held(data: bytes) -> str:
    """The id of the key ``data`` holds, or what it is instead."""
    try:
        return PublicKey.from_pem(data, source="keys/").key_id
    except ProvError:
        return "not an Ed25519 public key"


def _pem_of(data: bytes) -> bytes:
    """The PEM prov writes for the key in ``data`` (``data`` parses as one)."""
    return PublicKey.from_pem(data, source="keys/").pem()
