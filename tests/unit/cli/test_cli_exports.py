"""provenance.cli.exports: `prov replay` refuses a bucket and a bind address that is not an
IP before anything is verified or served, and every export wants its output named."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from provenance.cli.exports import disclose, export_group, replay, report
from provenance.cli.main import cli


def test_replay_refuses_a_bucket_case() -> None:
    shown = CliRunner().invoke(cli, ["replay", "s3://bucket/prefix"])
    assert shown.exit_code == 2 and "replay serves a local case or WACZ" in shown.output


def test_replay_refuses_a_bind_that_is_not_an_address(tmp_path: Path) -> None:
    shown = CliRunner().invoke(cli, ["replay", str(tmp_path), "--bind", "localhost"])
    assert shown.exit_code == 2 and "'localhost' is not an IP address" in shown.output


@pytest.mark.parametrize("args", [["wacz"], ["bag"]])
def test_an_export_needs_its_output(args: list[str]) -> None:
    shown = CliRunner().invoke(cli, ["export", *args])
    assert shown.exit_code == 2 and "Missing option '-o' / '--output'" in shown.output
    assert CliRunner().invoke(cli, ["report"]).exit_code == 2


def test_the_root_group_serves_the_commands_of_this_module() -> None:
    ctx = click.Context(cli)
    for command in (disclose, export_group, report, replay):
        assert command.name is not None
        assert cli.get_command(ctx, command.name) is command
