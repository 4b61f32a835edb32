"""Which time-stamp authorities' roots a verifier trusts (RFC 3161 section 2.4.2 leaves the
trust anchors to the verifier; so does prov).

Roots come from ``--tsa-root PEM``, from the user's ``$PROV_HOME/tsa-roots/``, or from the
pins that ship with prov (``provenance/data/tsa-pins.json``): sha256 fingerprints of the roots
of well-known public TSAs, matched against certificates from the certifi bundle. Chains stored
in a case are never roots: they are untrusted intermediates, and no root is read from a file
inside the target being verified (``provenance.signing.anchorpaths``). The certifi bundle cannot add
a root: only certificates whose fingerprint is pinned are taken from it.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import certifi
from cryptography import x509

from provenance.base import home
from provenance.signing.anchorpaths import home_files, named_file
from provenance.timestamps.rfc3161 import fingerprint, load_certs


def pins() -> list[dict[str, Any]]:
    data = resources.files("provenance").joinpath("data/tsa-pins.json").read_text()
    return list(json.loads(data)["pins"])


@dataclass(frozen=True)
class TsaRoots:
    roots: tuple[x509.Certificate, ...]

    @classmethod
    def collect(cls, given: Sequence[Path] = (), *, target: Path | None) -> TsaRoots:
        """The roots for verifying ``target``: ``given`` (``--tsa-root`` files), the user's
        store, the pins. None is read from inside ``target``."""
        roots: list[x509.Certificate] = []
        for path in given:
            roots += load_certs(named_file(path, target, "--tsa-root"))
        for path in home_files(home.tsa_roots_dir(), ".pem", target):
            roots += load_certs(path)
        pinned = {p["sha256"] for p in pins()}
        with warnings.catch_warnings():  # certifi holds a root with a negative serial
            warnings.simplefilter("ignore")
            bundle = x509.load_pem_x509_certificates(Path(certifi.where()).read_bytes())
        roots += [c for c in bundle if fingerprint(c)[7:] in pinned]
        return cls(tuple(roots))


def load_case_certs(certs_dir: Path) -> list[x509.Certificate]:
    """Every certificate stored in the case: untrusted intermediates, never roots."""
    certs: list[x509.Certificate] = []
    if not certs_dir.is_dir() or certs_dir.is_symlink():
        return certs
    for name in sorted(os.listdir(certs_dir)):
        path = certs_dir / name
        if name.endswith(".pem") and path.is_file() and not path.is_symlink():
            try:
                certs += load_certs(path)
            except Exception:  # noqa: S112 - a bad cache file is skipped; verify reports it
                continue
    return certs


def trust_tsa_root(path: Path) -> list[str]:
    """Copy the certificates of ``path`` into ``$PROV_HOME/tsa-roots/``; their fingerprints."""
    certs = load_certs(path)
    folder = home.ensure_private_dir(home.tsa_roots_dir())
    target = folder / f"{fingerprint(certs[0])[7:23]}.pem"
    shutil.copyfile(path, target)
    return [fingerprint(c) for c in certs]
