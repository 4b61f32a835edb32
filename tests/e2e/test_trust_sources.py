"""Trust never comes from the artifact (issue 14, point 7; docs/SECURITY.md "Where trust comes
from"), tried through the real `prov` command the way an attacker would.

The attacker can write any file of the case or package but holds no trusted key, so every
path by which a key, a TSA root or a held checkpoint could be read from inside the target
must be refused: empty option values (the current folder), folders, files inside the target
named directly, through a relative path or through a symbolic link, and a `$PROV_HOME` (or
one of its folders or files) that resolves into the target. Option values are usage errors
(exit 2), `$PROV_HOME` is configuration (exit 6). Each test also shows the same command with
an honest source still works, so a refusal cannot pass for an unrelated error.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import PROV_MAIN, make_case, prov_env, run_prov
from tsa import LocalTSA

from provenance.custody.log import checkpoint_rel

EXIT_OK, EXIT_USAGE, EXIT_INTEGRITY, EXIT_CONFIG = 0, 2, 3, 6


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("trust-template")
    make_case(root)
    return root


@pytest.fixture
def world(template: Path, tmp_path: Path) -> Path:
    """The operator's home and case (copied), and an empty auditor home beside them."""
    shutil.copytree(template, tmp_path, dirs_exist_ok=True)
    (tmp_path / "auditor").mkdir()
    return tmp_path


def founding_pub(world: Path) -> Path:
    return world / "prov-home" / "keys" / "default.pub"


def auditor_env(world: Path, **overrides: str) -> dict[str, str]:
    env = prov_env(world)
    env["PROV_HOME"] = str(world / "auditor")
    env.update(overrides)
    return env


