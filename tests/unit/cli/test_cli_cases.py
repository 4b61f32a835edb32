"""provenance.cli.cases: a media post shown in one escaped block, and `extract` refusing an
incomplete request before it opens anything."""

from __future__ import annotations

from pathlib import Path

import click
from click.testing import CliRunner

from provenance.cli.cases import captures, copy, extract, hold, init, media_line, snapshot
from provenance.cli.main import cli


def test_an_unavailable_post_is_one_escaped_line() -> None:
    line = media_line({"availability": "removed", "url": "https://v.example/1\x1b[2J",
                       "reason": "taken down"})
    assert line == "media removed\thttps://v.example/1\\x1b[2J\ttaken down"


def test_an_available_post_names_uploader_time_duration_and_files() -> None:
    line = media_line({"availability": "available", "url": "https://v.example/1",
                       "uploader": "someone", "timestamp": 0, "duration": 12.5,
                       "extractor": "generic",
                       "media": [{"type": "video", "sha256": "ab", "bytes": 3}]})
    assert line.splitlines() == [
        "media available\thttps://v.example/1",
        "    uploader someone, uploaded 1970-01-01T00:00:00.000000Z, 12.5 s, generic",
        "    video ab (3 bytes)"]


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
