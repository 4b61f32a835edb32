"""Reading what an attacker may have written: files inside a target, JSON, base64.

Threat (docs/SECURITY.md): whoever can write to a case, a package or a bucket chooses every
byte prov reads there and every kind of file: a symlink to a secret, a FIFO that blocks an
``open`` forever, a file of gigabytes, JSON nested 100,000 deep (Python's parser and every
walk over its result recurse), a folder tree deeper than the stack, text that is not base64.
Everything verify reads inside a target comes through this module:

- ``open_regular`` / ``read_regular``: a regular file, no symlink followed (``O_NOFOLLOW``, and
  the type checked on the open descriptor, so a swap between check and open is caught), an
  ``O_NONBLOCK`` open (a FIFO cannot hang it), and a size cap for every read.
- ``read_capped``: the one size cap for every small read, of a file, a ZIP member or an
  object's body: past the cap it refuses, it never truncates (a cut document could parse as
  another one). ``read_named`` reads a file the operator named (a key, a passphrase file, a
  sources file, a PEM bundle) under the same cap; it follows a symlink and reads a FIFO, as
  any program reads the file it is given.
- ``load_json`` (RFC 8259): a size cap, a nesting cap checked before parsing, duplicate member
  names refused (two parsers must not see two documents in one signed byte string), no
  ``NaN``/``Infinity``.
- ``b64decode`` (RFC 4648 section 4): strict alphabet and padding, ASCII only (DSSE's
  URL-safe, unpadded form on request): the one base64 decoder for what prov reads.
- ``is_safe_name``: a relative name of prov's grammar that cannot climb out of its root.
- ``iter_tree``: an iterative walk (no recursion over the input's depth) that never follows a
  symlink and stops descending past a depth cap, reporting where it stopped.

Each raises ``UntrustedInputError`` with a one-line message naming what was wrong; callers turn
it into a finding (exit 3) or, for the target itself, "not a target" (exit 4).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import IO, Any, Literal

from archive.errors import ProvError
from provenance.errors import UntrustedInputError

MAX_JSON_DEPTH = 64  # prov's own documents nest at most 6 deep
# A parsed value costs Python some 60 to 80 bytes (an empty object 64, a list slot 8 more), a
# byte or three of JSON: 14 MiB of "{}," parse into 359 MB. A document may hold one value per
# this many bytes of its size cap (prov's densest, a disclosure's record rows, hold one per 50),
# so what any one document costs stays within some 3.5 times its cap.
JSON_BYTES_PER_VALUE = 24
MIN_JSON_VALUES = 4096  # whatever the cap: so many cost nothing
MAX_TREE_DEPTH = 32  # a case nests 7 deep (captures/YYYY/MM/DD/<id>/file); packages less
NAME = r"[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)*"  # the relative file names prov writes
MAX_NAME_PARTS = 16  # prov's deepest name is captures/YYYY/MM/DD/<id>/<file>
MAX_NAME_PART = 255  # a longer name could not be a file on any local disk

_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


def open_regular(path: Path | str, *, what: str | None = None, follow: bool = False) -> int:
    """An O_RDONLY descriptor on ``path`` if it is a regular file (the caller closes it).
    ``follow`` is for the target the verifier named, whose symlink is followed; a file inside a
    target never is."""
    label = what or str(path)
    try:
        fd = os.open(path, _OPEN_FLAGS & ~os.O_NOFOLLOW if follow else _OPEN_FLAGS)
    except FileNotFoundError:
        raise UntrustedInputError(f"{label}: missing") from None
    except OSError as exc:  # ELOOP: a symlink; ENXIO: a FIFO or socket with no writer; ...
        kind = _kind(path)
        raise UntrustedInputError(f"{label}: {kind or exc.strerror}, not a regular file") from None
    try:
        st = os.fstat(fd)
    except OSError:
        os.close(fd)
        raise
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise UntrustedInputError(f"{label}: {_mode_name(st.st_mode)}, not a regular file")
    return fd


def read_regular(path: Path | str, limit: int, *, what: str | None = None) -> bytes:
    """The whole of a regular file of at most ``limit`` bytes (see ``open_regular``)."""
    label = what or str(path)
    fd = open_regular(path, what=label)
    with os.fdopen(fd, "rb") as fh:
        return read_capped(fh, limit, what=label)


def read_capped(stream: IO[bytes], limit: int, *, what: str,
                error: Callable[[str], ProvError] = UntrustedInputError) -> bytes:
    """All of ``stream`` if it holds at most ``limit`` bytes; more raises ``error`` (called
    with the message), never a truncated prefix. At most ``limit + 1`` bytes are held."""
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise error(f"{what}: larger than {limit:,} bytes")
    return data


def read_named(path: Path | str, limit: int, *, what: str | None = None,
               error: Callable[[str], ProvError]) -> bytes:
    """A file the operator named, of at most ``limit`` bytes: symlinks are followed and a FIFO
    is read to its end (``<(...)`` works); missing, unreadable or larger raises ``error``."""
    label = what or str(path)
    try:
        with open(path, "rb") as fh:
            return read_capped(fh, limit, what=label, error=error)
    except OSError as exc:
        raise error(f"{label}: cannot read ({exc.strerror})") from None


def is_regular(path: Path | str) -> bool:
    """``path`` itself (not what a symlink names) is a regular file."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except (OSError, ValueError):  # missing, a file where a folder was expected, NUL in name
        return False


