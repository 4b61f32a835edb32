"""The command line's contract for bad input, keys and finding the case.

Bad input gives one line on stderr starting ``prov:`` (and perhaps a ``prov: hint:`` line),
the documented exit code (2 usage, 4 not a case, 5 capture failed, 6 configuration) and never
a traceback. Key files are 0600 and encrypted unless the operator opts out loudly.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from helpers import PASSPHRASE, checked, free_port, log_entries
from helpers import run_prov_at as run_prov

from provenance.signing.keys import PublicKey

KEY_ID = re.compile(r"^ed25519:[0-9a-f]{64}$")


def assert_error(result: subprocess.CompletedProcess[str], code: int) -> str:
    """The exit code, and exactly one ``prov:`` message line (plus an optional hint)."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines, "nothing on stderr"
    assert all(line.startswith("prov: ") for line in lines), result.stderr
    messages = [line for line in lines if not line.startswith("prov: hint: ")]
    assert len(messages) == 1, result.stderr
    assert messages[0] == lines[0]
    return messages[0]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PROV_HOME with the key ``default`` and an empty case founded by it."""
    base = tmp_path_factory.mktemp("cli-template")
    checked(run_prov(base / "home", "keys", "generate"))
    checked(run_prov(base / "home", "init", base / "case", "--title", "cli tests"))
    return base


@pytest.fixture
def home_and_case(template: Path, tmp_path: Path) -> tuple[Path, Path]:
    shutil.copytree(template, tmp_path / "w", symlinks=True)
    return tmp_path / "w" / "home", tmp_path / "w" / "case"


@pytest.fixture
def home(home_and_case: tuple[Path, Path]) -> Path:
    return home_and_case[0]


@pytest.fixture
def case(home_and_case: tuple[Path, Path]) -> Path:
    return home_and_case[1]


@pytest.fixture
def empty_home(tmp_path: Path) -> Path:
    path = tmp_path / "empty-home"
    path.mkdir()
    return path


# -- not a case ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["captures", "list", "--case", "/nonexistent"],
        ["log", "show", "--case", "/nonexistent"],
        ["snapshot", "--case", "/nonexistent", "http://127.0.0.1/"],
    ],
)
def test_missing_case_is_exit_4(home: Path, command: list[str]) -> None:
    message = assert_error(run_prov(home, *command), 4)
    assert "/nonexistent" in message


def test_snapshot_with_no_case_anywhere_is_exit_6(home: Path, tmp_path: Path) -> None:
    nowhere = tmp_path / "nowhere"
    nowhere.mkdir()
    message = assert_error(run_prov(home, "snapshot", "http://127.0.0.1/", cwd=nowhere), 6)
    assert "case" in message
    assert list(nowhere.iterdir()) == []


def test_verify_a_folder_that_is_not_a_case_is_exit_4(empty_home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "just-a-folder"
    folder.mkdir()
    (folder / "notes.txt").write_text("hello\n")
    message = assert_error(run_prov(empty_home, "verify", folder), 4)
    assert str(folder) in message


def test_verify_a_plain_file_is_exit_4(empty_home: Path, tmp_path: Path) -> None:
    path = tmp_path / "file.txt"
    path.write_text("hello\n")
    assert_error(run_prov(empty_home, "verify", path), 4)


def test_verify_a_nonexistent_path_is_exit_4(empty_home: Path, tmp_path: Path) -> None:
    message = assert_error(run_prov(empty_home, "verify", tmp_path / "missing"), 4)
    assert "missing" in message


def test_verify_json_also_reports_not_a_case_on_stderr(empty_home: Path, tmp_path: Path) -> None:
    result = run_prov(empty_home, "verify", tmp_path, "--json")
    assert_error(result, 4)
    assert result.stdout == ""


# -- keys: loading them ----------------------------------------------------------------------


def _rsa_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(PASSPHRASE.encode()),
    )


CORRUPT_KEYS = {
    "random bytes": lambda home: os.urandom(200),
    "truncated encrypted PEM": lambda home: (
        b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIGjMF8GCSqGSIb3DQEFDTBSMDEGCSqGSIb3\n"
        b"-----END ENCRYPTED PRIVATE KEY-----\n"
    ),
    "public key in place of the private key": lambda home: (
        home / "keys" / "default.pub"
    ).read_bytes(),
    "an RSA key": lambda home: _rsa_pem(),
    "empty file": lambda home: b"",
}


@pytest.mark.parametrize("corruption", list(CORRUPT_KEYS))
def test_corrupt_key_file_is_exit_6(home: Path, tmp_path: Path, corruption: str) -> None:
    (home / "keys" / "default.key").write_bytes(CORRUPT_KEYS[corruption](home))
    target = tmp_path / "new-case"
    message = assert_error(run_prov(home, "init", target), 6)
    assert "default" in message
    assert not target.exists()


def test_wrong_passphrase_is_exit_6(home: Path, case: Path) -> None:
    before = (case / "custody" / "log.jsonl").read_bytes()
    message = assert_error(
        run_prov(
            home, "snapshot", "--case", case, "http://127.0.0.1:1/", passphrase="not-the-passphrase"
        ),
        6,
    )
    assert "passphrase" in message
    assert (case / "custody" / "log.jsonl").read_bytes() == before
    assert not (case / "captures" / ".partial").exists()


def test_no_passphrase_and_no_terminal_is_exit_6(home: Path, case: Path) -> None:
    message = assert_error(
        run_prov(home, "snapshot", "--case", case, "http://127.0.0.1:1/", passphrase=None), 6
    )
    assert "passphrase" in message


def test_passphrase_file(empty_home: Path, tmp_path: Path) -> None:
    secret = tmp_path / "passphrase.txt"
    secret.write_text("from-a-file\n")
    file_env = {"PROV_KEY_PASSPHRASE_FILE": str(secret)}
    checked(run_prov(empty_home, "keys", "generate", passphrase=None, **file_env))
    checked(run_prov(empty_home, "init", tmp_path / "c1", passphrase=None, **file_env))
    # the file's passphrase is the key's: the environment variable alone does not open it
    assert_error(run_prov(empty_home, "init", tmp_path / "c2", passphrase=PASSPHRASE), 6)
    secret.write_text("something else\n")
    assert_error(run_prov(empty_home, "init", tmp_path / "c3", passphrase=None, **file_env), 6)
    assert not (tmp_path / "c2").exists()
    assert not (tmp_path / "c3").exists()


# -- keys: making, listing, exporting, trusting ----------------------------------------------


def test_generated_key_is_0600_and_encrypted(home: Path) -> None:
    private = home / "keys" / "default.key"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert b"-----BEGIN ENCRYPTED PRIVATE KEY-----" in private.read_bytes()
    assert b"-----BEGIN PRIVATE KEY-----" not in private.read_bytes()
    assert stat.S_IMODE((home / "keys").stat().st_mode) & 0o077 == 0


def test_generate_twice_is_exit_6_and_keeps_the_first(home: Path) -> None:
    private = home / "keys" / "default.key"
    before = private.read_bytes()
    message = assert_error(run_prov(home, "keys", "generate"), 6)
    assert "default" in message
    assert private.read_bytes() == before


def test_unsafe_no_passphrase_writes_an_unencrypted_0600_key(
    empty_home: Path, tmp_path: Path
) -> None:
    result = checked(
        run_prov(
            empty_home,
            "keys",
            "generate",
            "--name",
            "throwaway",
            "--unsafe-no-passphrase",
            passphrase=None,
        )
    )
    assert "UNENCRYPTED" in result.stderr
    private = empty_home / "keys" / "throwaway.key"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    data = private.read_bytes()
    assert b"-----BEGIN PRIVATE KEY-----" in data
    assert b"ENCRYPTED" not in data
    checked(run_prov(empty_home, "init", tmp_path / "c", "--key", "throwaway", passphrase=None))


def test_generate_without_passphrase_is_one_line_exit_6(empty_home: Path) -> None:
    message = assert_error(run_prov(empty_home, "keys", "generate", passphrase=None), 6)
    assert "passphrase" in message
    assert not (empty_home / "keys" / "default.key").exists()


def test_bad_key_name_is_exit_6(empty_home: Path) -> None:
    assert_error(run_prov(empty_home, "keys", "generate", "--name", "../escape"), 6)
    assert not (empty_home / "escape.key").exists()


def test_keys_list_shows_full_ids(home: Path) -> None:
    second = checked(run_prov(home, "keys", "generate", "--name", "second")).stdout.strip()
    assert KEY_ID.match(second)
    rows = checked(run_prov(home, "keys", "list")).stdout.splitlines()
    listed = dict(row.split("\t") for row in rows)
    assert set(listed) == {"default", "second"}
    assert all(KEY_ID.match(key_id) for key_id in listed.values())
    assert listed["second"] == second
    assert listed["default"] == PublicKey.load(home / "keys" / "default.pub").key_id


def test_keys_export_prints_the_matching_pem(home: Path) -> None:
    listed = dict(
        row.split("\t") for row in checked(run_prov(home, "keys", "list")).stdout.splitlines()
    )
    exported = checked(run_prov(home, "keys", "export")).stdout
    assert exported.startswith("-----BEGIN PUBLIC KEY-----")
    assert PublicKey.from_pem(exported.encode()).key_id == listed["default"]
    assert_error(run_prov(home, "keys", "export", "--name", "nope"), 6)


def test_keys_trust_anchors_verify(
    home: Path, case: Path, empty_home: Path, tmp_path: Path
) -> None:
    exported = tmp_path / "founder.pub"
    exported.write_text(checked(run_prov(home, "keys", "export")).stdout)
    key_id = PublicKey.load(exported).key_id

    proc = run_prov(empty_home, "verify", case, "--json")
    assert proc.returncode == 3  # no anchor at all: not VERIFIED (docs/SECURITY.md)
    before = json.loads(proc.stdout)
    assert [f["status"] for f in before["findings"] if f["check"] == "trust.anchor"] == ["fail"]

    assert checked(run_prov(empty_home, "keys", "trust", exported)).stdout.strip() == key_id
    trusted = empty_home / "trusted" / f"{key_id.split(':', 1)[1]}.pub"
    assert PublicKey.load(trusted).key_id == key_id
    after = json.loads(checked(run_prov(empty_home, "verify", case, "--json")).stdout)
    assert [f["status"] for f in after["findings"] if f["check"] == "trust.anchor"] == ["pass"]


def test_keys_trust_rejects_a_non_key(empty_home: Path, tmp_path: Path) -> None:
    not_a_key = tmp_path / "not-a-key.pub"
    not_a_key.write_text("hello\n")
    message = assert_error(run_prov(empty_home, "keys", "trust", not_a_key), 6)
    assert str(not_a_key) in message
    assert list(empty_home.glob("trusted/*")) == []


def test_keys_add_lets_a_second_key_seal(
    home: Path, case: Path, empty_home: Path, tmp_path: Path, site: str
) -> None:
    founder = PublicKey.load(home / "keys" / "default.pub")
    second = checked(run_prov(home, "keys", "generate", "--name", "second")).stdout.strip()
    added = checked(
        run_prov(
            home,
            "keys",
            "add",
            "--case",
            case,
            home / "keys" / "second.pub",
            "--note",
            "the night shift",
        )
    )
    assert added.stdout.strip() == second
    entry = log_entries(home, case)[-1]
    assert entry["action"] == "key-trusted"
    assert entry["actor"] == founder.key_id
    assert entry["details"]["keyId"] == second

    sealed = json.loads(
        checked(
            run_prov(home, "snapshot", "--case", case, "--key", "second", "--json", f"{site}/")
        ).stdout
    )
    anchor = tmp_path / "founder.pub"
    anchor.write_bytes(founder.pem())
    result = run_prov(empty_home, "verify", case, "--trust", anchor, "--json")
    report = json.loads(result.stdout)
    assert result.returncode == 0, [f for f in report["findings"] if f["status"] == "fail"]
    assert any(
        f["check"] == "seal.signature"
        and f["status"] == "pass"
        and f["subject"] == f"{sealed['captureDir']}/seal.dsse.json"
        and second in f["message"]
        for f in report["findings"]
    )

    # a key the case never trusted is refused before it captures or writes anything (a seal
    # it signed would fail every later verify: tests/e2e/test_signers.py)
    checked(run_prov(home, "keys", "generate", "--name", "stranger"))
    log_before = (case / "custody" / "log.jsonl").read_bytes()
    captures_before = sorted(p.name for p in (case / "captures").rglob("*"))
    refused = run_prov(home, "snapshot", "--case", case, "--key", "stranger", f"{site}/")
    assert refused.returncode == 6
    assert "key 'stranger'" in refused.stderr and "is not trusted by this case" in refused.stderr
    assert (case / "custody" / "log.jsonl").read_bytes() == log_before
    assert sorted(p.name for p in (case / "captures").rglob("*")) == captures_before
    assert run_prov(empty_home, "verify", case, "--trust", anchor).returncode == 0


# -- init and snapshot input -----------------------------------------------------------------


def test_init_on_a_non_empty_folder_is_exit_2(home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "occupied"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine\n")
    message = assert_error(run_prov(home, "init", folder), 2)
    assert str(folder) in message
    assert sorted(p.name for p in folder.iterdir()) == ["keep.txt"]


def test_init_on_a_file_is_exit_2(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "a-file"
    path.write_text("x")
    assert_error(run_prov(home, "init", path), 2)
    assert path.read_text() == "x"


def test_init_into_an_existing_case_is_exit_2(home: Path, case: Path) -> None:
    before = (case / "custody" / "log.jsonl").read_bytes()
    assert_error(run_prov(home, "init", case), 2)
    assert (case / "custody" / "log.jsonl").read_bytes() == before


BAD_URLS = [
    "not-a-url",
    "ftp://x",
    "http://",
    "file:///etc/passwd",
    "http://127.0.0.1:99999/",
    "http://[::1",
]


@pytest.mark.parametrize("url", BAD_URLS)
def test_bad_url_is_exit_2(home: Path, case: Path, url: str) -> None:
    message = assert_error(run_prov(home, "snapshot", "--case", case, url), 2)
    assert url in message
    assert not any((case / "captures").iterdir())
    assert len(log_entries(home, case)) == 1


def test_unreachable_host_is_exit_5(home: Path, case: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/"
    result = run_prov(home, "snapshot", "--case", case, url, "--timeout", "5")
    assert result.returncode == 5, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert re.search(rf"^FAILED\t{re.escape(url)}\t", result.stdout, re.M)
    # the failed attempt is itself recorded: a capture and a capture-failed entry
    actions = [e["action"] for e in log_entries(home, case)]
    assert actions[-2:] == ["capture", "capture-failed"]


def test_unreachable_host_says_so_on_stderr(home: Path, case: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/"
    assert_error(run_prov(home, "snapshot", "--case", case, url, "--timeout", "5"), 5)


# -- finding the case ------------------------------------------------------------------------


def _case_id(home: Path, **how: Any) -> str:
    cwd = how.pop("cwd", None)
    args = ["log", "show", "--json", *how.pop("args", [])]
    result = checked(run_prov(home, *args, cwd=cwd, **how))
    return str(json.loads(result.stdout)[0]["details"]["caseId"])


def test_case_discovery(home: Path, case: Path, tmp_path: Path) -> None:
    other = tmp_path / "other-case"
    other_id = checked(run_prov(home, "init", other)).stdout.strip()
    case_id = json.loads((case / "case.json").read_bytes())["id"]
    assert other_id != case_id
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    inside = case / "captures"

    assert _case_id(home, args=["--case", str(case)], cwd=elsewhere) == case_id
    assert _case_id(home, cwd=elsewhere, PROV_CASE=str(other)) == other_id
    assert _case_id(home, cwd=inside) == case_id
    assert _case_id(home, cwd=case) == case_id
    # --case beats $PROV_CASE, which beats the current directory
    assert (
        _case_id(home, args=["--case", str(case)], cwd=elsewhere, PROV_CASE=str(other)) == case_id
    )
    assert _case_id(home, cwd=inside, PROV_CASE=str(other)) == other_id
    # a $PROV_CASE that is not a case is an error, not a silent fall back to the cwd
    assert_error(run_prov(home, "log", "show", cwd=inside, PROV_CASE=str(elsewhere)), 4)


def test_snapshot_finds_the_case_from_inside_it(home: Path, case: Path, site: str) -> None:
    result = checked(run_prov(home, "snapshot", f"{site}/", cwd=case / "custody"))
    assert "sealed in captures/" in result.stdout
    assert [e["action"] for e in log_entries(home, case)] == ["init", "capture"]
