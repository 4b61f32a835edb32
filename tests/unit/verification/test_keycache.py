"""provenance.verification.keycache: every keys/<hex>.pub is the exact PEM of the key the log
names under that id; anything prov never writes fails, a well-formed unnamed key warns."""

from __future__ import annotations

import os
from pathlib import Path

from provenance.base.report import Report
from provenance.signing.keys import PublicKey, SigningKey
from provenance.verification.keycache import check_key_cache


def judged(keys: Path, named: dict[str, PublicKey]) -> set[tuple[str, str, str]]:
    report = Report(str(keys), "case")
    check_key_cache(keys, named, report)
    return {(f.status, f.subject, str(f.found)) for f in report.findings}


def file_of(keys: Path, key: PublicKey) -> Path:
    return keys / f"{key.key_id.split(':', 1)[1]}.pub"


def test_the_cache_prov_writes_has_no_findings(tmp_path: Path) -> None:
    operator = SigningKey.generate("operator").public
    file_of(tmp_path, operator).write_bytes(operator.pem())
    assert judged(tmp_path, {operator.key_id: operator}) == set()
    assert judged(tmp_path / "missing", {operator.key_id: operator}) == set()


def test_what_prov_never_writes_fails(tmp_path: Path) -> None:
    operator, attacker = (SigningKey.generate(n).public for n in ("operator", "attacker"))
    replaced = file_of(tmp_path, operator)
    replaced.write_bytes(attacker.pem())  # the attacker's key under the operator's id
    (tmp_path / ("a" * 64 + ".pub")).write_bytes(b"garbage")
    (tmp_path / ("b" * 64 + ".pub")).write_bytes(attacker.pem())  # not under its own id
    os.mkfifo(tmp_path / ("c" * 64 + ".pub"))  # the layout's (file.type): never opened here
    assert judged(tmp_path, {operator.key_id: operator}) == {
        ("fail", f"keys/{replaced.name}", attacker.key_id),
        ("fail", "keys/" + "a" * 64 + ".pub", "not an Ed25519 public key"),
        ("fail", "keys/" + "b" * 64 + ".pub", attacker.key_id),
    }


def test_a_well_formed_key_no_entry_names_warns(tmp_path: Path) -> None:
    newcomer = SigningKey.generate("newcomer").public
    file_of(tmp_path, newcomer).write_bytes(newcomer.pem())
    assert judged(tmp_path, {}) == {("warn", f"keys/{file_of(tmp_path, newcomer).name}",
                                     "None")}
