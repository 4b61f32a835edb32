"""Derived state (issue 14, point 2; docs/SECURITY.md, "Derived state"): nothing in CASE/state/
steers what the operator signs.

Each test changes a file in state/ the way someone who can write the case could, runs the next
command that signs, and checks that the operator signed only what the evidence says (verify
passes, or names the planted lie) and was warned that the state was rebuilt.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import make_case, prov_env, run_prov
from scheduling import WatchedSite, verify_ok
from servers import LocalServer

TREE = Path("state") / "tree"


@pytest.fixture
def site(http_server: LocalServer) -> WatchedSite:
    site = WatchedSite(http_server)
    site.page("/post", "<p>" + "an article " * 200 + "</p>")
    return site


def snapshot(env: dict[str, str], case: Path, site: WatchedSite) -> Any:
    proc = run_prov("snapshot", "--case", str(case), "-q", site.url("/post"), env=env)
    assert "Traceback" not in proc.stderr
    return proc


def flip(path: Path, offset: int = -1) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def top_level(case: Path) -> Path:
    return max((case / TREE).glob("level-*.bin"))


@pytest.mark.parametrize("where", ["every level", "top"])
def test_a_changed_tree_cache_is_rebuilt_before_the_operator_signs(
        where: str, site: WatchedSite, tmp_path: Path) -> None:
    """A flipped byte in state/tree used to make the operator sign a false checkpoint, after
    which the case failed forever, blamed on the operator's own signature."""
    case, key_pub = make_case(tmp_path)
    env = prov_env(tmp_path)
    assert snapshot(env, case, site).returncode == 0
    for level in (case / TREE).glob("level-*.bin") if where == "every level" else [
            top_level(case)]:
        flip(level)

    proc = snapshot(env, case, site)
    assert proc.returncode == 0, proc.stderr
    assert "prov: warning: state/tree" in proc.stderr and "rebuilt" in proc.stderr
    verify_ok(env, case, key_pub)
    assert "warning" not in snapshot(env, case, site).stderr  # rebuilt once, in step since


def test_a_changed_tree_cache_is_caught_after_another_operators_checkpoint(
        site: WatchedSite, tmp_path: Path) -> None:
    """The latest checkpoint is another trusted key's: the cache is held to the log itself."""
    case, key_pub = make_case(tmp_path)
    env = prov_env(tmp_path)
    other = prov_env(tmp_path / "other")
    Path(other["PROV_HOME"]).mkdir(parents=True)
    assert run_prov("keys", "generate", env=other).returncode == 0
    other_pub = Path(other["PROV_HOME"]) / "keys" / "default.pub"
    assert run_prov("keys", "add", str(other_pub), "--case", str(case), env=env).returncode == 0
    assert snapshot(other, case, site).returncode == 0
    flip(top_level(case))

    proc = snapshot(env, case, site)
    assert proc.returncode == 0, proc.stderr
    assert "state/tree" in proc.stderr and "rebuilt" in proc.stderr
    verify_ok(env, case, key_pub)


def test_a_log_that_differs_from_the_operators_checkpoint_is_not_signed_over(
        site: WatchedSite, tmp_path: Path) -> None:
    case, _ = make_case(tmp_path)
    env = prov_env(tmp_path)
    assert snapshot(env, case, site).returncode == 0
    log = case / "custody" / "log.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    entry = json.loads(lines[1])
    entry["payload"] = entry["payload"][:-8] + ("A" if entry["payload"][-8] != "A" else "B") + (
        entry["payload"][-7:])
    lines[1] = json.dumps(entry, separators=(",", ":")).encode() + b"\n"
    log.write_bytes(b"".join(lines))
    before = log.read_bytes()
    (case / TREE / "meta.json").unlink()  # the cache is rebuilt from the changed log

    proc = snapshot(env, case, site)
    assert proc.returncode == 3, proc.stderr
    assert "differ from the checkpoint of that size you signed" in proc.stderr
    assert log.read_bytes() == before
