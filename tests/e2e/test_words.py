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
    # the URLs in the order of the capture's summary, which is the order the fetches ended
    assert any(f"FAIL  A capture was deleted that held {first}, {second}." in proc.stdout
               for first, second in (urls, urls[::-1])), proc.stdout


def _page(text: str) -> bytes:
    from servers import response

    return response(b"200 OK", [(b"Content-Type", b"text/html")],
                    f"<html><body><p>{text}</p></body></html>".encode())


def test_schedule_run_verbose_says_what_it_decided(tmp_path: Path) -> None:
    from scheduling import write_sources
    from servers import LocalServer

    case, _ = make_case(tmp_path)
    env = prov_env(tmp_path)
    with LocalServer() as server:
        url = server.url("/post")
        server.add_route("/post", _page("I will not accept"))
        sources = write_sources(tmp_path, [{"url": url, "interval": "1h"}])

        def run(*extra: str) -> str:
            proc = run_prov("schedule", "run", str(sources), "--case", str(case), "--tsa",
                            "none", "-v", *extra, env=env, timeout=120)
            assert proc.returncode == 0, proc.stderr
            return str(proc.stderr)

        first = run()
        assert f"prov: {url}: due: never snapshotted before" in first
        assert f"prov: {url}: first snapshot (200, capture " in first
        later = run()
        assert f"prov: {url}: not due until " in later and "every 3600 s" in later
        assert "nothing was due: no capture made" in later
        assert f"{url}: unchanged since capture" in run("--all")
        server.add_route("/post", _page("I accept"))
        changed = run("--all")
        assert f"prov: {url}: snapshotted now (--all)" in changed
        assert f"prov: {url}: changed (" in changed and "logged as change-detected" in changed


def test_schedule_run_on_a_terminal_shows_progress(tmp_path: Path) -> None:
    from helpers import run_prov_on_terminal
    from scheduling import write_sources
    from servers import LocalServer

    case, _ = make_case(tmp_path)
    env = prov_env(tmp_path)
    with LocalServer() as server:
        url = server.url("/page.html")
        sources = write_sources(tmp_path, [{"url": url}])
        proc, shown = run_prov_on_terminal("schedule", "run", sources, "--case", case,
                                           "--tsa", "none", env=env)
        quiet = run_prov("schedule", "run", str(sources), "--case", str(case), "--all",
                         "--tsa", "none", env=env)  # not a terminal (cron): silent
    assert proc.returncode == 0, shown
    assert b"1 done, 0 queued, 0 failed" in shown
    assert url.encode() in shown  # the URL last done
    assert shown.endswith(b"\x1b[2K")  # erased at the end
    assert proc.stdout == b""  # nothing changed: nothing to say
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")
