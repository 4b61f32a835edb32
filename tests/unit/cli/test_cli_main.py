"""provenance.cli.main: the root group holds every command, loaded only when used, its
listing says what each command's own help says, and every way a command can end becomes one
line on stderr and the documented exit code (README, "Exit codes"), never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest
from warcs import response, warcinfo, write

from archive.errors import ExitCode
from provenance.cli.main import COMMANDS, LazyGroup, cli, main

COMMANDS_SHOWN = {"captures", "copy", "custody", "demo", "diff", "disclose", "export", "extract",
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
    assert set(cli.list_commands(click.Context(cli))) == COMMANDS_SHOWN == set(COMMANDS)


def test_the_table_says_what_each_command_says() -> None:
    assert isinstance(cli, LazyGroup)
    ctx = click.Context(cli)
    for name, where in COMMANDS.items():
        command = cli.get_command(ctx, name)
        assert command is not None and command.name == name
        assert command.callback is not None
        assert command.callback.__module__ == f"provenance.cli.{where.module}"
        assert where.short_help == bool(command.short_help), name
        for limit in (30, 45, 60, 63, 74, 100, 200, 1000):  # 63: an 80-column terminal
            assert cli.summary(name, limit) == command.get_short_help_str(limit), (name, limit)


def loaded_by(*args: str | Path) -> set[str]:
    """The modules of prov that `prov ARGS` imports, in a fresh interpreter."""
    code = ("import atexit, sys\n"
            "atexit.register(lambda: print(*sorted(sys.modules), file=sys.stderr))\n"
            "from provenance.cli import main\nmain()")
    done = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True,
                          text=True, timeout=120)
    return {m for m in done.stderr.split() if m.startswith(("provenance", "archive"))}


def test_help_and_verify_warc_never_load_the_library(tmp_path: Path) -> None:
    library = ("provenance.api", "provenance.custody", "provenance.timestamps",
               "provenance.storage", "archive.http")
    listed = loaded_by("--help")
    assert not {m for m in listed if m.startswith(("provenance.cli.", *library))} - {
        "provenance.cli.main", "provenance.cli.options"}
    shown = loaded_by("verify", "--help")
    assert "provenance.cli.verify" in shown and "provenance.cli.cases" not in shown
    assert not {m for m in shown if m.startswith(library)}
    warc = write(tmp_path / "one.warc.gz", [warcinfo(), response(b"<p>hi</p>")])
    checked = loaded_by("verify-warc", warc)
    assert "provenance.verification.warcs" in checked
    assert not {m for m in checked if m.startswith(library)}


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
