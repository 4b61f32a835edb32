"""provenance.cli.keys: `prov keys` makes, lists and exports keys in $PROV_HOME, and
`keys unlock --for` takes a bounded duration."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from provenance.cli.keys import keys, tsa
from provenance.cli.main import cli


@pytest.mark.parametrize(("given", "message"), [
    ("25h", "must be more than 0 and at most 24h"),
    ("0", "must be more than 0 and at most 24h"),
    ("soon", "'soon' is not a duration"),
])
def test_unlock_refuses_a_duration_out_of_bounds(prov_home: Path, given: str,
                                                 message: str) -> None:
    shown = CliRunner().invoke(cli, ["keys", "unlock", "--for", given])
    assert shown.exit_code == 2 and message in shown.output


def test_generate_list_and_export(prov_home: Path) -> None:
    runner = CliRunner()
    made = runner.invoke(cli, ["keys", "generate", "--key", "k1", "--unsafe-no-passphrase"])
    assert made.exit_code == 0, made.output
    key_id = made.stdout.strip()
    assert key_id.startswith("ed25519:") and (prov_home / "keys").is_dir()
    listed = runner.invoke(cli, ["keys", "list"])
    assert f"k1\t{key_id}" in listed.stdout.splitlines()
    exported = runner.invoke(cli, ["keys", "export", "--key", "k1"])
    assert exported.stdout.startswith("-----BEGIN PUBLIC KEY-----")


def test_the_root_group_serves_the_commands_of_this_module() -> None:
    ctx = click.Context(cli)
    for command in (keys, tsa):
        assert command.name is not None
        assert cli.get_command(ctx, command.name) is command
