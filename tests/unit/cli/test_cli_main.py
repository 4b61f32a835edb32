"""provenance.cli.main: the root group holds every command, and every way a command can end
becomes one line on stderr and the documented exit code (README, "Exit codes"), never a
traceback."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import pytest

from archive.errors import ExitCode
from provenance.cli.main import cli, main

COMMANDS = {"captures", "copy", "custody", "demo", "diff", "disclose", "export", "extract",
            "hold", "init", "keys", "log", "replay", "report", "schedule", "snapshot",
            "timestamp", "tsa", "verify", "verify-warc"}


def prov(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
         *args: str) -> tuple[int, str, str]:
    """`prov ARGS` in this process: its exit code, stdout and stderr."""
    monkeypatch.setattr(sys, "argv", ["prov", *args])
    code: object = 0
    try:
        main()  # returns after --help and --version
    except SystemExit as ended:
        code = ended.code
    out, err = capsys.readouterr()
    assert isinstance(code, int)
    return code, out, err


def test_the_root_group_lists_every_command() -> None:
    assert set(cli.list_commands(click.Context(cli))) == COMMANDS


def test_help_and_version_exit_0(monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = prov(monkeypatch, capsys, "--help")
    assert code == 0 and "Preserve web sources as evidence" in out
    code, out, _ = prov(monkeypatch, capsys, "--version")
    assert code == 0 and out.startswith("prov, version ")


def test_an_unknown_command_is_a_usage_error(monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = prov(monkeypatch, capsys, "nosuch")
    assert code == ExitCode.USAGE and out == ""
    assert "No such command 'nosuch'" in err and "Traceback" not in err


def test_a_prov_error_is_a_line_a_hint_and_its_exit_code(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        tmp_path: Path) -> None:
    code, _, err = prov(monkeypatch, capsys, "log", "checkpoint", "--case",
                        str(tmp_path / "none"))
    assert code == ExitCode.NOT_A_TARGET
    assert err.splitlines() == [f"prov: error: {tmp_path / 'none'}: not a prov case",
                                "prov: hint: create one with `prov init`"]
