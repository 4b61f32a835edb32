"""provenance.custody.derived: derived state never trusts what it finds at its own paths."""

from __future__ import annotations

import os
from pathlib import Path

from provenance.custody.derived import discard, make_way


def test_make_way_moves_aside_what_prov_never_writes(tmp_path: Path) -> None:
    (tmp_path / "folder-for-file").mkdir()
    (tmp_path / "folder-for-file" / "x").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path)
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "file-for-folder").write_text("x")
    for name in ("folder-for-file", "link", "fifo"):
        make_way(tmp_path / name)
    make_way(tmp_path / "file-for-folder", folder=True)
    assert sorted(os.listdir(tmp_path)) == []


def test_make_way_leaves_the_right_kind_alone(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("kept")
    (tmp_path / "d").mkdir()
    make_way(tmp_path / "f")
    make_way(tmp_path / "d", folder=True)
    make_way(tmp_path / "missing")
    make_way(tmp_path / "f" / "under-a-file")
    assert (tmp_path / "f").read_text() == "kept" and (tmp_path / "d").is_dir()


def test_discard_removes_deep_trees_and_nothing_else(tmp_path: Path) -> None:
    deep = tmp_path / "deep"
    deep.joinpath(*["d"] * 50).mkdir(parents=True)
    (tmp_path / "other").write_text("x")
    discard(deep)
    discard(tmp_path / "missing")
    assert os.listdir(tmp_path) == ["other"]
