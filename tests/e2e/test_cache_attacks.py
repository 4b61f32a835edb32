"""A case's caches under attack (issue 14, points 1 and 4): ``certs/`` and ``keys/`` are never
trusted, but what is planted there is reported, and reading it is bounded.

Each test changes a copy of ``test_tamper``'s sealed case and runs ``prov verify`` as an
auditor (an empty ``$PROV_HOME``, ``--trust``), asserting the exit code, the finding's name
and place, and for the planted certificates the peak resident memory.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import test_tamper
from helpers import home_env, run_measured, verify_at
from helpers import run_prov_at as run_prov
from test_tamper import SealedCase, fails
from tsa import LocalTSA

from provenance.signing.keys import SigningKey
from provenance.timestamps.tsatrust import MAX_CHAIN_FILE

sealed = test_tamper.sealed
copy = test_tamper.copy
auditor_home = test_tamper.auditor_home
MEMORY_BOUND = 200 << 20


def verify(home: Path, sealed: SealedCase, case: Path) -> tuple[int, dict[str, Any]]:
    return verify_at(home, case, "--trust", sealed.public)


def findings(report: dict[str, Any], check: str, subject: str) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if (f["check"], f["subject"]) == (check, subject)]


def operator_key_file(sealed: SealedCase, case: Path) -> Path:
    return case / "keys" / f"{sealed.key_id.split(':', 1)[1]}.pub"


def test_planted_certificates_are_reported_in_bounded_memory(
    sealed: SealedCase, copy: Path, auditor_home: Path
) -> None:
    """200 MB of well-formed chains, each under its own sha256 (so content-addressing alone
    does not refuse them): all of them used to be loaded (some 500 MB resident) and none was
    reported. Now at most 16 MiB is read, and the rest is a finding."""
    pem = LocalTSA().root_pem
    copies = (MAX_CHAIN_FILE - 64) // len(pem)
    certs = copy / "certs"
    certs.mkdir(exist_ok=True)
    for i in range((200 << 20) // (copies * len(pem))):
        body = b"# %d\n" % i + pem * copies
        (certs / f"{hashlib.sha256(body).hexdigest()}.pem").write_bytes(body)
    result, peak = run_measured("verify", str(copy), "--json", "--trust", str(sealed.public),
                                env=home_env(auditor_home))
    assert result.returncode == 3, result.stderr
    report = json.loads(result.stdout)
    chains = [f for f in fails(report) if f["check"] == "certs.chain"]
    assert chains and all(f["subject"].startswith("certs/") for f in chains)
    assert "holds more than 16,777,216 bytes of chains" in chains[0]["message"]
    assert peak < MEMORY_BOUND, f"{peak >> 20} MiB"


def test_a_replaced_operator_key_fails(
    sealed: SealedCase, copy: Path, auditor_home: Path, tmp_path: Path
) -> None:
    """keys/<operator id>.pub holding the attacker's key passed --strict: a human reading the
    cache would take the attacker's key for the operator's."""
    other = SigningKey.generate("attacker")
    target = operator_key_file(sealed, copy)
    target.write_bytes(other.public.pem())
    code, report = verify(auditor_home, sealed, copy)
    assert code == 3
    [finding] = findings(report, "keys.cache", f"keys/{target.name}")
    assert finding["status"] == "fail" and finding["found"] == other.public.key_id
    assert finding["expected"] == sealed.key_id


def test_garbage_in_the_key_cache_fails(
    sealed: SealedCase, copy: Path, auditor_home: Path
) -> None:
    planted = copy / "keys" / ("ab" * 32 + ".pub")
    planted.write_bytes(b"not a key\n")
    code, report = verify(auditor_home, sealed, copy)
    assert code == 3
    [finding] = findings(report, "keys.cache", f"keys/{planted.name}")
    assert finding["status"] == "fail" and finding["found"] == "not an Ed25519 public key"


def test_a_key_under_another_keys_name_fails(
    sealed: SealedCase, copy: Path, auditor_home: Path
) -> None:
    other = SigningKey.generate("attacker")
    planted = copy / "keys" / ("cd" * 32 + ".pub")
    planted.write_bytes(other.public.pem())
    code, report = verify(auditor_home, sealed, copy)
    assert code == 3
    [finding] = findings(report, "keys.cache", f"keys/{planted.name}")
    assert finding["status"] == "fail" and "its name says" in finding["message"]


def test_a_well_formed_key_the_log_never_names_is_a_warning(
    sealed: SealedCase, copy: Path, auditor_home: Path
) -> None:
    """What an interrupted `prov keys add` leaves (the key is cached before its entry is
    appended): never trusted, reported, and no failure (a crash is not tampering)."""
    other = SigningKey.generate("newcomer")
    planted = copy / "keys" / f"{other.public.key_id.split(':', 1)[1]}.pub"
    planted.write_bytes(other.public.pem())
    code, report = verify(auditor_home, sealed, copy)
    assert code == 0, fails(report)
    [finding] = findings(report, "keys.cache", f"keys/{planted.name}")
    assert finding["status"] == "warn" and "never names" in finding["message"]
    result = run_prov(auditor_home, "verify", copy, "--trust", sealed.public, "--strict")
    assert result.returncode == 3, result.stdout


def test_a_chain_no_token_carries_is_a_warning(
    sealed: SealedCase, copy: Path, auditor_home: Path
) -> None:
    """A well-formed chain under its own sha256 passed silently: content-addressing cannot
    tell an added file. No token of the case carries it and no entry names it: a warning
    (an interrupted command leaves one; it can only add untrusted intermediates)."""
    pem = LocalTSA().root_pem
    planted = copy / "certs" / f"{hashlib.sha256(pem).hexdigest()}.pem"
    planted.parent.mkdir(exist_ok=True)
    planted.write_bytes(pem)
    code, report = verify(auditor_home, sealed, copy)
    assert code == 0, fails(report)
    [finding] = findings(report, "certs.unused", f"certs/{planted.name}")
    assert finding["status"] == "warn"
    result = run_prov(auditor_home, "verify", copy, "--trust", sealed.public, "--strict")
    assert result.returncode == 3, result.stdout
