"""Derived state in ``CASE/state/``: never trusted, checked before anything is signed over it.

Threat (docs/SECURITY.md, "Derived state"): ``state/`` (the tree cache, the dedup index, the
schedule state) is unsigned and writable by anyone who can write the case. Whatever in it can
change what the operator signs is checked against something signed first: the tree cache
against the operator's own last checkpoint or the log itself (``provenance.custody.log``), a dedup
match against the sealed original (``provenance.capture.dedup``), a source's previous fingerprint
against the sealed capture it names (``provenance.watch.schedule``). When it does not match, it is
rebuilt from the log and the operator is told: ``rebuilt`` logs a warning on the
``provenance.custody.derived`` logger, which the command line prints on stderr.
The check "this capture folder holds what a trusted key sealed for this case" is
``provenance.verification.sealedcaptures``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import stat
import uuid
from pathlib import Path

LOG = logging.getLogger("provenance.custody.derived")


def make_way(path: Path, *, folder: bool = False) -> None:
    """Before prov writes derived state at ``path``: anything planted there that is not what
    prov writes (a folder where a file goes, a file where a folder goes, a symlink, a FIFO
    that would block a write forever) is moved aside, and removed when it can be."""
    try:
        mode = os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return
    if (stat.S_ISDIR(mode) if folder else stat.S_ISREG(mode)):
        return
    discard(path)


def discard(path: Path) -> None:
    """Remove whatever is at ``path``: moved aside first, so something too deep to remove
    (left for the operator) is never in the way of what replaces it."""
    if not os.path.lexists(path):
        return
    aside = path.with_name(f"{path.name}.discarded-{uuid.uuid4().hex}")
    os.replace(path, aside)
    if stat.S_ISDIR(os.lstat(aside).st_mode):
        with contextlib.suppress(OSError, RecursionError):
            shutil.rmtree(aside)
    else:
        aside.unlink()


def rebuilt(what: str, why: str) -> None:
    """Tell the operator that derived state did not match what is signed and was rebuilt."""
    LOG.warning("%s did not match the signed evidence (%s); rebuilt from the custody log. "
                "state/ is derived and unsigned: if nothing crashed, someone changed it",
                what, why)