def is_dir(path: Path | str) -> bool:
    """``path`` itself (not what a symlink names) is a folder."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except (OSError, ValueError):
        return False


def is_safe_name(rel: str) -> bool:
    """Whether ``rel`` is a name prov could have given a file below a root (an object in a
    bucket, a line of a bag's manifest): letters, digits, ``.``, ``_`` and ``-`` in
    ``/``-separated parts, none of them ``.`` or ``..`` (nothing climbs out of the root), at
    most ``MAX_NAME_PARTS`` parts of at most ``MAX_NAME_PART`` characters."""
    parts = rel.split("/")
    return (re.fullmatch(NAME, rel) is not None and not {".", ".."} & set(parts)
            and len(parts) <= MAX_NAME_PARTS and all(len(p) <= MAX_NAME_PART for p in parts))


def iter_names(path: Path | str) -> Iterator[str]:
    """The names in a folder as the file system lists them, one at a time (no list of a folder
    an attacker filled); nothing for a missing path, a file or a symlink."""
    if not is_dir(path):
        return
    try:
        with os.scandir(path) as entries:
            for entry in entries:
                yield entry.name
    except OSError:
        return


def listdir(path: Path | str) -> list[str]:
    """The sorted names in a folder; nothing for a missing path, a file or a symlink."""
    if not is_dir(path):
        return []
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


def load_json(data: bytes | str, *, what: str, limit: int,
              max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse one JSON document of at most ``limit`` bytes, ``max_depth`` levels and
    ``limit // JSON_BYTES_PER_VALUE`` values, at least ``MIN_JSON_VALUES`` (counted before
    parsing by the separators and brackets that start them: over-counted inside a string,
    never under)."""
    raw = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
    if len(raw) > limit:
        raise UntrustedInputError(f"{what}: JSON larger than {limit:,} bytes")
    containers = raw.count(b"[") + raw.count(b"{")
    if containers > max_depth:  # the cheap test first
        depth = json_depth(raw)
        if depth > max_depth:
            raise UntrustedInputError(f"{what}: JSON nested {depth} deep (at most {max_depth})")
    values = containers + raw.count(b",")
    most = max(MIN_JSON_VALUES, limit // JSON_BYTES_PER_VALUE)
    if values > most:
        raise UntrustedInputError(f"{what}: JSON of {values:,} values (at most {most:,} in "
                                  f"{limit:,} bytes)")
    try:
        return json.loads(raw, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except RecursionError:  # unreachable after the depth test; kept as a second wall
        raise UntrustedInputError(f"{what}: JSON nested too deep") from None
    except _DuplicateKey as exc:
        raise UntrustedInputError(f"{what}: JSON object has the member {exc.args[0]!r} twice"
                                  ) from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, over-long integers
        raise UntrustedInputError(f"{what}: not JSON ({_short(exc)})") from None


def json_depth(raw: bytes) -> int:
    """The deepest nesting of arrays and objects in ``raw``, strings skipped; linear time,
    and no Python loop per byte: strings are cut and the brackets kept by C code, and the
    running depth is summed by ``accumulate`` (a log of 14 MB of ``[`` is judged in a second)."""
    brackets = _JSON_STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    return max(0, max(accumulate(map(_STEP.__getitem__, brackets)), default=0))


_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key[:64])
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def b64decode(value: object, *, what: str, dsse: bool = False) -> bytes:
    """Standard base64 with padding (RFC 4648 section 4), strictly; anything else raises.

    ``value`` is text, or the bytes of text (a slice of a line). With ``dsse``, the URL-safe
    alphabet (section 5) and missing padding are taken too, as DSSE verifiers must.
    """
    if isinstance(value, bytes):  # first: the custody log's quick read, once a line
        raw = value
    elif isinstance(value, str):
        if not value.isascii():
            raise UntrustedInputError(f"{what}: not base64")
        raw = value.encode("ascii")
    else:
        raise UntrustedInputError(f"{what}: expected base64 text, found {type(value).__name__}")
    if dsse:
        raw = raw.replace(b"-", b"+").replace(b"_", b"/")
        raw += b"=" * (-len(raw) % 4)
    try:
        return base64.b64decode(raw, validate=True)
    except binascii.Error:
        raise UntrustedInputError(f"{what}: not base64") from None


TreeKind = Literal["file", "dir", "symlink", "other", "too-deep"]


@dataclass(frozen=True)
class TreeEntry:
    rel: str  # POSIX path relative to the walk's root
    kind: TreeKind


def iter_tree(root: Path, *, max_depth: int = MAX_TREE_DEPTH,
              prune: Callable[[str], bool] | None = None,
              quiet: Callable[[str], bool] | None = None) -> Iterator[TreeEntry]:
    """Every entry under ``root``, folder by folder in sorted order, without recursion.

    Symlinks are reported, never followed; FIFOs, sockets and devices are ``other``; a folder
    at ``max_depth`` is reported as ``too-deep`` and not entered, so neither the stack nor the
    length of a path grows with what an attacker nests. A folder for which ``prune(rel)`` is
    true is reported and not entered. Of a folder for which ``quiet(rel)`` is true (another
    check lists its files), only the links and the entries of other types are reported, and the
    folder is read as a stream: a folder an attacker filled with files is never held as a list.
    """
    stack: list[tuple[str, int]] = [("", 0)]
    while stack:
        rel, depth = stack.pop()
        folder = root / rel if rel else root
        if rel and quiet is not None and quiet(rel):
            yield from _odd_entries(folder, rel)
            continue
        names = listdir(folder)
        below: list[tuple[str, int]] = []
        for name in names:
            child = f"{rel}/{name}" if rel else name
            try:
                mode = os.lstat(folder / name).st_mode
            except OSError:
                continue  # removed while we walked
            if stat.S_ISLNK(mode):
                yield TreeEntry(child, "symlink")
            elif stat.S_ISDIR(mode):
                if depth + 1 >= max_depth:
                    yield TreeEntry(child, "too-deep")
                else:
                    yield TreeEntry(child, "dir")
                    if prune is None or not prune(child):
                        below.append((child, depth + 1))
            elif stat.S_ISREG(mode):
                yield TreeEntry(child, "file")
            else:
                yield TreeEntry(child, "other")
        stack.extend(reversed(below))


def _odd_entries(folder: Path, rel: str) -> Iterator[TreeEntry]:
    """The links and the entries of other types in ``folder``, in name order; its files and
    folders are passed over as the folder streams by."""
    odd: list[tuple[str, TreeKind]] = []
    if is_dir(folder):
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    try:
                        if entry.is_file(follow_symlinks=False) or \
                                entry.is_dir(follow_symlinks=False):
                            continue
                        link = entry.is_symlink()
                    except OSError:
                        continue  # removed while we walked
                    odd.append((entry.name, "symlink" if link else "other"))
        except OSError:
            pass
    for name, kind in sorted(odd):
        yield TreeEntry(f"{rel}/{name}", kind)


def _kind(path: Path | str) -> str | None:
    try:
        return _mode_name(os.lstat(path).st_mode)
    except OSError:
        return None


def _mode_name(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _short(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:120]
