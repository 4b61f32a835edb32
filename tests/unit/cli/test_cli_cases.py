"""provenance.cli.cases: `extract` refusing an incomplete request before it opens anything."""

from __future__ import annotations

from pathlib import Path

import click
from click.testing import CliRunner

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
