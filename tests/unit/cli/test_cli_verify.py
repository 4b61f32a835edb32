"""provenance.cli.verify: `prov verify-warc` gives the verdict on WARC files as its exit
code, with the report as text or JSON."""

from __future__ import annotations

import json
from pathlib import Path

import click
from click.testing import CliRunner
from warcs import response, warcinfo, write

from archive.errors import NotATargetError
from provenance.cli.main import cli
from provenance.cli.verify import verify, verify_warc


def test_a_good_warc_exits_0_and_a_bad_digest_3(tmp_path: Path) -> None:
    good = write(tmp_path / "good.warc.gz", [warcinfo(), response(b"<p>hello</p>")])
    shown = CliRunner().invoke(cli, ["verify-warc", str(good), "--json", "-j", "1"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["counts"]["fail"] == 0
    bad = tmp_path / "bad.warc"
    write(bad, [warcinfo(), response(b"<p>hello</p>")], gz=False)
    bad.write_bytes(bad.read_bytes().replace(b"hello", b"HELLO"))
    shown = CliRunner().invoke(cli, ["verify-warc", str(bad), "-j", "1"])
    assert shown.exit_code == 3 and "FAIL" in shown.stdout


def test_a_file_that_is_not_a_warc_is_not_a_target(tmp_path: Path) -> None:
    other = tmp_path / "notes.txt"
    other.write_text("hello\n")
    shown = CliRunner().invoke(cli, ["verify-warc", str(other)])
    assert isinstance(shown.exception, NotATargetError)  # main turns it into exit 4


def test_verify_refuses_an_empty_target() -> None:
    shown = CliRunner().invoke(cli, ["verify", ""])
    assert shown.exit_code == 2 and "an empty path names nothing" in shown.output


def test_the_root_group_serves_the_commands_of_this_module() -> None:
    ctx = click.Context(cli)
    for command in (verify, verify_warc):
        assert command.name is not None
        assert cli.get_command(ctx, command.name) is command
