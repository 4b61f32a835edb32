"""Words a person understands (issue 19, point 8), through the command line: options spelled
alike everywhere (old spellings still work), outputs never written over, and verify's
messages in plain sentences."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import make_case, prov_env, run_prov


def test_keys_take_key_and_still_take_name(tmp_path: Path) -> None:
    env = prov_env(tmp_path)
    Path(env["PROV_HOME"]).mkdir()
    made = run_prov("keys", "generate", "--key", "alice", env=env)
    assert made.returncode == 0, made.stderr
    old = run_prov("keys", "generate", "--name", "bob", env=env)
    assert old.returncode == 0, old.stderr
    listed = run_prov("keys", "list", env=env).stdout
    assert "alice\ted25519:" in listed and "bob\ted25519:" in listed
    for flag, name in (("--key", "alice"), ("--name", "bob")):
        pem = run_prov("keys", "export", flag, name, env=env)
        assert pem.returncode == 0 and pem.stdout.startswith("-----BEGIN PUBLIC KEY-----")
    assert made.stdout.strip() != old.stdout.strip()


def test_log_prove_never_writes_over_a_file(tmp_path: Path) -> None:
    case, _ = make_case(tmp_path)
    env = prov_env(tmp_path)
    out = tmp_path / "proof.json"
    out.write_text("mine")
    proc = run_prov("log", "prove", "--entry", "0", "-o", str(out), "--case", str(case), env=env)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("prov: error: -o ") and "already exists" in proc.stderr
    assert out.read_text() == "mine"
    fresh = tmp_path / "fresh.json"
    proc = run_prov("log", "prove", "--entry", "0", "-o", str(fresh), "--case", str(case),
                    env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(fresh.read_text())["schema"] == "prov/inclusion-proof/v1"