def prov_in(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`prov ARGS` run from the folder `cwd` (run_prov always runs from the test's own)."""
    proc = subprocess.run([sys.executable, "-c", PROV_MAIN, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def refused(proc: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "VERIFIED" not in proc.stdout
    for word in words:
        assert word in proc.stderr, proc.stderr


def plant_founding_key(world: Path, folder: Path) -> None:
    """What an attacker who re-founded a case would plant: its founding key as 'trusted'."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(founding_pub(world), folder / "planted.pub")


# -- option values ---------------------------------------------------------------------------


@pytest.mark.parametrize("option", ["--trust", "--tsa-root", "--since"])
def test_empty_option_value_is_a_usage_error(world: Path, option: str) -> None:
    case = world / "case"
    (case / "root.pem").write_bytes(LocalTSA().root_pem)  # what '' would have read, cwd = case
    plant_founding_key(world, case)
    proc = prov_in(case, auditor_env(world), "verify", ".", option, "")
    refused(proc, EXIT_USAGE, option, "an empty path names nothing")


def test_empty_target_and_case_are_usage_errors(world: Path) -> None:
    env = auditor_env(world)
    refused(prov_in(world / "case", env, "verify", ""), EXIT_USAGE, "TARGET", "empty path")
    refused(prov_in(world / "case", env, "log", "show", "--case", ""), EXIT_USAGE, "--case")


def test_empty_trust_id_is_a_usage_error(world: Path) -> None:
    proc = run_prov("verify", str(world / "case"), "--trust-id", "", env=auditor_env(world))
    refused(proc, EXIT_USAGE, "--trust-id", "not a key id")


def test_a_folder_is_no_anchor(world: Path) -> None:
    (world / "roots").mkdir()
    for option in ("--trust", "--tsa-root", "--since"):
        proc = run_prov("verify", str(world / "case"), option, str(world / "roots"),
                        env=auditor_env(world))
        refused(proc, EXIT_USAGE, option)


def _inside_files(world: Path) -> dict[str, Path]:
    case = world / "case"
    (case / "root.pem").write_bytes(LocalTSA().root_pem)
    (key,) = (case / "keys").glob("*.pub")  # the case's own cache of the founding key
    return {"--trust": key, "--tsa-root": case / "root.pem",
            "--since": case / checkpoint_rel(1)}


@pytest.mark.parametrize("option", ["--trust", "--tsa-root", "--since"])
def test_a_file_inside_the_target_is_no_anchor(world: Path, option: str) -> None:
    path = _inside_files(world)[option]
    proc = run_prov("verify", str(world / "case"), option, str(path), env=auditor_env(world))
    refused(proc, EXIT_USAGE, option, "inside the target being verified",
            "cannot be a trust anchor")
    # the same bytes from outside the case are the verifier's own choice: accepted
    outside = world / f"copy-{path.name}"
    shutil.copy(path, outside)
    (world / "case" / "root.pem").unlink()  # planted: an added file fails the case itself
    proc = run_prov("verify", str(world / "case"), option, str(outside), "--allow-unanchored",
                    env=auditor_env(world))
    assert proc.returncode == EXIT_OK, proc.stdout + proc.stderr


@pytest.mark.parametrize("option", ["--trust", "--tsa-root", "--since"])
def test_a_link_or_relative_path_into_the_target_is_no_anchor(world: Path, option: str) -> None:
    path = _inside_files(world)[option]
    link = world / f"link-{path.name}"
    link.symlink_to(path)
    proc = run_prov("verify", str(world / "case"), option, str(link), env=auditor_env(world))
    refused(proc, EXIT_USAGE, "inside the target being verified")
    relative = path.relative_to(world / "case")  # standing in the case, as an auditor might
    proc = prov_in(world / "case", auditor_env(world), "verify", ".", option, str(relative))
    refused(proc, EXIT_USAGE, "inside the target being verified")


def test_verify_proof_takes_no_anchor_from_the_proof(world: Path) -> None:
    proof = world / "proof.json"
    proc = run_prov("log", "prove", "--entry", "0", "-o", str(proof), "--case",
                    str(world / "case"), env=prov_env(world))
    assert proc.returncode == EXIT_OK, proc.stderr
    env = auditor_env(world)
    for option in ("--trust", "--checkpoint"):
        refused(run_prov("log", "verify-proof", str(proof), option, "", env=env), EXIT_USAGE,
                option, "empty path")
        refused(run_prov("log", "verify-proof", str(proof), option, str(proof), env=env),
                EXIT_USAGE, "inside the target")
    proc = run_prov("log", "verify-proof", str(proof), "--trust", str(founding_pub(world)),
                    env=env)
    assert proc.returncode == EXIT_OK and "checkpoint signed by" in proc.stdout, proc.stderr


# -- $PROV_HOME -------------------------------------------------------------------------------


@pytest.mark.parametrize("home", [".", "home", "ABSOLUTE"])
def test_a_prov_home_inside_the_target_is_a_configuration_error(world: Path, home: str) -> None:
    """Standing in the case with PROV_HOME=. (or a relative or absolute path into it), the
    case's own `trusted/` would anchor it: before this check, `verify --strict` said VERIFIED
    with "founding key ... is trusted by this verifier"."""
    case = world / "case"
    folder = case / ("" if home == "." else "home")
    plant_founding_key(world, folder / "trusted")
    value = str(folder) if home == "ABSOLUTE" else home
    proc = prov_in(case, auditor_env(world, PROV_HOME=value), "verify", ".", "--strict")
    refused(proc, EXIT_CONFIG, "$PROV_HOME", "inside the target being verified")
    assert not (folder / "seen").exists()  # nothing was remembered inside the evidence
    shutil.rmtree(folder / "trusted" if home == "." else folder)  # planted: a case.unexpected
    # the same case from its parent folder, PROV_HOME relative but outside it: no refusal
    proc = prov_in(world, auditor_env(world, PROV_HOME="auditor"), "verify", "case", "--json",
                   "--allow-unanchored")
    assert proc.returncode == EXIT_OK, proc.stderr
    anchor = [f for f in json.loads(proc.stdout)["findings"] if f["check"] == "trust.anchor"]
    assert [f["status"] for f in anchor] == ["warn"]


def test_a_prov_home_folder_or_file_linked_into_the_target_is_refused(world: Path) -> None:
    case, auditor = world / "case", world / "auditor"
    plant_founding_key(world, case / "planted")
    (auditor / "trusted").symlink_to(case / "planted")
    proc = run_prov("verify", str(case), env=auditor_env(world))
    refused(proc, EXIT_CONFIG, "trusted", "inside the target being verified")
    (auditor / "trusted").unlink()
    (auditor / "trusted").mkdir()
    (auditor / "trusted" / "k.pub").symlink_to(case / "planted" / "planted.pub")
    proc = run_prov("verify", str(case), env=auditor_env(world))
    refused(proc, EXIT_CONFIG, "k.pub", "a link into the target")
    (auditor / "tsa-roots").symlink_to(case / "certs")
    (auditor / "trusted" / "k.pub").unlink()
    proc = run_prov("verify", str(case), env=auditor_env(world))
    refused(proc, EXIT_CONFIG, "tsa-roots", "inside the target being verified")


def test_an_empty_prov_home_is_the_default_folder_not_the_current_one(world: Path) -> None:
    case = world / "case"
    plant_founding_key(world, case / "trusted")
    user = world / "user"
    env = auditor_env(world, PROV_HOME="", HOME=str(user))
    env.pop("XDG_CONFIG_HOME", None)
    proc = prov_in(case, env, "verify", ".", "--json", "--allow-unanchored")
    findings = json.loads(proc.stdout)["findings"]
    # the planted folder is an added file of the case (its only failure), and it was not read
    assert {(f["check"], f["subject"]) for f in findings if f["status"] == "fail"} == {
        ("case.unexpected", "trusted")}, proc.stdout
    anchor = [f for f in findings if f["check"] == "trust.anchor"]
    assert [f["status"] for f in anchor] == ["warn"]
    assert not (case / "seen").exists()  # an unanchored log is not remembered anywhere
    shutil.rmtree(case / "trusted")
    proc = prov_in(case, env, "verify", ".", "--json", "--trust", str(founding_pub(world)))
    assert proc.returncode == EXIT_OK, proc.stderr
    assert not (case / "seen").exists()
    assert list((user / ".config" / "prov" / "seen").rglob("*.checkpoint"))


def test_the_users_own_trusted_key_still_anchors(world: Path) -> None:
    trusted = world / "auditor" / "trusted"
    trusted.mkdir()
    shutil.copy(founding_pub(world), trusted / "operator.pub")
    proc = run_prov("verify", str(world / "case"), "--json", env=auditor_env(world))
    assert proc.returncode == EXIT_OK, proc.stderr
    anchor = [f for f in json.loads(proc.stdout)["findings"] if f["check"] == "trust.anchor"]
    assert [f["status"] for f in anchor] == ["pass"]


# -- hard links -------------------------------------------------------------------------------


def test_a_hard_link_into_the_target_is_no_anchor(world: Path) -> None:
    """A hard link has no real path into the case: ``trusted/op.pub`` and the case's key cache
    can be one file, which whoever writes the case rewrites in place. It is found by identity
    (st_dev, st_ino), named by option (exit 2) or in $PROV_HOME (exit 6)."""
    case, auditor = world / "case", world / "auditor"
    (key,) = (case / "keys").glob("*.pub")
    named = world / "operator.pub"
    named.hardlink_to(key)
    proc = run_prov("verify", str(case), "--trust", str(named), env=auditor_env(world))
    refused(proc, EXIT_USAGE, "--trust", "a hard link to", "cannot be a trust anchor")
    named.unlink()
    (auditor / "trusted").mkdir()
    (auditor / "trusted" / "op.pub").hardlink_to(key)
    proc = run_prov("verify", str(case), env=auditor_env(world))
    refused(proc, EXIT_CONFIG, "op.pub", "a hard link to", "choose its own trust")
    (auditor / "trusted" / "op.pub").unlink()
    root = case / "certs" / "planted.pem"
    root.write_bytes(LocalTSA().root_pem)
    (auditor / "tsa-roots").mkdir()
    (auditor / "tsa-roots" / "root.pem").hardlink_to(root)
    proc = run_prov("verify", str(case), env=auditor_env(world))
    refused(proc, EXIT_CONFIG, "root.pem", "a hard link to")
    root.unlink()
    # a remembered checkpoint linked into the case: the case would rewrite the verifier's memory
    proc = run_prov("verify", str(case), "--trust", str(founding_pub(world)),
                    env=auditor_env(world))
    assert proc.returncode == EXIT_OK, proc.stdout + proc.stderr
    seen = next((auditor / "seen").rglob("*.checkpoint"))
    (case / "state" / "kept.checkpoint").hardlink_to(seen)
    proc = run_prov("verify", str(case), "--trust", str(founding_pub(world)),
                    env=auditor_env(world))
    refused(proc, EXIT_CONFIG, seen.name, "a hard link to", "its own history")
    # a key with a second link outside the case is the verifier's own business: accepted
    (case / "state" / "kept.checkpoint").unlink()
    (world / "backup.pub").hardlink_to(founding_pub(world))
    proc = run_prov("verify", str(case), "--trust", str(founding_pub(world)),
                    env=auditor_env(world))
    assert proc.returncode == EXIT_OK, proc.stdout + proc.stderr
