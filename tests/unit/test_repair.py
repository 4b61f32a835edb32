"""provenance.repair: what an interrupted command left is completed, and the case verifies."""

from __future__ import annotations

import shutil
from pathlib import Path

from exports import Built

from provenance import api
from provenance.base import timefmt
from provenance.custody.case import Case
from provenance.repair import repair_case


def copy_of(built: Built, tmp_path: Path) -> Case:
    shutil.copytree(built.case, tmp_path / "case", symlinks=True)
    return Case.open(tmp_path / "case")


def verdict(case: Case, built: Built) -> tuple[bool, set[str]]:
    report = api.verify(case.root, [built.pub], remember=False)
    return report.ok, {f.check for f in report.findings if f.status != "pass"}


def test_a_sound_case_needs_nothing(built: Built, tmp_path: Path) -> None:
    case = copy_of(built, tmp_path)
    assert repair_case(case, api.load_key("default"), timefmt.utc_now) == []


def test_a_torn_last_line_is_quarantined_and_logged(built: Built, tmp_path: Path) -> None:
    case = copy_of(built, tmp_path)
    whole = case.log_path.read_bytes()
    case.log_path.write_bytes(whole + b'{"payload":"eyJhY3Rpb24iOiJub3Rl')  # a write cut short
    done = repair_case(case, api.load_key("default"), timefmt.utc_now)
    assert done[0].startswith("quarantined a torn log tail of 32 bytes to state/quarantine/")
    assert case.log_path.read_bytes().startswith(whole)
    quarantined = list((case.root / "state" / "quarantine").iterdir())
    assert [q.read_bytes() for q in quarantined] == [b'{"payload":"eyJhY3Rpb24iOiJub3Rl']
    ok, _ = verdict(case, built)
    assert ok


def test_an_interrupted_checkpoint_write_is_set_aside(built: Built, tmp_path: Path) -> None:
    case = copy_of(built, tmp_path)
    shard = next(p for p in (case.root / "custody" / "checkpoints").iterdir() if p.is_dir())
    (shard / "00000000000000000099.tmp").write_bytes(b"half a checkpoint")
    done = repair_case(case, api.load_key("default"), timefmt.utc_now)
    assert any(
        line.startswith("set aside the interrupted write custody/checkpoints/") for line in done
    )
    assert not list(shard.glob("*.tmp"))
