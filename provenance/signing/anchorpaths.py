"""Where a verifier may load trust from: never from inside what it verifies (DESIGN "Trust").

Threat: whoever can write a case or a package can plant a ``.pub`` key or a root ``.pem``
in it. Such a file becomes an anchor only if a path the verifier's trust is loaded from
resolves into the target: an empty option value (``--tsa-root ''`` is the current folder),
the current folder itself, a relative ``$PROV_HOME`` while standing in the case, or a
symbolic link. So every file a key, a TSA root or a held checkpoint is read from is checked
here first, by its real path (links followed) against the target's real path:

- a file the verifier named (``--trust``, ``--tsa-root``, ``--since``, ``--checkpoint``) that
  is empty, a folder, or inside the target is a usage error (exit 2);
- the verifier's own ``$PROV_HOME`` (its ``trusted/``, ``tsa-roots/``, ``seen/`` folders and
  each file in them) inside the target is a configuration error (exit 6).

"Inside" means equal to the target or under it. A target that is a single file (a WACZ, a
proof) contains only itself.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from archive.errors import ConfigError, UsageError
from provenance.base import home

HINT_NAMED = ("trust comes from outside the evidence: name a copy you obtained separately "
              "(from the operator, out of band)")
HINT_HOME = "set PROV_HOME to your own folder outside the target (an absolute path)"


def real(path: Path | str) -> Path:
    """``path`` with every link resolved and made absolute (it need not exist)."""
    return Path(os.path.realpath(path))


def inside(path: Path | str, target: Path | str) -> bool:
    """Whether ``path`` is ``target`` or lies under it, once both are resolved."""
    found, container = real(path), real(target)
    return found == container or found.is_relative_to(container)


def named_file(path: Path | str, target: Path | None, option: str) -> Path:
    """A file the verifier named with ``option``, fit to be a source of trust; else UsageError.

    An empty value would mean the current folder, a folder would be read file by file:
    both are refused, and so is anything at or under ``target``.
    """
    if os.fspath(path) == "":
        raise UsageError(f"{option}: an empty path names no file (it would be the current "
                         "folder)", hint=HINT_NAMED)
    if os.path.isdir(path):
        raise UsageError(f"{option} {path}: expected a file, found a folder")
    if target is not None and inside(path, target):
        raise UsageError(f"{option} {path}: the file is inside the target being verified "
                         f"({target}), so it cannot be a trust anchor", hint=HINT_NAMED)
    return Path(path)


def home_folder(folder: Path, target: Path | None) -> Path:
    """One of the verifier's ``$PROV_HOME`` folders, checked to lie outside ``target``."""
    if target is None:
        return folder
    for path in (home.prov_home(), folder):
        if inside(path, target):
            raise ConfigError(f"$PROV_HOME: {path} resolves to {real(path)}, inside the target "
                              f"being verified ({target}): the case would choose its own trust",
                              hint=HINT_HOME)
    return folder


def home_files(folder: Path, suffix: str, target: Path | None) -> Iterator[Path]:
    """The ``*suffix`` files of a ``$PROV_HOME`` folder in name order, each outside ``target``
    (a link from the verifier's store into the evidence is refused like the folder)."""
    home_folder(folder, target)
    if not folder.is_dir():
        return
    for name in sorted(os.listdir(folder)):
        if name.endswith(suffix):
            path = folder / name
            if target is not None and inside(path, target):
                raise ConfigError(f"{path}: a link into the target being verified ({target}); "
                                  "the case would choose its own trust", hint=HINT_HOME)
            yield path


def check_home(target: Path) -> None:
    """Every folder of ``$PROV_HOME`` verify reads or writes lies outside ``target``."""
    for folder in (home.prov_home(), home.trusted_dir(), home.tsa_roots_dir(), home.seen_dir()):
        home_folder(folder, target)
