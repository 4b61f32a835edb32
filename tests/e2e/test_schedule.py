"""`prov schedule run` and `prov schedule status` as cron and systemd run them.

Real local servers (tests/support/servers.py), the real `prov` command in subprocesses. Checked: the
sources file's errors name their line (exit 6) before anything runs; a run is silent unless
something changed or failed; exit 5 on a failed capture; one run at a time (exit 7); a run
killed with SIGKILL anywhere leaves a case that verifies and the next run completes it; and
the crontab line and systemd ExecStart of docs/SCHEDULING.md, run as documented.
"""

from __future__ import annotations

import fcntl
import gzip
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import free_port, make_case, prov_env, run_prov
from scheduling import (
    WatchedSite,
    captures,
    log_entries,
    schedule_run,
    state,
    verify_ok,
    write_sources,
)
from servers import LocalServer

from archive.errors import ConfigError
from provenance.watch.sources import load_sources, parse_interval

DOCS = Path(__file__).resolve().parents[2] / "docs" / "SCHEDULING.md"


@pytest.fixture
def watched(http_server: LocalServer) -> WatchedSite:
    site = WatchedSite(http_server)
    site.page("/post", "<h1>Post</h1><p>First version of the post.</p>",
              requisites=("/pic.png",))
    site.image("/pic.png", 10)
    site.page("/other", "<p>Another page, never changed.</p>")
    return site


# -- the sources file ------------------------------------------------------------------------

BAD_SOURCES = {
    "bad interval": ('[[source]]\nurl = "http://a.example/"\ninterval = "5x"\n', 3, "5x"),
    "zero interval": ('[[source]]\nurl = "http://a.example/"\ninterval = "0m"\n', 3, "0m"),
    "unknown key": ('[[source]]\nurl = "http://a.example/"\nintervall = "1h"\n', 3,
                    "intervall"),
    "no url": ('[[source]]\nurl = "http://a.example/"\n\n[[source]]\ntags = []\n', 4,
               "has no url"),
    "not http": ('[[source]]\nurl = "ftp://a.example/"\n', 2, "not an http(s) URL"),
    "repeated url": ('[[source]]\nurl = "http://a.example/"\n[[source]]\n'
                     'url = "http://a.example/"\n', 3, "already at line 1"),
    "depth": ('[[source]]\nurl = "http://a.example/"\ndepth = -1\n', 3, "depth"),
    "depth text": ('[[source]]\nurl = "http://a.example/"\ndepth = "1"\n', 3, "depth"),
    "tags": ('[[source]]\nurl = "http://a.example/"\ntags = "x"\n', 3, "tags"),
    "browser": ('[[source]]\nurl = "http://a.example/"\nbrowser = "yes"\n', 3, "browser"),
    "defaults": ('[defaults]\ninterval = "1 hour"\n[[source]]\nurl = "http://a.example/"\n', 2,
                 "1 hour"),
    "url in defaults": ('[defaults]\nurl = "http://a.example/"\n[[source]]\n'
                        'url = "http://b.example/"\n', 2, "unknown key 'url'"),
    "top level": ('sources = 1\n[[source]]\nurl = "http://a.example/"\n', 1, "sources"),
    "toml syntax": ('[[source]]\nurl = "http://a.example/\n', 2, "not valid TOML"),
    "empty": ("# nothing\n", None, "no [[source]] tables"),
}


@pytest.mark.parametrize("name", list(BAD_SOURCES))
def test_bad_sources_name_their_line(name: str, tmp_path: Path) -> None:
    text, line, words = BAD_SOURCES[name]
    path = tmp_path / "sources.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_sources(path)
    message = str(caught.value)
    assert words in message
    if line is not None:
        assert f"{path}:{line}:" in message or f"line {line}" in message, message


def test_good_sources_and_defaults(tmp_path: Path) -> None:
    path = write_sources(tmp_path, [
        {"url": "https://a.example/post", "interval": "15m", "tags": ["x", "y"], "note": "n"},
        {"url": "https://b.example/", "requisites": False, "depth": 1},
    ], defaults={"interval": "1d", "requisites": True})
    first, second = load_sources(path)
    assert (first.seconds, first.requisites, first.tags, first.note) == (900, True, ("x", "y"),
                                                                        "n")
    assert (second.seconds, second.requisites, second.depth) == (86400, False, 1)
    assert first.line == 5 and second.line == 11
    assert [parse_interval(t) for t in ("30s", "2h", "1w")] == [30, 7200, 604800]


