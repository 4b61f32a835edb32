"""provenance.cli.watch: `prov diff` between two captures of a URL in a case, and the
`schedule` group's commands."""

from __future__ import annotations

import json

import click
from click.testing import CliRunner
from exports import Built

from provenance.cli.main import cli
from provenance.cli.watch import diff, schedule


def test_diff_of_the_front_page_between_the_two_captures(built: Built) -> None:
    url = built.seeds[0]
    shown = CliRunner().invoke(cli, ["diff", url, "--case", str(built.root / "case"), "--json"])
    assert shown.exit_code == 0, shown.output
    found = json.loads(shown.stdout)
    assert found["url"] == url
    assert (found["fromCapture"], found["toCapture"]) == (built.first_id, built.synthetic_id)


def test_schedule_holds_run_and_status() -> None:
    assert sorted(schedule.commands) == ["run", "status"]


def test_the_root_group_serves_the_commands_of_this_module() -> None:
    ctx = click.Context(cli)
    for command in (schedule, diff):
        assert command.name is not None
        assert cli.get_command(ctx, command.name) is command
