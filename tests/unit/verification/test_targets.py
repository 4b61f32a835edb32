"""provenance.verification.targets: what kind of target `prov verify` was given, and why."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest

from archive.errors import NotATargetError, UsageError
from provenance.verification.targets import decide_kind


def test_folders_by_their_marker(tmp_path: Path) -> None:
    for name, marker, kind in (
        ("c", "case.json", "case"),
        ("d", "disclosure.json", "disclosure"),
        ("b", "bagit.txt", "bag"),
    ):
        (tmp_path / name).mkdir()
        (tmp_path / name / marker).write_text("{}")
        assert decide_kind(tmp_path / name).kind == kind
    (tmp_path / "c2" / "custody").mkdir(parents=True)
    assert decide_kind(tmp_path / "c2").reason == "custody/ at its root"


def test_a_damaged_case_is_still_a_case(tmp_path: Path) -> None:
    (tmp_path / "c" / "captures").mkdir(parents=True)
    found = decide_kind(tmp_path / "c")
    assert found.kind == "case"
    assert "case.json missing" in found.reason


def test_files_wacz_and_proof(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as archive:
        archive.writestr("x", "y")
    assert decide_kind(tmp_path / "a.zip").kind == "wacz"
    (tmp_path / "b.wacz").write_bytes(b"not a zip")
    assert decide_kind(tmp_path / "b.wacz").reason == "named .wacz, not a ZIP (a damaged WACZ)"
    (tmp_path / "p.json").write_text('  {"schema": "x"}')
    assert decide_kind(tmp_path / "p.json").kind == "proof"


def test_nothing_prov_knows_is_exit_4(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "text").write_text("hello")
    os.mkfifo(tmp_path / "fifo")
    for name in ("empty", "text", "missing", "fifo"):
        with pytest.raises(NotATargetError):
            decide_kind(tmp_path / name)


def test_as_pins_the_kind_and_refuses_an_unknown_one(tmp_path: Path) -> None:
    assert decide_kind(tmp_path / "anything", "bag").reason == "--as bag"
    with pytest.raises(UsageError, match="--as folder: expected one of"):
        decide_kind(tmp_path, "folder")