def test_seed_examples_load() -> None:
    seeds = sorted((DOCS.parent.parent / "seeds").glob("*.toml"))
    assert seeds, "seeds/*.toml examples are missing"
    for path in seeds:
        assert load_sources(path)


def test_bad_entry_stops_the_run_before_anything(watched: WatchedSite, tmp_path: Path) -> None:
    case, _ = make_case(tmp_path)
    env = prov_env(tmp_path)
    sources = write_sources(tmp_path, [{"url": watched.url("/post")},
                                       {"url": watched.url("/other"), "interval": "hourly"}])
    proc = schedule_run(env, sources, case)
    assert proc.returncode == 6
    assert f"{sources}:6:" in proc.stderr and "hourly" in proc.stderr
    assert proc.stdout == "" and captures(case) == []
    assert not (case / "state" / "schedule.json").exists()
    browser = write_sources(tmp_path, [{"url": watched.url("/post"), "browser": True,
                                        "depth": 1}], name="browser.toml")
    proc = schedule_run(env, browser, case)
    assert proc.returncode == 6 and f"{browser}:4:" in proc.stderr and captures(case) == []


@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(),
                    reason="browser capture needs Debian's chromium at /usr/bin/chromium")
def test_browser_sources_are_their_own_capture(watched: WatchedSite, tmp_path: Path) -> None:
    case, key_pub = make_case(tmp_path)
    env = prov_env(tmp_path)
    sources = write_sources(tmp_path, [{"url": watched.url("/post"), "browser": True},
                                       {"url": watched.url("/other")}],
                            defaults={"requisites": True})
    for _ in range(2):
        proc = schedule_run(env, sources, case, "--all")
        assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    folders = captures(case)
    assert len(folders) == 4  # two groups a run: the browser's and the plain one
    browsed = [f for f in folders if b"urn:fullPage:" in b"".join(
        gzip.decompress(w.read_bytes()) for w in f.glob("*.warc.gz"))]
    assert len(browsed) == 2
    assert b"WARC-Type: revisit" in gzip.decompress(next(browsed[1].glob("*.warc.gz"))
                                                    .read_bytes())
    verify_ok(env, case, key_pub)


# -- runs ------------------------------------------------------------------------------------


def test_silent_unless_something_changed(watched: WatchedSite, tmp_path: Path) -> None:
    case, key_pub = make_case(tmp_path)
    env = prov_env(tmp_path)
    sources = write_sources(tmp_path, [{"url": watched.url("/post"), "interval": "1h"},
                                       {"url": watched.url("/other"), "interval": "1d"}],
                            defaults={"requisites": True})
    first = schedule_run(env, sources, case)
    assert (first.returncode, first.stdout, first.stderr) == (0, "", "")
    assert len(captures(case)) == 1  # both sources due, one option group: one capture
    not_due = schedule_run(env, sources, case)
    assert (not_due.returncode, not_due.stdout, not_due.stderr) == (0, "", "")
    assert len(captures(case)) == 1
    unchanged = schedule_run(env, sources, case, "--all")
    assert (unchanged.returncode, unchanged.stdout, unchanged.stderr) == (0, "", "")
    watched.page("/post", "<h1>Post</h1><p>Second version of the post.</p>",
                 requisites=("/pic.png",))
    changed = schedule_run(env, sources, case, "--all")
    assert changed.returncode == 0 and changed.stderr == ""
    assert "CHANGED" in changed.stdout and watched.url("/post") in changed.stdout
    assert watched.url("/other") not in changed.stdout
    assert "visible text changed" in changed.stdout
    runs = (case / "state" / "runs.log").read_text().splitlines()
    assert [json.loads(r)["changes"] for r in runs] == [[], [], [], [watched.url("/post")]]
    assert json.loads(runs[1])["due"] == [] and json.loads(runs[1])["captures"] == []
    actions = [e["action"] for e in log_entries(case)]
    assert actions.count("change-detected") == 1 and actions.count("capture") == 3
    verify_ok(env, case, key_pub)


