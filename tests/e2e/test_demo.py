"""`prov demo`, the README's first command: offline, it captures, seals and verifies the bundled
site, then tampers with a copy and shows verify naming the change."""

from __future__ import annotations

from pathlib import Path

from helpers import prov_env, run_prov


def test_demo_verifies_then_catches_the_tampered_copy(tmp_path: Path) -> None:
    proc = run_prov("demo", str(tmp_path / "demo"), env=prov_env(tmp_path), timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out
    assert "VERIFIED:" in out, out  # the untouched case
    assert "the altered copy fails (exit 3)" in out, out
    assert "record.payloadDigest" in out and "file.digest" in out, out
    assert "@" in out and "<urn:uuid:" in out, out  # the record: offset and id
