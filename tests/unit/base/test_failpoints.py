"""provenance.base.failpoints: the named point kills the process, any other name is a no-op."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from provenance.base import failpoints

SCRIPT = "from provenance.base.failpoints import reach; reach('a'); reach('b'); print('past')"


def run(failpoint: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PROV_FAILPOINT"}
    if failpoint is not None:
        env["PROV_FAILPOINT"] = failpoint
    return subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_reaching_the_named_point_kills_the_process() -> None:
    proc = run("b")
    assert proc.returncode == -signal.SIGKILL
    assert "past" not in proc.stdout


def test_other_points_and_no_failpoint_go_on() -> None:
    for failpoint in (None, "c", ""):
        proc = run(failpoint)
        assert (proc.returncode, proc.stdout) == (0, "past\n")


def test_reach_without_the_variable_returns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROV_FAILPOINT", raising=False)
    assert failpoints.reach("after-seal") is None
