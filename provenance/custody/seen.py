"""The auditor's memory: checkpoints this user has verified, per log origin.

Like SSH's known_hosts, ``$PROV_HOME/seen/<origin>/<size:020d>.checkpoint`` keeps the latest
checkpoint each verify accepted, and ``$PROV_HOME/seen/<origin>/roots`` the tree head
(RFC 9162 section 2.1.2) at every checkpoint size it verified, one ``<size> <hex root>`` line
each. Later verifications prove the log consistent with them (``provenance.verification.history``),
so a log
rolled back, truncated, reordered or forked since the last look fails, even if re-signed by the
operator, and a package exported earlier is recognised as an older prefix of what was seen.
``$PROV_HOME/seen/<origin>/full-verify.json`` keeps when the last full verify of that log
passed, and the tree head it covered: `prov verify --fixity` reports it (it is this verifier's
own record, never read from the target).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path

from provenance.base import home
from provenance.base.untrusted import load_json, read_regular
from provenance.custody.checkpoint import MAX_NOTE, Checkpoint, read_unverified
from provenance.errors import UntrustedInputError

NAME_RE = re.compile(r"^[0-9]{20}\.checkpoint$")
ROOTS = "roots"
ROOT_LINE = re.compile(r"^([0-9]{1,20}) ([0-9a-f]{64})$")
MAX_ROOTS_FILE = 256 << 20  # 2.9 million checkpoint sizes
FULL = "full-verify.json"  # the last full verify that passed: time, log size and root
MAX_FULL_FILE = 4096
ORIGIN_PART = re.compile(r"^[A-Za-z0-9._-]+$")


def seen_folder(origin: str) -> Path:
    parts = origin.split("/")
    if not all(ORIGIN_PART.match(p) and p not in (".", "..") for p in parts):
        raise ValueError(f"origin {origin!r} cannot name a folder")
    return home.seen_dir().joinpath(*parts)


def load_seen(origin: str) -> list[tuple[Path, Checkpoint]]:
    folder = seen_folder(origin)
    if not folder.is_dir():
        return []
    out = []
    for name in sorted(os.listdir(folder)):
        if NAME_RE.match(name):
            data = read_regular(folder / name, MAX_NOTE, what=str(folder / name))
            out.append((folder / name, read_unverified(data, what=str(folder / name))))
    return out


def remember(origin: str, size: int, note: bytes) -> Path:
    folder = seen_folder(origin)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{size:020d}.checkpoint"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(note)
        os.replace(tmp, path)
    return path


def load_roots(origin: str) -> dict[int, bytes]:
    """The roots remembered for ``origin``, by tree size (lines not of the form are skipped)."""
    path = seen_folder(origin) / ROOTS
    if not path.is_file():
        return {}
    roots: dict[int, bytes] = {}
    text = read_regular(path, MAX_ROOTS_FILE, what=str(path)).decode("ascii", "replace")
    for line in text.splitlines():
        match = ROOT_LINE.match(line)
        if match:
            roots[int(match.group(1))] = bytes.fromhex(match.group(2))
    return roots


def remember_roots(origin: str, roots: Mapping[int, bytes]) -> Path:
    """Add ``roots`` to those remembered for ``origin`` (a size already known keeps its root:
    a different one is a fork, which the caller found before remembering anything)."""
    folder = seen_folder(origin)
    folder.mkdir(parents=True, exist_ok=True)
    merged = {**roots, **load_roots(origin)}
    path = folder / ROOTS
    tmp = folder / (ROOTS + ".tmp")
    tmp.write_text("".join(f"{size} {merged[size].hex()}\n" for size in sorted(merged)))
    os.replace(tmp, path)
    return path


def remember_full(origin: str, record: Mapping[str, object]) -> Path:
    """Keep ``record`` (``FULL``): the last full verify of ``origin``'s log that passed."""
    folder = seen_folder(origin)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / FULL
    tmp = folder / (FULL + ".tmp")
    tmp.write_text(json.dumps(dict(record), sort_keys=True) + "\n")
    os.replace(tmp, path)
    return path


def load_full(origin: str) -> dict[str, object] | None:
    """The record ``remember_full`` kept for ``origin``, None if there is none. Written by this
    verifier only, yet read as any file of $PROV_HOME: bounded, a mapping, or
    UntrustedInputError."""
    path = seen_folder(origin) / FULL
    if not path.is_file():
        return None
    doc = load_json(read_regular(path, MAX_FULL_FILE, what=str(path)), what=str(path),
                    limit=MAX_FULL_FILE)
    if not isinstance(doc, dict):
        raise UntrustedInputError(f"{path}: not a JSON object")
    return doc
