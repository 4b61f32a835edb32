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

A hard link has no real path to compare: ``$PROV_HOME/trusted/op.pub`` linked to
``CASE/keys/<hex>.pub`` is one file under two names, and whoever writes the case rewrites the
anchor in place. So a file with more than one link on the target's file system is also looked
for by identity (``st_dev``, ``st_ino``) in the target, and refused when found there, or when
the walk could not look everywhere (an unreadable folder): what cannot be ruled out is not
trusted. A file with one link (the usual case) costs one ``stat``.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

from archive.errors import ConfigError, UsageError
from provenance.base import home
from provenance.base.untrusted import iter_tree

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
    twin = linked_inside(path, target) if target is not None else None
    if twin is not None:
        raise UsageError(f"{option} {path}: {twin}, so it cannot be a trust anchor",
                         hint=HINT_NAMED)
    return Path(path)


def linked_inside(path: Path | str, target: Path | str) -> str | None:
    """Why ``path`` may be a hard link to a file of ``target`` (None when it is not): the
    place in the target that is the same file, or what kept the walk from ruling it out."""
    try:
        st, top = os.stat(path), os.stat(target)
    except (OSError, ValueError):
        return None
    if st.st_nlink < 2 or st.st_dev != top.st_dev:
        return None  # the only name of the file, or on another file system than the target
    if not stat.S_ISDIR(top.st_mode):
        return (f"the same file as the target ({target}), by a hard link"
                if st.st_ino == top.st_ino else None)
    folders = [os.fspath(real(target))]
    while folders:
        folder = folders.pop()
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        folders.append(entry.path)
                    elif entry.is_file(follow_symlinks=False) and _same(entry, st):
                        return (f"a hard link to {entry.path}, inside the target being "
                                f"verified ({target})")
        except OSError as exc:  # unreadable, or a path too long to open
            return (f"a file with {st.st_nlink} hard links on the file system of the target "
                    f"being verified ({target}), whose folder {folder[:200]} could not be read "
                    f"({exc.strerror}): a link into the target cannot be ruled out")
    return None


def _same(entry: os.DirEntry[str], st: os.stat_result) -> bool:
    """By ``lstat``, not the directory's ``d_ino``: on overlay file systems the two differ."""
    found = entry.stat(follow_symlinks=False)
    return (found.st_dev, found.st_ino) == (st.st_dev, st.st_ino)


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
            twin = linked_inside(path, target) if target is not None else None
            if twin is not None:
                raise ConfigError(f"{path}: {twin}; the case would choose its own trust",
                                  hint=HINT_HOME)
            yield path


def check_home(target: Path) -> None:
    """Every folder of ``$PROV_HOME`` verify reads or writes lies outside ``target``."""
    for folder in (home.prov_home(), home.trusted_dir(), home.tsa_roots_dir(), home.seen_dir()):
        home_folder(folder, target)
    for entry in iter_tree(home.seen_dir()):  # a remembered checkpoint the case could rewrite
        path = home.seen_dir() / entry.rel
        twin = linked_inside(path, target) if entry.kind == "file" else None
        if twin is not None:
            raise ConfigError(f"{path}: {twin}; the case would choose its own history",
                              hint=HINT_HOME)
