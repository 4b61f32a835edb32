"""`prov keys` through the command line: listing after a WACZ export made the P-384 key,
key names that would collide with it, unreadable public key files; the warning for a weak
passphrase; unlocking a key for a while (`prov keys unlock`, `lock`)."""

from __future__ import annotations

import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
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
    proc = run_prov("keys", "generate", "--key", "default.p384", env=env)
    assert proc.returncode == 6
    assert "bad key name 'default.p384'" in proc.stderr and "not ending in .p384" in proc.stderr
    assert not (Path(env["PROV_HOME"]) / "keys" / "default.p384.key").exists()


@pytest.mark.parametrize(("secret", "why"), [
    ("short", "it has 5 characters, fewer than 12"),
    ("Password123!", "it is one of the most common choices"),
    ("aaaaaaaaaaaaaaaa", "it uses only 1 different characters"),
    ("correct-horse-battery-staple-42", None),
])
def test_a_weak_passphrase_gets_a_warning(tmp_path: Path, secret: str, why: str | None) -> None:
    env = prov_env(tmp_path) | {"PROV_KEY_PASSPHRASE": secret}
    proc = run_prov("keys", "generate", env=env)
    assert proc.returncode == 0, proc.stderr
    assert (Path(env["PROV_HOME"]) / "keys" / "default.key").is_file()
    warning = [line for line in proc.stderr.splitlines() if "passphrase is weak" in line]
    if why is None:
        assert warning == []
    else:
        assert warning == [f"prov: warning: the passphrase is weak ({why}): whoever copies the "
                           "key file can guess it offline; several unrelated words make a "
                           "strong one (change it by generating a new key)"]


def dispose(case: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_prov("custody", "dispose", "--as", "archived", "--case", str(case), "--tsa",
                    "none", env=env)


@pytest.fixture
def locked(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str], dict[str, str]]]:
    """(case, env with the passphrase, env without); every agent stopped at the end."""
    case, _ = make_case(tmp_path)
    env = prov_env(tmp_path)
    bare = {k: v for k, v in env.items() if k != "PROV_KEY_PASSPHRASE"}
    yield case, env, bare
    run_prov("keys", "lock", env=bare)


def test_unlock_once_then_sign_without_the_passphrase_until_locked(
        locked: tuple[Path, dict[str, str], dict[str, str]]) -> None:
    case, env, bare = locked
    proc = dispose(case, bare)
    assert proc.returncode == 6
    assert "prov: hint: set PROV_KEY_PASSPHRASE_FILE or PROV_KEY_PASSPHRASE, or run `prov keys " \
           "unlock` first" in proc.stderr

    proc = run_prov("keys", "unlock", "--for", "5m", env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.startswith("prov: key 'default' unlocked for 5 min (agent at ")
    sock = Path(env["PROV_HOME"]) / "agent" / "default.sock"
    assert stat.S_ISSOCK(sock.stat().st_mode) and stat.S_IMODE(sock.stat().st_mode) == 0o600
    assert stat.S_IMODE(sock.parent.stat().st_mode) == 0o700

    assert dispose(case, bare).returncode == 0  # no passphrase in the environment, no prompt
    assert run_prov("verify", str(case), env=bare).returncode == 0

    proc = run_prov("keys", "lock", env=bare)
    assert (proc.returncode, proc.stderr) == (0, "prov: key 'default' locked\n")
    assert not sock.exists()
    assert dispose(case, bare).returncode == 6
    proc = run_prov("keys", "lock", env=bare)
    assert (proc.returncode, proc.stderr) == (0, "prov: key 'default' was not unlocked\n")


def test_an_unlocked_key_locks_itself_when_its_time_is_up(
        locked: tuple[Path, dict[str, str], dict[str, str]]) -> None:
    case, env, bare = locked
    assert run_prov("keys", "unlock", "--for", "2s", env=env).returncode == 0
    sock = Path(env["PROV_HOME"]) / "agent" / "default.sock"
    deadline = time.monotonic() + 20
    while sock.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not sock.exists()
    assert dispose(case, bare).returncode == 6


@pytest.mark.parametrize(("args", "code", "message"), [
    (("--for", "25h"), 2, "must be more than 0 and at most 24h"),
    (("--for", "soon"), 2, "'soon' is not a duration"),
    (("--key", "nobody"), 6, "no key named 'nobody'"),
])
def test_unlock_refuses_bad_arguments(locked: tuple[Path, dict[str, str], dict[str, str]],
                                      args: tuple[str, ...], code: int, message: str) -> None:
    _, env, _ = locked
    proc = run_prov("keys", "unlock", *args, env=env)
    assert proc.returncode == code and message in proc.stderr, proc.stderr
    assert not (Path(env["PROV_HOME"]) / "agent" / "default.sock").exists()


def test_unlock_with_a_wrong_passphrase_starts_nothing(
        locked: tuple[Path, dict[str, str], dict[str, str]]) -> None:
    _, env, bare = locked
    proc = run_prov("keys", "unlock", env=env | {"PROV_KEY_PASSPHRASE": "not the one"})
    assert proc.returncode == 6
    assert "cannot load key 'default': wrong passphrase" in proc.stderr
    assert not (Path(env["PROV_HOME"]) / "agent" / "default.sock").exists()
    proc = run_prov("keys", "unlock", env=bare)  # no terminal, no environment: nothing to use
    assert proc.returncode == 6 and "no passphrase given" in proc.stderr


def test_unlock_under_a_home_too_deep_for_a_socket_is_a_clear_error(tmp_path: Path) -> None:
    env = prov_env(tmp_path)
    env["PROV_HOME"] = str(tmp_path / ("d" * 100) / "prov-home")
    assert run_prov("keys", "generate", env=env).returncode == 0
    proc = run_prov("keys", "unlock", env=env)
    assert proc.returncode == 6, proc.stderr
    assert "default.sock: longer than the 107 bytes a Unix socket's path may have" in proc.stderr
    assert "prov: hint: set PROV_HOME to a shorter folder" in proc.stderr
