"""An auditor's actions never damage a case (provenance.custody.signers): every command that
would add an entry the case could not verify, or a cosignature verify could not read back,
refuses with exit 6 and a one-line hint before it writes anything, and before it asks for a
passphrase."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import make_case, prov_env, run_prov
from servers import LocalServer

# every file under the case (state/ aside: derived), to show a refusal changed nothing
Snapshot = dict[str, str]


def evidence(case: Path) -> Snapshot:
    out = {}
    for path in sorted(case.rglob("*")):
        rel = path.relative_to(case).as_posix()
        if path.is_file() and not rel.startswith("state/") and rel != ".lock":
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def verified(case: Path, env: dict[str, str]) -> None:
    proc = run_prov("verify", str(case), env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A case with one capture by key "default"; key "auditor" exists but the case does not
    trust it. Yields the folder and the capture id; tests work on copies."""
    tmp = tmp_path_factory.mktemp("signers")
    case, _ = make_case(tmp)
    env = prov_env(tmp)
    assert run_prov("keys", "generate", "--key", "auditor", env=env).returncode == 0
    with LocalServer() as server:
        proc = run_prov("snapshot", "--case", str(case), "--tsa", "none",
                        server.url("/page.html"), env=env)
    assert proc.returncode == 0, proc.stderr
    [capture] = [p.name for p in (case / "captures").glob("*/*/*/*")]
    yield tmp, capture


@pytest.fixture
def copy(base: tuple[Path, str], tmp_path: Path) -> tuple[Path, dict[str, str], str]:
    """(case, env, capture id): a fresh copy of the base case and PROV_HOME."""
    src, capture = base
    shutil.copytree(src / "case", tmp_path / "case", symlinks=True)
    shutil.copytree(src / "prov-home", tmp_path / "prov-home", symlinks=True)
    return tmp_path / "case", prov_env(tmp_path), capture


def untrusted_commands(case: Path, out: Path, capture: str) -> dict[str, list[str]]:
    c = ["--case", str(case), "--key", "auditor"]
    tsa = ["--tsa", "none"]
    other = str(out.parent / "prov-home" / "keys" / "default.pub")
    return {
        "disclose": ["disclose", *c, *tsa, "--capture", capture[:8], "-o", str(out)],
        "keys add": ["keys", "add", other, *c, *tsa],
        "custody transfer": ["custody", "transfer", "--to", other, *c, *tsa],
        "custody dispose": ["custody", "dispose", "--as", "archived", *c, *tsa],
        "timestamp": ["timestamp", *c, *tsa],
        "log repair": ["log", "repair", *c, *tsa],
        "export wacz": ["export", "wacz", *c, *tsa, "-o", str(out)],
        "export bag": ["export", "bag", *c, *tsa, "-o", str(out)],
        "report": ["report", *c, *tsa, "-o", str(out)],
        "snapshot": ["snapshot", *c, *tsa, "http://127.0.0.1:9/never-fetched"],
    }


COMMANDS = list(untrusted_commands(Path("c"), Path("o"), "x" * 8))


@pytest.mark.parametrize("command", COMMANDS)
def test_a_key_the_case_does_not_trust_writes_nothing(
        copy: tuple[Path, dict[str, str], str], tmp_path: Path, command: str) -> None:
    case, env, capture = copy
    out = tmp_path / "out"
    before = evidence(case)
    del env["PROV_KEY_PASSPHRASE"]  # refused before the passphrase would be asked
    proc = run_prov(*untrusted_commands(case, out, capture)[command], env=env)
    assert proc.returncode == 6, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("prov: error: key 'auditor' (ed25519:")
    assert "is not trusted by this case: an entry it signed would fail every verify, so " \
           "nothing was written" in lines[0]
    assert lines[1] == ("prov: hint: `prov keys export --key auditor > auditor.pub && prov "
                        "keys add auditor.pub --key default` makes the case trust it; or sign "
                        "with --key default")
    assert len(lines) == 2 and "Traceback" not in proc.stderr
    assert not out.exists()
    assert evidence(case) == before
    verified(case, env | {"PROV_KEY_PASSPHRASE": "test-passphrase"})


