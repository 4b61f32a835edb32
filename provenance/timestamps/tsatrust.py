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

import hashlib
import json
import shutil
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import certifi
from cryptography import x509

from provenance.base import home
from provenance.base.untrusted import is_regular, listdir, read_regular
from provenance.errors import UntrustedInputError
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


MAX_CHAIN_FILE = 256 << 10  # a TSA's chain is a few KiB
MAX_CASE_CHAINS = 16 << 20  # all of certs/: a case holds one chain per TSA (and renewal)


@dataclass(frozen=True)
class ChainFile:
    """One ``certs/<sha256>.pem`` as read: its certificates, or why none were taken."""

    name: str
    certs: tuple[x509.Certificate, ...] = ()
    problem: str | None = None  # not content-addressed, not PEM, over a bound
    found: str | None = None  # its sha256, when that is the problem


def iter_case_chains(certs_dir: Path) -> Iterator[ChainFile]:
    """The chains of a case's ``certs/`` (untrusted intermediates, never roots) in name order,
    read through ``untrusted.read_regular`` with a cap per file and in all. Each file's name
    must be the sha256 of its bytes (``stamping.store_chain``). A symlink, FIFO or folder is
    skipped here: the case layout names it (``file.symlink``, ``file.type``)."""
    total = 0
    for name in listdir(certs_dir):
        if not name.endswith(".pem") or not is_regular(certs_dir / name):
            continue
        if total > MAX_CASE_CHAINS:
            yield ChainFile(name, problem=f"not read: certs/ holds more than "
                            f"{MAX_CASE_CHAINS:,} bytes of chains")
            continue
        try:
            data = read_regular(certs_dir / name, MAX_CHAIN_FILE, what=f"certs/{name}")
        except UntrustedInputError as exc:
            if "larger than" in str(exc):
                yield ChainFile(name, problem=str(exc))
            continue  # replaced while we read: the layout or the next run says so
        total += len(data)
        digest = hashlib.sha256(data).hexdigest()
        if name != f"{digest}.pem":
            yield ChainFile(name, problem="its sha256 is not its name (certs/ is "
                            "content-addressed)", found=f"sha256:{digest}")
            continue
        try:
            yield ChainFile(name, tuple(x509.load_pem_x509_certificates(data)))
        except ValueError:
            yield ChainFile(name, problem="not a PEM certificate chain")


def load_case_certs(certs_dir: Path) -> list[x509.Certificate]:
    """Every certificate stored in the case: untrusted intermediates, never roots."""
    return [cert for chain in iter_case_chains(certs_dir) for cert in chain.certs]


def trust_tsa_root(path: Path) -> list[str]:
    """Copy the certificates of ``path`` into ``$PROV_HOME/tsa-roots/``; their fingerprints."""
    certs = load_certs(path)
    folder = home.ensure_private_dir(home.tsa_roots_dir())
    target = folder / f"{fingerprint(certs[0])[7:23]}.pem"
    shutil.copyfile(path, target)
    return [fingerprint(c) for c in certs]
