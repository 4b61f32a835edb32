"""The ``prov`` command line: the root group, its commands, and every error turned into a
one-line message and an exit code.

Exit codes (README, "Exit codes"): 0 ok, 1 unexpected crash, 2 usage, 3 integrity failure,
4 not a case or package, 5 capture failed, 6 configuration, 7 the case is locked.
"""

from __future__ import annotations

import io
import logging
import os
import sys
import traceback

import click

from archive.errors import ExitCode, ProvError
from provenance import __version__
from provenance.base.terminal import printable, terminal_safe
from provenance.cli import cases, custody, demo, exports, keys, verify, watch
from provenance.cli.options import _err


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="prov")
def cli() -> None:
    """Preserve web sources as evidence: capture, seal, log custody, verify."""


for command in (keys.keys, cases.init, cases.snapshot, cases.captures, cases.extract,
                verify.verify, verify.verify_warc, custody.log, exports.disclose,
                custody.custody, cases.copy, cases.hold, custody.timestamp, keys.tsa,
                watch.schedule, watch.diff, exports.export_group, exports.report,
                exports.replay, demo.demo):
    cli.add_command(command)


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
