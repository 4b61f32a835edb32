"""Crash tests: a snapshot killed (SIGKILL) at every failpoint of the commit protocol leaves a
case that verify reads as incomplete, never as tampered; ``prov log repair`` completes it; and
the case keeps working afterwards.

The failpoints are those ``provenance`` passes to ``failpoints.reach``; a test fails if one is
added to the code without being listed here.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from helpers import checked, log_entries, verify_at
from helpers import run_prov_at as run_prov

import provenance
from provenance.base import ids, timefmt
from provenance.signing.dsse import parse_envelope, sign_envelope
from provenance.signing.keys import SigningKey

SEAL = "seal.dsse.json"
LOG = "custody/log.jsonl"

# Where each crash leaves the case, as the warning verify gives before repair.
FAILPOINTS = {
    "after-warc": "capture.incomplete",  # WARCs in captures/.partial, no seal
    "after-seal": "capture.incomplete",  # sealed, still in captures/.partial
    "after-stamp": "capture.incomplete",  # sealed and stamped, still in captures/.partial
    "after-rename": "capture.unlogged",  # in place, not logged
    "before-log": "capture.unlogged",  # the same, with the case lock held
    "after-log-lines": "log.unchecked",  # logged, no checkpoint
}
CRASH_WARNINGS = {"capture.incomplete", "capture.unlogged", "log.unchecked", "log.tail"}


def with_status(report: dict[str, Any], status: str) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["status"] == status]


def checks(findings: list[dict[str, Any]]) -> set[str]:
    return {f["check"] for f in findings}


def captures(home: Path, case: Path) -> list[str]:
    rows = json.loads(checked(run_prov(home, "captures", "list", "--json", "--case", case)).stdout)
    return [row["captureDir"] for row in rows]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, site: str) -> Path:
    """A key in a PROV_HOME and a case holding one capture, copied by each test."""
    base = tmp_path_factory.mktemp("crash-template")
    home, case = base / "home", base / "case"
    checked(run_prov(home, "keys", "generate"))
    checked(run_prov(home, "init", case))
    checked(run_prov(home, "snapshot", "--case", case, f"{site}/", f"{site}/article.html"))
    return base


@pytest.fixture
def work(template: Path, tmp_path: Path) -> tuple[Path, Path]:
    """(home, case), private to the test: verify remembers checkpoints in the home."""
    target = tmp_path / "work"
    shutil.copytree(template, target, symlinks=True)
    return target / "home", target / "case"


def test_every_failpoint_is_covered() -> None:
    package = Path(provenance.__file__).parent
    used = set()
    for source in package.rglob("*.py"):
        used |= set(re.findall(r"failpoints\.reach\(\s*\"([^\"]+)\"", source.read_text()))
    assert used == set(FAILPOINTS)


@pytest.mark.parametrize("failpoint", list(FAILPOINTS))
def test_crash_then_repair(failpoint: str, work: tuple[Path, Path], site: str) -> None:
    home, case = work
    before = captures(home, case)

    crashed = run_prov(
        home, "snapshot", "--case", case, f"{site}/style.css", PROV_FAILPOINT=failpoint
    )
    assert crashed.returncode == -9, (crashed.returncode, crashed.stderr)

    code, report = verify_at(home, case)
    assert code == 0, with_status(report, "fail")
    assert with_status(report, "fail") == []
    assert FAILPOINTS[failpoint] in checks(with_status(report, "warn"))

    repaired = checked(run_prov(home, "log", "repair", "--case", case))
    assert repaired.stdout.strip() and "nothing to repair" not in repaired.stdout

    code, report = verify_at(home, case)
    assert code == 0
    assert with_status(report, "fail") == []
    assert not checks(with_status(report, "warn")) & CRASH_WARNINGS, report["findings"]
    assert not list((case / "captures" / ".partial").glob("*"))

    after = captures(home, case)
    if failpoint == "after-warc":
        # never sealed, so never evidence: set aside, not logged
        assert after == before
        assert len(list((case / "state" / "abandoned").iterdir())) == 1
    else:
        assert len(after) == len(before) + 1

    checked(run_prov(home, "snapshot", "--case", case, f"{site}/images/logo.png"))
    assert len(captures(home, case)) == len(after) + 1
    code, report = verify_at(home, case, "--strict")
    assert code == 0, with_status(report, "warn") + with_status(report, "fail")


def test_torn_log_tail_is_quarantined(work: tuple[Path, Path]) -> None:
    home, case = work
    log = case / LOG
    lines = log.read_bytes().splitlines()
    torn = lines[-1][: len(lines[-1]) // 2]
    with open(log, "ab") as fh:
        fh.write(torn)
    entries_before = len(lines)

    code, report = verify_at(home, case)
    assert code == 0
    assert with_status(report, "fail") == []
    tail = [f for f in with_status(report, "warn") if f["check"] == "log.tail"]
    assert len(tail) == 1
    assert tail[0]["subject"] == LOG

    repaired = checked(run_prov(home, "log", "repair", "--case", case))
    assert "quarantine" in repaired.stdout
    quarantined = list((case / "state" / "quarantine").iterdir())
    assert len(quarantined) == 1
    assert quarantined[0].read_bytes() == torn
    assert log.read_bytes().endswith(b"\n")

    entries = log_entries(home, case)
    assert len(entries) == entries_before + 1
    repair = entries[-1]
    assert repair["action"] == "repair"
    assert repair["details"]["sha256"] == hashlib.sha256(torn).hexdigest()
    assert repair["details"]["quarantined"] == f"state/quarantine/{quarantined[0].name}"

    code, report = verify_at(home, case, "--strict")
    assert code == 0, with_status(report, "warn") + with_status(report, "fail")


def test_repair_with_nothing_to_do_changes_nothing(work: tuple[Path, Path]) -> None:
    home, case = work
    before = (case / LOG).read_bytes()
    result = checked(run_prov(home, "log", "repair", "--case", case))
    assert "nothing to repair" in result.stdout
    assert (case / LOG).read_bytes() == before


def test_repair_sets_aside_a_capture_whose_seal_write_was_torn(
    work: tuple[Path, Path], site: str
) -> None:
    home, case = work
    crashed = run_prov(
        home, "snapshot", "--case", case, f"{site}/style.css", PROV_FAILPOINT="after-warc"
    )
    assert crashed.returncode == -9
    (partial,) = (case / "captures" / ".partial").iterdir()
    (partial / SEAL).write_bytes(b"")  # created, then killed before the write

    code, report = verify_at(home, case)
    assert code == 0
    assert with_status(report, "fail") == []

    checked(run_prov(home, "log", "repair", "--case", case))
    assert (case / "state" / "abandoned" / partial.name).is_dir()
    code, report = verify_at(home, case)
    assert code == 0
    assert not checks(with_status(report, "warn")) & CRASH_WARNINGS


def _forged_seal(capture_id: str, capture_dir: str) -> bytes:
    attacker = SigningKey.generate("attacker")
    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [],
        "predicateType": "https://prov.invalid/capture/v1",
        "predicate": {"captureId": capture_id, "captureDir": capture_dir},
    }
    return sign_envelope("application/vnd.in-toto+json", rfc8785.dumps(statement), attacker)


def test_repair_never_moves_a_partial_outside_the_case(work: tuple[Path, Path]) -> None:
    home, case = work
    partial = case / "captures" / ".partial" / ids.uuid7(timefmt.utc_now())
    partial.mkdir(parents=True)
    (partial / SEAL).write_bytes(_forged_seal(partial.name, "../escaped"))

    run_prov(home, "log", "repair", "--case", case)
    assert not (case.parent / "escaped").exists()


def test_repair_does_not_log_a_capture_sealed_by_an_untrusted_key(work: tuple[Path, Path]) -> None:
    home, case = work
    (existing,) = captures(home, case)
    capture_id = ids.uuid7(timefmt.utc_now())
    planted = f"{existing.rsplit('/', 1)[0]}/{capture_id}"
    shutil.copytree(case / existing, case / planted)
    seal = parse_envelope((case / planted / SEAL).read_bytes(), what="seal")
    statement = json.loads(seal.payload)
    statement["predicate"].update(captureId=capture_id, captureDir=planted)
    attacker = SigningKey.generate("attacker")
    (case / planted / SEAL).write_bytes(
        sign_envelope(seal.payload_type, rfc8785.dumps(statement), attacker)
    )

    code, report = verify_at(home, case)
    assert code == 3
    assert any(f["subject"] == planted for f in with_status(report, "fail"))

    entries_before = len(log_entries(home, case))
    run_prov(home, "log", "repair", "--case", case)
    logged = [e for e in log_entries(home, case)[entries_before:] if e["action"] == "capture"]
    assert logged == []


def test_a_capture_moved_from_another_case_fails_and_repair_never_adopts_it(
    work: tuple[Path, Path],
) -> None:
    """Issue 14, point 8: the same key founds two cases; a capture copied from one into the
    other is sealed by a key the second case trusts, but its seal names the first case."""
    home, case = work
    (existing,) = captures(home, case)
    other = case.parent / "other-case"
    checked(run_prov(home, "init", other))
    shutil.copytree(case / existing, other / existing)
    seal_rel = f"{existing}/{SEAL}"

    code, report = verify_at(home, other)
    assert code == 3
    moved = [f for f in with_status(report, "fail") if f["check"] == "seal.case"]
    assert [f["subject"] for f in moved] == [seal_rel]
    case_id = json.loads((case / "case.json").read_bytes())["id"]
    assert moved[0]["found"] == case_id
    assert moved[0]["expected"] == json.loads((other / "case.json").read_bytes())["id"]
    assert {"subject": existing, "check": "capture.unlogged"}.items() <= next(
        f for f in with_status(report, "fail") if f["check"] == "capture.unlogged").items()

    entries_before = len(log_entries(home, other))
    repaired = run_prov(home, "log", "repair", "--case", other)
    assert "Traceback" not in repaired.stderr
    assert f"NOT logged: {existing}" in repaired.stdout
    assert [e for e in log_entries(home, other)[entries_before:] if e["action"] == "capture"] == []
    code, report = verify_at(home, other)
    assert code == 3
    assert "seal.case" in checks(with_status(report, "fail"))

    code, report = verify_at(home, case)  # where it was sealed, the capture verifies
    assert code == 0, with_status(report, "fail")


def test_a_fork_adopts_its_sources_captures_openly(work: tuple[Path, Path]) -> None:
    """`prov copy --keep-source-writable` makes a new case (a new id) holding the source's
    captures: each capture entry says which case its seal names (sealedFor), so verify
    passes and says so, where a capture merely copied in fails (seal.case)."""
    home, case = work
    (existing,) = captures(home, case)
    fork = case.parent / "fork"
    checked(run_prov(home, "copy", case, fork, "--keep-source-writable"))
    source_id = json.loads((case / "case.json").read_bytes())["id"]
    (entry,) = [e for e in log_entries(home, fork) if e["action"] == "capture"]
    assert entry["details"]["sealedFor"] == source_id
    code, report = verify_at(home, fork)
    assert code == 0, with_status(report, "fail")
    (adopted,) = [f for f in report["findings"] if f["check"] == "seal.case"]
    assert adopted["status"] == "info" and adopted["subject"] == f"{existing}/{SEAL}"
