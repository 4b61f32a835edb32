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


def test_verify_says_what_happened_first(tmp_path: Path) -> None:
    import gzip
    import zlib

    from servers import LocalServer

    case, public = make_case(tmp_path)
    env = prov_env(tmp_path)
    with LocalServer() as server:
        urls = [server.url("/page.html"), server.url("/style.css")]
        for _ in range(2):
            made = run_prov("snapshot", "--case", str(case), "--tsa", "none", *urls, env=env)
            assert made.returncode == 0, made.stderr
    [warc, _] = sorted(case.glob("captures/*/*/*/*/data-00000.warc.gz"))
    data, members = warc.read_bytes(), []
    while data:
        inflate = zlib.decompressobj(31)
        members.append(inflate.decompress(data) + inflate.flush())
        data = inflate.unused_data
    warc.write_bytes(b"".join(gzip.compress(m.replace(b"<h1>Test page", b"<h1>Best page"))
                              for m in members))
    proc = run_prov("verify", str(case), "--trust", str(public), env=env)
    assert proc.returncode == 3, proc.stderr
    fails = [line for line in proc.stdout.splitlines() if line.startswith("FAIL  ")]
    assert f"FAIL  The archived page {urls[0]} was altered after it was sealed." in fails
    assert all(line[6].isupper() and line.endswith(".") for line in fails), fails
    assert "None" not in proc.stdout
    unstamped = [line for line in proc.stdout.splitlines() if "timestamp.none" in line]
    assert len(unstamped) == 1 and "2 captures have no time-stamp" in unstamped[0]
    report = json.loads(run_prov("verify", str(case), "--json", "--trust", str(public),
                                 env=env).stdout)
    assert sum(f["check"] == "timestamp.none" for f in report["findings"]) == 2


def test_a_deleted_capture_is_named_by_its_urls(tmp_path: Path) -> None:
    import shutil

    from servers import LocalServer

    case, public = make_case(tmp_path)
    env = prov_env(tmp_path)
    with LocalServer() as server:
        urls = [server.url("/page.html"), server.url("/404")]
        made = run_prov("snapshot", "--case", str(case), "--tsa", "none", *urls, env=env)
        assert made.returncode == 0, made.stderr
    [seal] = case.glob("captures/*/*/*/*/seal.dsse.json")
    shutil.rmtree(seal.parent)
    proc = run_prov("verify", str(case), "--trust", str(public), env=env)
    assert proc.returncode == 3, proc.stderr
    assert f"FAIL  A capture was deleted that held {urls[0]}, {urls[1]}." in proc.stdout
