"""The auditor's memory: checkpoints this user has verified, per log origin.

Like SSH's known_hosts, ``$PROV_HOME/seen/<origin>/<size:020d>.checkpoint`` keeps every
checkpoint a verify accepted. Later verifications prove the log consistent with each of them
(RFC 9162 section 2.1.4: an older tree is a prefix of the newer one), so a log rolled back,
truncated, reordered or forked since the last look fails, even if re-signed by the operator.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from provenance import home
from provenance.checkpoint import Checkpoint, read_unverified

NAME_RE = re.compile(r"^\d{20}\.checkpoint$")
ORIGIN_PART = re.compile(r"^[A-Za-z0-9._-]+$")


def seen_folder(origin: str) -> Path:
    parts = origin.split("/")
    if not all(ORIGIN_PART.match(p) for p in parts):
        raise ValueError(f"origin {origin!r} cannot name a folder")
    return home.seen_dir().joinpath(*parts)


def load_seen(origin: str) -> list[tuple[Path, Checkpoint]]:
    folder = seen_folder(origin)
    if not folder.is_dir():
        return []
    out = []
    for name in sorted(os.listdir(folder)):
        if NAME_RE.match(name):
            data = (folder / name).read_bytes()
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