def test_due_sources_only(watched: WatchedSite, tmp_path: Path) -> None:
    case, _ = make_case(tmp_path)
    env = prov_env(tmp_path)
    sources = write_sources(tmp_path, [{"url": watched.url("/post"), "interval": "1h"},
                                       {"url": watched.url("/other"), "interval": "2s"}])
    assert schedule_run(env, sources, case).returncode == 0
    time.sleep(2.1)
    assert schedule_run(env, sources, case).returncode == 0
    runs = [json.loads(r) for r in (case / "state" / "runs.log").read_text().splitlines()]
    assert runs[1]["due"] == [watched.url("/other")]
    status = run_prov("schedule", "status", str(sources), "--case", str(case), "--json",
                      env=env)
    rows = {r["url"]: r for r in json.loads(status.stdout)}
    assert rows[watched.url("/post")]["nextRun"] != "now"
    assert rows[watched.url("/other")]["lastRun"] == runs[1]["startedAt"]
    text = run_prov("schedule", "status", str(sources), "--case", str(case), env=env).stdout
    assert "last run" in text and "next run" in text and "last failure  never" in text


def test_failed_capture_exits_5(watched: WatchedSite, tmp_path: Path) -> None:
    case, key_pub = make_case(tmp_path)
    env = prov_env(tmp_path)
    dead = f"http://127.0.0.1:{free_port()}/gone"
    sources = write_sources(tmp_path, [{"url": watched.url("/post")}, {"url": dead}])
    proc = schedule_run(env, sources, case)
    assert proc.returncode == 5 and proc.stdout == ""
    assert dead in proc.stderr and "could not be captured" in proc.stderr
    rows = {r["url"]: r for r in json.loads(run_prov(
        "schedule", "status", "--case", str(case), "--json", env=env).stdout)}
    assert rows[dead]["lastFailure"] and "refused" in rows[dead]["lastError"]
    assert rows[watched.url("/post")]["lastFailure"] is None
    assert "capture-failed" in [e["action"] for e in log_entries(case)]
    verify_ok(env, case, key_pub)


# -- one run at a time -----------------------------------------------------------------------


