"""provenance.cli.cases: `extract` refusing an incomplete request before it opens anything."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import click
from click.testing import CliRunner

from provenance.capture.options import SnapshotOptions
from provenance.cli.cases import captures, copy, extract, hold, init, snapshot
from provenance.cli.main import cli


def test_extract_needs_a_kind_and_raw_goes_with_body(tmp_path: Path) -> None:
    out = str(tmp_path / "out")
    shown = CliRunner().invoke(cli, ["extract", "c", "https://x/", "-o", out])
    assert shown.exit_code == 2 and "say what to extract" in shown.output
    shown = CliRunner().invoke(cli, ["extract", "c", "https://x/", "--dom", "--raw", "-o", out])
    assert shown.exit_code == 2 and "--raw goes with --body" in shown.output
    assert not (tmp_path / "out").exists()


def test_captures_holds_list_find_and_show() -> None:
    assert sorted(captures.commands) == ["find", "list", "show"]


def test_the_root_group_serves_the_commands_of_this_module() -> None:
    ctx = click.Context(cli)
    for command in (init, snapshot, captures, extract, copy, hold):
        assert command.name is not None
        assert cli.get_command(ctx, command.name) is command


def test_snapshot_takes_one_option_per_field_of_snapshot_options() -> None:
    names = [p.name for p in snapshot.params]
    declared = [f.name for f in fields(SnapshotOptions)]
    start = names.index("requisites")
    assert names[start:start + len(declared)] == declared
    by_name = {p.name: p for p in snapshot.params}
    assert by_name["storage_state"].type.name == "file"  # type: ignore[attr-defined]
    assert by_name["include"].multiple and by_name["browser"].is_flag  # type: ignore[attr-defined]
