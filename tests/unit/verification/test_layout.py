"""provenance.verification.layout: every entry of a case is one its layout names."""

from __future__ import annotations

import os
from pathlib import Path

from provenance.base.report import Report
from provenance.verification.layout import BAG, judge_layout


def findings(root: Path, **kw: object) -> set[tuple[str, str, str]]:
    report = Report(str(root), "case")
    judge_layout(root, report, **kw)  # type: ignore[arg-type]
    return {(f.status, f.check, f.subject) for f in report.findings}


def test_a_case_shaped_tree_has_no_findings(tmp_path: Path) -> None:
    for folder in ("keys", "captures/2026/01/02/abc/sub", "custody/checkpoints/00", "state/x"):
        (tmp_path / folder).mkdir(parents=True)
    for name in (
        "case.json",
        "custody/log.jsonl",
        "keys/" + "a" * 64 + ".pub",
        "captures/2026/01/02/abc/anything",
        "state/x/y",
    ):
        (tmp_path / name).write_text("x")
    assert findings(tmp_path) == set()


def test_unexpected_entries_links_and_fifos_fail(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "case.json").mkdir()  # a folder where a file belongs
    (tmp_path / "keys" / "planted.pub").write_text("x")
    (tmp_path / "extra.txt").write_text("x")
    (tmp_path / "custody").symlink_to("/")
    os.mkfifo(tmp_path / "config.toml")
    assert findings(tmp_path) == {
        ("fail", "case.unexpected", "case.json"),
        ("fail", "case.unexpected", "keys/planted.pub"),
        ("fail", "case.unexpected", "extra.txt"),
        ("fail", "file.symlink", "custody"),
        ("fail", "file.type", "config.toml"),
    }


def test_a_bag_layout_leaves_data_to_the_case(tmp_path: Path) -> None:
    (tmp_path / "data" / "whatever").mkdir(parents=True)
    (tmp_path / "bagit.txt").write_text("x")
    (tmp_path / "manifest-sha512.txt").write_text("x")
    (tmp_path / "notes.txt").write_text("x")
    assert findings(tmp_path, places=BAG, kind="bag") == {("fail", "bag.unexpected", "notes.txt")}
