"""`prov keys` through the command line: listing after a WACZ export made the P-384 key,
key names that would collide with it, unreadable public key files."""

from __future__ import annotations

from pathlib import Path

from helpers import make_case, prov_env, run_prov
from servers import LocalServer


def test_keys_list_after_a_wacz_export(tmp_path: Path, http_server: LocalServer) -> None:
    case, _ = make_case(tmp_path)
    env = prov_env(tmp_path)
    keys = Path(env["PROV_HOME"]) / "keys"
    proc = run_prov("snapshot", "--case", str(case), "--tsa", "none",
                    http_server.url("/page.html"), env=env)
    assert proc.returncode == 0, proc.stderr
    proc = run_prov("export", "wacz", "--case", str(case), "--tsa", "none",
                    "-o", str(tmp_path / "out.wacz"), env=env)
    assert proc.returncode == 0, proc.stderr
    assert (keys / "default.p384.pub").is_file()

    proc = run_prov("keys", "list", env=env)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 2, proc.stdout
    assert lines[0].startswith("default\ted25519:") and len(lines[0].split("\t")[1]) == 72
    assert lines[1].startswith("default\tecdsa-p384:") and len(lines[1].split("\t")[1]) == 75
    assert proc.stderr == ""


def test_keys_list_names_an_unreadable_file_and_lists_the_rest(tmp_path: Path) -> None:
    make_case(tmp_path)
    env = prov_env(tmp_path)
    (Path(env["PROV_HOME"]) / "keys" / "broken.pub").write_bytes(b"not a key\n")
    proc = run_prov("keys", "list", env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("default\ted25519:")
    assert "broken.pub: not a PEM public key" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_key_name_ending_p384_is_refused(tmp_path: Path) -> None:
    env = prov_env(tmp_path)
    proc = run_prov("keys", "generate", "--name", "default.p384", env=env)
    assert proc.returncode == 6
    assert "bad key name 'default.p384'" in proc.stderr and "not ending in .p384" in proc.stderr
    assert not (Path(env["PROV_HOME"]) / "keys" / "default.p384.key").exists()
