"""provenance.cli.options: the options shared by the commands, and every line prov writes
made inert for a terminal (docs/SECURITY.md, "The terminal")."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from provenance.cli.options import (
    PathArg,
    _echo,
    _err,
    case_option,
    key_option,
    publish_options,
)


@click.command()
@click.argument("path", type=PathArg(dir_okay=False, path_type=Path))
@case_option
@key_option
@publish_options
def probe(path: Path, case_path: str | None, key_name: str, print_checkpoint: bool,
          publish: str | None, tsa: tuple[str, ...], tsa_timeout: float) -> None:
    click.echo(f"{path}|{case_path}|{key_name}|{tsa}|{tsa_timeout}|{print_checkpoint}")


def test_shared_options_parse_with_their_defaults() -> None:
    shown = CliRunner().invoke(probe, ["f", "--tsa", "none", "--tsa", "http://t"])
    assert shown.exit_code == 0, shown.output
    assert shown.output == "f|None|default|('none', 'http://t')|10.0|False\n"
    names = [p.name for p in probe.params]
    assert names == ["path", "case_path", "endpoint_url", "key_name", "publish",
                     "print_checkpoint", "tsa_timeout", "tsa"]  # the order --help shows


@pytest.mark.parametrize("args", [[""], ["f", "--case", ""]])
def test_an_empty_path_is_refused(args: list[str]) -> None:
    shown = CliRunner().invoke(probe, args)
    assert shown.exit_code == 2
    assert "an empty path names nothing" in shown.output


def test_echo_and_err_escape_what_a_terminal_would_act_on(
        capsys: pytest.CaptureFixture[str]) -> None:
    _echo("page\x1b]0;owned\x07\ttitle\nnext")
    _err("bad\nname\x1b[2J")
    out, err = capsys.readouterr()
    assert "\x1b" not in out and "\x07" not in out
    assert out.startswith("page\\x1b]0;owned\\x07\ttitle\nnext")
    assert err == "prov: bad\\nname\\x1b[2J\n"
