"""The ``prov`` command line: the root group, its commands loaded when used, and every error
turned into a one-line message and an exit code.

Exit codes (README, "Exit codes"): 0 ok, 1 unexpected crash, 2 usage, 3 integrity failure,
4 not a case or package, 5 capture failed, 6 configuration, 7 the case is locked.

Start-up (docs/DECISIONS.md, "Commands are loaded when used"): a command's module is imported
only when that command runs or shows its help, so ``prov --help`` lists the commands from
``COMMANDS`` without importing any of them, and ``prov verify-warc`` never loads the crawler,
the TSA client or the S3 code.
"""

from __future__ import annotations

import importlib
import io
import logging
import os
import sys
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import click

from archive.errors import ExitCode, ProvError
from provenance import __version__
from provenance.base.terminal import printable, terminal_safe
from provenance.cli.options import _err


@dataclass(frozen=True)
class Lazy:
    """Where a command of the root group is, and what ``prov --help`` says of it."""

    module: str  # under provenance.cli
    attribute: str
    summary: str  # the first sentence of its help (tests/unit/cli/test_cli_main.py checks it)
    short_help: bool = False  # the summary is the command's own short_help, never shortened


COMMANDS: Mapping[str, Lazy] = {
    "captures": Lazy("cases", "captures", "What a case holds."),
    "copy": Lazy("cases", "copy", "Copy a case between a folder and s3://BUCKET/PREFIX (either "
                 "way), checking every object; the source becomes read-only unless "
                 "--keep-source-writable."),
    "custody": Lazy("custody", "custody", "Custodians: transfer, acceptance, disposition, and "
                    "the chain of custody."),
    "demo": Lazy("demo", "demo", "Offline demonstration: serve the demo site, snapshot, seal, "
                 "verify, tamper, verify."),
    "diff": Lazy("watch", "diff", "How a URL differs between two captures: status, content, "
                 "visible text, resources."),
    "disclose": Lazy("exports", "disclose", "Write a package with chosen records of one "
                     "capture, verifiable on its own."),
    "export": Lazy("exports", "export_group", "Hand-over packages, each logged as a custody "
                   "event: signed WACZ, BagIt bag."),
    "extract": Lazy("cases", "extract", "Write a body, a screenshot or a DOM of URL out of "
                    "CAPTURE (an id or unique prefix), after verifying it: the custody log, the "
                    "capture's seal, the sha256 of its WARC file and the record's digests."),
    "hold": Lazy("cases", "hold", "Set (or clear) an S3 legal hold on every evidence object of "
                 "a case in a bucket."),
    "init": Lazy("cases", "init", "Create a case (a folder, or s3://BUCKET/PREFIX) whose "
                 "founding key is --key."),
    "keys": Lazy("keys", "keys", "Signing keys ($PROV_HOME/keys) and the keys you trust "
                 "($PROV_HOME/trusted)."),
    "log": Lazy("custody", "log", "The custody log."),
    "replay": Lazy("exports", "replay", "Serve a case's or a WACZ's captures in pywb, on "
                   "127.0.0.1, after verifying them."),
    "report": Lazy("exports", "report", "An exhibit report: one self-contained HTML file a "
                   "lawyer can read."),
    "schedule": Lazy("watch", "schedule", "Watched sources, snapshotted when due (for cron and "
                     "systemd timers)."),
    "snapshot": Lazy("cases", "snapshot", "Capture URLs into one sealed, logged capture."),
    "timestamp": Lazy("custody", "timestamp", "Stamp whatever is pending (after a TSA outage), "
                      "and the latest checkpoint."),
    "tsa": Lazy("keys", "tsa", "Time-stamp authorities you trust ($PROV_HOME/tsa-roots)."),
    "verify": Lazy("verify", "verify", "Verify a case, WACZ, bag, disclosure package or proof.",
                   short_help=True),
    "verify-warc": Lazy("verify", "verify_warc", "Check WARC files made by any tool: digests, "
                        "headers, ids, targets, revisits."),
}


class LazyGroup(click.Group):
    """A group whose commands are imported by name when one is run or asked for its help
    (click's lazy-group pattern); its own help lists them from their ``Lazy`` summaries."""

    def __init__(self, *args: Any, lazy: Mapping[str, Lazy], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        where = self.lazy.get(cmd_name)
        if where is not None and cmd_name not in self.commands:
            module = importlib.import_module(f"provenance.cli.{where.module}")
            command = getattr(module, where.attribute)
            if not isinstance(command, click.Command):  # a wrong table, never input
                raise TypeError(f"provenance.cli.{where.module}.{where.attribute} is not a "
                                "command")
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """As ``click.Group.format_commands`` shortens each command's help, without loading
        the commands."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(map(len, names))
        rows = [(name, self.summary(name, limit)) for name in names]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def summary(self, name: str, limit: int) -> str:
        where = self.lazy.get(name)
        if where is None:  # a command added as a whole
            command = self.get_command(click.Context(self), name)
            return command.get_short_help_str(limit) if command else ""
        if where.short_help:
            return where.summary
        # click's own shortening, through its public API (click 8.5 deprecates the helper)
        return click.Command(name, help=where.summary).get_short_help_str(limit)


@click.group(cls=LazyGroup, lazy=COMMANDS,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="prov")
def cli() -> None:
    """Preserve web sources as evidence: capture, seal, log custody, verify."""


class _PrintableFormatter(logging.Formatter):
    """A log line as one printable line: its message may quote names from the case."""

    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record))


def _show_library_warnings() -> None:
    """Warnings the library logs (derived state rebuilt: provenance.custody.derived) go to
    stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_PrintableFormatter("prov: warning: %(message)s"))
    logger = logging.getLogger("provenance")
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)


def main() -> None:
    _show_library_warnings()
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        _err("aborted")
        sys.exit(ExitCode.USAGE)
    except click.ClickException as exc:
        shown = io.StringIO()
        exc.show(file=shown)
        click.echo(terminal_safe(shown.getvalue()), err=True, nl=False)
        sys.exit(ExitCode.USAGE)
    except ProvError as exc:
        _err(f"error: {exc}")
        if exc.hint:
            _err(f"hint: {exc.hint}")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _err("interrupted")
        sys.exit(130)
    except Exception as exc:  # a crash must never look like "tampering found"
        _err(f"internal error ({type(exc).__name__}): {exc}")
        if os.environ.get("PROV_DEBUG"):
            traceback.print_exc()
        else:
            _err("this is a bug in prov; set PROV_DEBUG=1 for a traceback")
        sys.exit(ExitCode.CRASH)
