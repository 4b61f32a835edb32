"""The custody log file as lines: complete, bounded, newline-terminated.

Spec: docs/FORMATS.md, "Custody log" (JSON Lines, one DSSE envelope per line). Threat: the file
is writable by anyone who can write the case; a line past ``MAX_LINE`` or a torn tail is an
integrity failure, read in bounded memory, never a line held whole whatever its length.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from provenance.errors import LogFormatError

MAX_LINE = 1 << 20


def iter_lines(path: Path) -> Iterator[bytes]:
    """Each line of the log without its newline; a torn (unterminated) tail raises."""
    with open(path, "rb") as fh:
        number = 0
        while True:
            line = fh.readline(MAX_LINE + 2)
            if not line:
                return
            if not line.endswith(b"\n"):
                if len(line) > MAX_LINE:
                    raise LogFormatError(f"{path.name}: line {number} longer than {MAX_LINE} bytes")
                raise LogFormatError(
                    f"{path.name}: line {number} has no newline (torn write)",
                    hint="run `prov log repair`",
                )
            yield line[:-1]
            number += 1
