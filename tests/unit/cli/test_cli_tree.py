"""The command tree of provenance.cli.main: every command and every option says what it
is for, a key is named by --key and a capture by --capture wherever an option names one (old
spellings stay accepted, hidden), verify's help names every kind of target, and the help of
every command is the golden ``tests/data/cli-help.txt`` byte for byte (the options and
help texts are an interface: a change to them is made on purpose, then the golden is rewritten
with ``python tests/unit/cli/test_cli_tree.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click
from click.testing import CliRunner

from provenance.cli.main import cli

GOLDEN = Path(__file__).resolve().parents[2] / "data" / "cli-help.txt"


def walk(command: click.Command, path: tuple[str, ...] = ("prov",)
         ) -> Iterator[tuple[str, click.Command]]:
    yield " ".join(path), command
    if isinstance(command, click.Group):
        ctx = click.Context(command, info_name=path[-1])
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None, name
            yield from walk(sub, (*path, name))


def help_pages() -> str:
    """`prov ... --help` of every command, 80 columns wide, one after the other."""
    pages = []
    for name, _ in walk(cli):
        args = [*name.split()[1:], "--help"]
        shown = CliRunner().invoke(cli, args, prog_name="prov", terminal_width=80)
        assert shown.exit_code == 0, (name, shown.output)
        pages.append(f"$ {name} --help\n{shown.output}")
    return "\n".join(pages)


def test_the_tree_is_walked() -> None:
    names = {name for name, _ in walk(cli)}
    assert {"prov verify", "prov captures find", "prov extract", "prov keys generate"} <= names
    assert len(names) > 40


def test_every_command_and_option_has_help() -> None:
    missing = []
    for name, command in walk(cli):
        if not (command.help or command.short_help):
            missing.append(name)
        missing += [f"{name} {param.opts[0]}" for param in command.params
                    if isinstance(param, click.Option) and not param.help]
    assert not missing, "without help text: " + ", ".join(missing)


def test_keys_are_named_by_key_and_captures_by_capture() -> None:
    odd = []
    for name, command in walk(cli):
        for param in command.params:
            if not isinstance(param, click.Option) or param.hidden:
                continue
            shown = [o for o in param.opts if o.startswith("--")]
            if param.name == "key_name" and "--key" not in shown:
                odd.append(f"{name} {shown}")
            if param.name in ("capture_id", "capture_ids") and "--capture" not in shown:
                odd.append(f"{name} {shown}")
            if shown and shown[0] in ("--name", "--capture-id", "--key-name"):
                odd.append(f"{name} {shown}")
    assert not odd, odd


def test_old_key_spelling_is_accepted_but_hidden() -> None:
    generate = cli.commands["keys"].commands["generate"]  # type: ignore[attr-defined]
    shown = CliRunner().invoke(cli, ["keys", "generate", "--help"]).output
    assert "--key NAME" in shown and "--name" not in shown
    assert any("--name" in p.opts and p.hidden for p in generate.params)


def test_verify_help_names_every_kind_of_target() -> None:
    shown = CliRunner().invoke(cli, ["verify", "--help"], terminal_width=200).output
    for kind in ("case folder", "s3://BUCKET/PREFIX", "WACZ", "BagIt bag", "disclosure package",
                 "inclusion proof", "Exit 0", "3 when something fails", "4 when TARGET"):
        assert kind in shown, kind
    listing = CliRunner().invoke(cli, ["--help"], terminal_width=200).output
    assert "Verify a case, WACZ, bag, disclosure package or proof." in listing


def test_every_help_page_is_the_golden_one() -> None:
    assert help_pages() == GOLDEN.read_text(encoding="utf-8")


if __name__ == "__main__":
    GOLDEN.write_text(help_pages(), encoding="utf-8")