def test_following_the_hint_lets_the_auditor_disclose(
        copy: tuple[Path, dict[str, str], str], tmp_path: Path) -> None:
    case, env, capture = copy
    pub = tmp_path / "auditor.pub"
    proc = run_prov("keys", "export", "--key", "auditor", env=env)
    pub.write_text(proc.stdout)
    proc = run_prov("keys", "add", str(pub), "--case", str(case), "--key", "default",
                    "--tsa", "none", env=env)
    assert proc.returncode == 0, proc.stderr
    proc = run_prov("disclose", "--case", str(case), "--key", "auditor", "--tsa", "none",
                    "--capture", capture[:8], "-o", str(tmp_path / "out"), env=env)
    assert proc.returncode == 0, proc.stderr
    verified(case, env)


def test_without_a_key_the_case_trusts_in_home_the_hint_names_the_custodian(
        copy: tuple[Path, dict[str, str], str], tmp_path: Path) -> None:
    case, env, _ = copy
    (tmp_path / "prov-home" / "keys" / "default.pub").unlink()
    proc = run_prov("custody", "dispose", "--as", "archived", "--case", str(case), "--key",
                    "auditor", "--tsa", "none", env=env)
    assert proc.returncode == 6, proc.stderr
    assert proc.stderr.splitlines()[1] == (
        "prov: hint: send `prov keys export --key auditor` to the case's custodian, who runs "
        "`prov keys add auditor.pub` to make the case trust it")


@pytest.mark.parametrize("name", ["Auditor B", "Auditor\tB", "a+b", "", "x" * 256])
def test_a_cosigner_name_verify_cannot_read_back_is_refused(
        copy: tuple[Path, dict[str, str], str], name: str) -> None:
    case, env, _ = copy
    before = evidence(case)
    del env["PROV_KEY_PASSPHRASE"]  # refused before the passphrase would be asked
    proc = run_prov("verify", str(case), "--record", "--key", "auditor", "--cosigner-name",
                    name, env=env)
    assert proc.returncode == 6, proc.stderr
    assert proc.stderr.startswith("prov: error: cosigner name ")  # the name, escaped
    assert " cannot go in a cosignature: " in proc.stderr.splitlines()[0]
    assert "nothing was written" in proc.stderr
    assert proc.stderr.splitlines()[1] == (
        "prov: hint: use a name without spaces, e.g. 'Auditor-B' or 'audit.example/b'")
    assert evidence(case) == before
    verified(case, env | {"PROV_KEY_PASSPHRASE": "test-passphrase"})


@pytest.mark.parametrize("name", ["Auditor-B", "audit.example/b", "Prüferin_B"])
def test_an_auditors_cosignature_under_a_good_name_verifies(
        copy: tuple[Path, dict[str, str], str], name: str) -> None:
    """The auditor's key need not be trusted by the case: a cosignature adds no trust."""
    case, env, _ = copy
    proc = run_prov("verify", str(case), "--record", "--key", "auditor", "--cosigner-name",
                    name, env=env)
    assert proc.returncode == 0, proc.stderr
    assert f"cosignature by {name} (ed25519:" in proc.stdout
    [cosig] = list((case / "custody" / "checkpoints").glob("*/*.cosignature"))
    assert f"\u2014 {name} ".encode() in cosig.read_bytes()
    proc = run_prov("verify", str(case), env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_note_that_is_not_unicode_is_refused(
        copy: tuple[Path, dict[str, str], str]) -> None:
    """A note from a non-UTF-8 command line (bytes 0xff) cannot be RFC 8785 JSON."""
    case, env, _ = copy
    before = evidence(case)
    proc = run_prov("custody", "dispose", "--as", "archived", "--note",
                    os.fsdecode(b"bad \xff note"), "--case", str(case), "--tsa", "none",
                    env=env)
    assert proc.returncode == 6, proc.stderr
    assert "a disposition entry cannot hold what was given (input contains non-UTF-8 " \
           "codepoints); nothing was written" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert evidence(case) == before
    verified(case, env)
