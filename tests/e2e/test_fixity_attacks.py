"""Attacks on `prov verify --fixity` and on the custody log's readers (issue 14): someone who
can write the case, but holds no trusted key, must not get a pass for evidence that differs
from what was sealed, nor a crash (exit 1), a hang or unbounded work.

One case is built per module (the demo site and a synthetic capture, stamped by a local TSA)
and copied for each test; the verifier is an auditor with its own ``$PROV_HOME``, given the
founding key and the TSA root on the command line. Each attack runs through the fixity check
and, where the verdict is concerned, through a full verify too: both must fail it, at the
same place.
"""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from exports import Built, build
from helpers import run_prov_at, verify_at
from tsa import LocalTSA


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    with LocalTSA() as tsa:
        made = build(tmp_path_factory.mktemp("fixity-attacks"), tsa)
        made.tsa_root()
        yield made


@pytest.fixture
def case(built: Built, tmp_path: Path) -> Path:
    target = tmp_path / "case"
    shutil.copytree(built.case, target, symlinks=True)
    return target


@pytest.fixture
def auditor(tmp_path: Path) -> Path:
    home = tmp_path / "auditor-home"
    home.mkdir()
    return home


def verify(built: Built, auditor: Path, case: Path, *args: str) -> tuple[int, dict[str, Any]]:
    return verify_at(auditor, case, "--trust", built.pub, "--tsa-root", built.tsa_root(), *args)


def failed(report: dict[str, Any]) -> set[tuple[str, str]]:
    return {(f["check"], f["subject"]) for f in report["findings"] if f["status"] == "fail"}


def capture_dir(case: Path, index: int = 0) -> Path:
    return sorted(case.glob("captures/*/*/*/*"))[index]


def rel(case: Path, path: Path) -> str:
    return path.relative_to(case).as_posix()


def edit_entry(case: Path, index: int, edit: Callable[[dict[str, Any]], None]) -> None:
    """Rewrite the payload of log entry ``index`` (its signature no longer verifies)."""
    log = case / "custody" / "log.jsonl"
    lines = log.read_bytes().split(b"\n")
    envelope = json.loads(lines[index])
    payload = json.loads(base64.b64decode(envelope["payload"]))
    edit(payload)
    envelope["payload"] = base64.b64encode(json.dumps(payload).encode()).decode()
    lines[index] = json.dumps(envelope, separators=(",", ":")).encode()
    log.write_bytes(b"\n".join(lines))


# -- the log's readers: an edited entry is shown or refused, never a crash --------------------


@pytest.mark.parametrize("value", ["x", 1.5, [1], True, -3])
def test_a_capture_entry_with_a_count_that_is_no_count_is_shown_not_a_crash(
        value: object, built: Built, case: Path) -> None:
    def edit(payload: dict[str, Any]) -> None:
        payload["details"]["urls"] = value
        payload["details"]["failed"] = value

    edit_entry(case, 1, edit)
    capture_id = capture_dir(case).name
    proc = run_prov_at(built.root / "prov-home", "captures", "show", capture_id[:13],
                       "--case", case, "--json")
    assert proc.returncode == 0, (proc.returncode, proc.stderr)
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr
    shown = json.loads(proc.stdout)
    assert (shown["captureId"], shown["urls"], shown["failed"]) == (capture_id, 0, 0)
