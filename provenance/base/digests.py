"""sha256 of files, streamed in fixed-size chunks (FIPS 180-4 via hashlib/OpenSSL)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from provenance.base.untrusted import open_regular

CHUNK = 1 << 20


def sha256_file(path: Path) -> bytes:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.digest()


def sha256_regular(path: Path, *, what: str, stop: Callable[[], bool] | None = None) -> bytes:
    """sha256 of a file inside a target: a regular file only, opened without following a
    link or blocking on a FIFO (``untrusted.open_regular``, which raises for anything else).
    ``stop``: asked between two chunks; when it says so, ``InterruptedError`` (nothing was
    judged: whoever wanted the digest is gone, and a file may be as large as its writer likes).
    """
    digest = hashlib.sha256()
    with open(open_regular(path, what=what), "rb") as fh:
        while chunk := fh.read(CHUNK):
            if stop is not None and stop():
                raise InterruptedError(f"{what}: hashing stopped")
            digest.update(chunk)
    return digest.digest()
