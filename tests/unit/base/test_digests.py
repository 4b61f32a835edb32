"""provenance.base.digests: streamed sha256 of files, regular files only inside a target."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from provenance.base.digests import CHUNK, sha256_file, sha256_regular
from provenance.errors import UntrustedInputError


def test_digest_of_a_file_longer_than_one_chunk(tmp_path: Path) -> None:
    data = os.urandom(CHUNK + 17)
    path = tmp_path / "f"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).digest()
    assert sha256_regular(path, what="f") == hashlib.sha256(data).digest()


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "e").write_bytes(b"")
    assert sha256_regular(tmp_path / "e", what="e") == hashlib.sha256().digest()


def test_sha256_regular_refuses_a_symlink_and_a_fifo(tmp_path: Path) -> None:
    (tmp_path / "real").write_bytes(b"x")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    os.mkfifo(tmp_path / "fifo")
    for name in ("link", "fifo"):
        with pytest.raises(UntrustedInputError):
            sha256_regular(tmp_path / name, what=name)


def test_sha256_regular_gives_up_when_told_between_chunks(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(os.urandom(3 * CHUNK))
    asked = []

    def stop() -> bool:
        asked.append(1)
        return len(asked) == 2

    with pytest.raises(InterruptedError):
        sha256_regular(path, what="f", stop=stop)
    assert len(asked) == 2
    assert sha256_regular(path, what="f", stop=lambda: False) == hashlib.sha256(
        path.read_bytes()).digest()
