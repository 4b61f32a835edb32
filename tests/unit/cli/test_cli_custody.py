"""provenance.cli.custody: `prov log prove` never writes over a file, and the `log` and
`custody` groups hold their commands."""

from __future__ import annotations

from pathlib import Path

import click
from click.testing import CliRunner

from archive.errors import UsageError
from provenance.cli.custody import custody, log, timestamp
from provenance.cli.main import cli


def test_prove_refuses_an_existing_output_before_opening_the_case(tmp_path: Path) -> None:
    existing = tmp_path / "proof.json"
    existing.write_text("mine\n")
    shown = CliRunner().invoke(cli, ["log", "prove", "--entry", "0", "-o", str(existing),
                                     "--case", str(tmp_path / "no-case")])
    assert isinstance(shown.exception, UsageError)
    assert "already exists" in str(shown.exception)
    assert existing.read_text() == "mine\n"


def test_the_groups_hold_their_commands() -> None:
    assert sorted(log.commands) == ["checkpoint", "prove", "repair", "show", "verify-proof"]
    assert sorted(custody.commands) == ["accept", "dispose", "report", "transfer"]
    assert [p.name for p in timestamp.params] == ["case_path", "endpoint_url", "key_name",
                                                  "publish", "print_checkpoint", "tsa_timeout",
                                                  "tsa"]


def test_the_root_group_serves_the_commands_of_this_module() -> None:
    ctx = click.Context(cli)
    for command in (log, custody, timestamp):
        assert command.name is not None
        assert cli.get_command(ctx, command.name) is command
