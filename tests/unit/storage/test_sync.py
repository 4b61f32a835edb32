"""provenance.storage.sync: the mirror's record of what it pushed is only a hint, read back
whole or not at all, and its checkpoint floor follows the newest names seen."""

from __future__ import annotations

import shutil
from pathlib import Path

from exports import Built

from provenance.custody.case import Case
from provenance.storage.sync import SYNC, advance_floor, checkpoint_size, load_sync, save_sync


def test_checkpoint_size_of_a_name() -> None:
    assert checkpoint_size("00000000000000000012.checkpoint") == 12
    assert checkpoint_size("00000000000000000012.0123456789abcdef.tsr") == 12
    assert checkpoint_size("not-a-checkpoint") is None


def test_the_floor_keeps_only_the_newest_names() -> None:
    sync = {"pushed": 3, "floor": 2, "known": ["00000000000000000002.checkpoint"]}
    advance_floor(sync, ["00000000000000000003.checkpoint", "00000000000000000003.aa.tsr"])
    assert sync["floor"] == 3
    assert sync["known"] == ["00000000000000000003.aa.tsr", "00000000000000000003.checkpoint"]


def test_round_trip_and_a_damaged_file_reads_as_nothing_pushed(built: Built,
                                                               tmp_path: Path) -> None:
    shutil.copytree(built.case, tmp_path / "case", symlinks=True)
    case = Case.open(tmp_path / "case")
    assert load_sync(case) == {"pushed": 0, "floor": 0, "known": []}
    save_sync(case, {"pushed": 5, "floor": 4, "known": ["x"]})
    assert load_sync(case) == {"pushed": 5, "floor": 4, "known": ["x"]}
    (case.state_dir / SYNC).write_text('{"pushed": "five"}')
    assert load_sync(case) == {"pushed": 0, "floor": 0, "known": []}