def test_second_run_exits_7_at_once(watched: WatchedSite, tmp_path: Path) -> None:
    case, _ = make_case(tmp_path)
    env = prov_env(tmp_path)
    sources = write_sources(tmp_path, [{"url": watched.url("/post")}])
    (case / "state").mkdir(exist_ok=True)
    fd = os.open(case / "state" / "schedule.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        start = time.monotonic()
        proc = schedule_run(env, sources, case)
        assert time.monotonic() - start < 10
    finally:
        os.close(fd)
    assert proc.returncode == 7 and proc.stdout == ""
    assert "another `prov schedule run` is running on this case" in proc.stderr
    assert captures(case) == []


def test_concurrent_runs(http_server: LocalServer, tmp_path: Path) -> None:
    case, key_pub = make_case(tmp_path)
    env = prov_env(tmp_path)
    sources = write_sources(tmp_path, [{"url": http_server.url("/slow?delay=0.5&pieces=6")}])
    first = subprocess.Popen([sys.executable, "-c", "from provenance.cli import main; main()",
                              "schedule", "run", str(sources), "--case", str(case)],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while not (case / "state" / "schedule.json").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        second = schedule_run(env, sources, case)
        assert second.returncode == 7, second.stderr
        assert f"pid {first.pid}" in second.stderr
    finally:
        _out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert len(captures(case)) == 1
    verify_ok(env, case, key_pub)


# -- killed runs -----------------------------------------------------------------------------

CAPTURE_FAILPOINTS = ["after-warc", "after-seal", "after-stamp", "after-rename", "before-log",
                      "after-log-lines"]


@pytest.mark.parametrize("failpoint", CAPTURE_FAILPOINTS)
def test_killed_run_verifies_and_next_run_completes(failpoint: str, watched: WatchedSite,
                                                    tmp_path: Path) -> None:
    case, key_pub = make_case(tmp_path)
    env = prov_env(tmp_path)
    sources = write_sources(tmp_path, [{"url": watched.url("/post"), "requisites": True,
                                        "interval": "1s"}])
    assert schedule_run(env, sources, case).returncode == 0
    watched.page("/post", "<p>Edited.</p>", requisites=("/pic.png",))
    time.sleep(1.1)
    killed = schedule_run({**env, "PROV_FAILPOINT": failpoint}, sources, case)
    assert killed.returncode == -signal.SIGKILL
    verify_ok(env, case, key_pub)  # warnings (incomplete work), never a failure
    after = schedule_run(env, sources, case)  # still due: its state was never saved
    assert after.returncode == 0, after.stderr
    assert "the previous run was interrupted" in after.stdout
    assert "CHANGED" in after.stdout
    assert "running" not in state(case)
    report = verify_ok(env, case, key_pub)
    warned = {f["check"] for f in report["findings"] if f["status"] == "warn"}
    assert not warned & {"capture.incomplete", "capture.unlogged", "log.unchecked"}


def test_killed_at_random_points(http_server: LocalServer, tmp_path: Path) -> None:
    case, key_pub = make_case(tmp_path)
    env = prov_env(tmp_path)
    site = WatchedSite(http_server)
    site.page("/p", "<p>page</p>", requisites=("/slow?delay=0.1&pieces=3",))
    sources = write_sources(tmp_path, [{"url": site.url("/p"), "requisites": True}])
    command = [sys.executable, "-c", "from provenance.cli import main; main()",
               "schedule", "run", str(sources), "--case", str(case), "--all"]
    for delay in (0.3, 0.6, 0.9, 1.2, 1.5):
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        verify_ok(env, case, key_pub)
    final = schedule_run(env, sources, case, "--all")
    assert final.returncode == 0, final.stderr
    verify_ok(env, case, key_pub)


# -- the documented command lines ------------------------------------------------------------


def _home_for_docs(tmp_path: Path, watched: WatchedSite) -> dict[str, str]:
    """A $HOME laid out as docs/SCHEDULING.md says, and the environment cron or systemd
    gives a job (no PROV_* variables, a short PATH)."""
    home = tmp_path / "home"
    config = home / ".config" / "prov"
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    config.mkdir(parents=True)
    (config / "passphrase").write_text("a long passphrase\n")
    (config / "passphrase").chmod(0o600)
    bin_dir = home / ".local" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "prov").symlink_to(Path(sys.executable).with_name("prov"))
    setup = {**env, "PROV_KEY_PASSPHRASE_FILE": str(config / "passphrase")}
    for args in (("keys", "generate"), ("init", str(home / "watch" / "case"))):
        assert run_prov(*args, env=setup).returncode == 0
    write_sources(home / "watch", [{"url": watched.url("/post"), "requisites": True}])
    return env


def _documented(language: str, first_line: str = "") -> str:
    """The fenced block of docs/SCHEDULING.md in ``language`` whose first line holds
    ``first_line``."""
    for match in re.finditer(rf"```{language}\n(.*?)```", DOCS.read_text(), re.S):
        if first_line in match.group(1).split("\n", 1)[0]:
            return match.group(1)
    raise AssertionError(f"no ```{language} block starting with {first_line!r} in {DOCS}")


def test_documented_crontab_line_runs(watched: WatchedSite, tmp_path: Path) -> None:
    env = _home_for_docs(tmp_path, watched)
    lines = [line for line in _documented("crontab").splitlines()
             if line.strip() and not line.startswith("#") and "=" not in line.split()[0]]
    assert len(lines) == 1
    command = lines[0].split(None, 5)[5]  # after minute, hour, day, month, weekday
    readme = (DOCS.parent.parent / "README.md").read_text()
    assert command in readme  # the README shows the same line
    assert "%" not in command  # cron would cut the line there
    for _ in range(2):  # the first run captures, the second finds nothing due: both silent
        proc = subprocess.run(["/bin/sh", "-c", command], env=env, capture_output=True,
                              text=True, timeout=120, check=False)
        assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    case = Path(env["HOME"]) / "watch" / "case"
    assert len(captures(case)) == 1


def test_documented_systemd_service_runs(watched: WatchedSite, tmp_path: Path) -> None:
    env = _home_for_docs(tmp_path, watched)
    unit = _documented("ini", "prov-watch.service")
    home = env["HOME"]
    service_env = dict(env)
    for line in unit.splitlines():
        if line.startswith("Environment="):
            name, _, value = line.removeprefix("Environment=").partition("=")
            service_env[name] = value.replace("%h", home)
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    command = exec_start.removeprefix("ExecStart=").replace("%h", home)
    assert shlex.split(command)[0].startswith("/")  # systemd wants an absolute path
    proc = subprocess.run(["bash", "-c", command], env=service_env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    assert "SuccessExitStatus=7" in unit  # a run skipped for a running one is no failure
    timer = _documented("ini", "prov-watch.timer")
    assert "OnCalendar=" in timer and "Persistent=true" in timer
