"""The `prov` command line: commands, options, exit codes and what the terminal shows."""

from provenance.cli.main import main

__all__ = ["main"]
