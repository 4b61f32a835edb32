"""Hostile trees (issue 14): Hypothesis builds copies of the golden case with random extra
files, symlinks, FIFOs, deep nesting, junk and deeply nested JSON log lines, flipped evidence
bytes and names full of control characters, and checks on every one that verify returns a
report (never an exception: exit 1 is a bug), that the report fails whenever anything outside
``state/`` was added or any byte of the evidence changed, and that neither the table nor the
JSON carries a character a terminal would act on.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provenance import api
from provenance.base.terminal import safe_json

GOLDEN = Path(__file__).parents[1] / "data" / "golden" / "case"
CAPTURE = next(p.parent for p in GOLDEN.glob("captures/*/*/*/*/seal.dsse.json"))
SHARD = next(GOLDEN.glob("custody/checkpoints/*"))
FOLDERS = ["", "custody", "captures", "captures/2024", "captures/2024/03",
           "captures/2024/03/04", CAPTURE.relative_to(GOLDEN).as_posix(), "keys", "certs",
           "custody/checkpoints", SHARD.relative_to(GOLDEN).as_posix(), "state"]
EVIDENCE = sorted(p.relative_to(GOLDEN).as_posix() for p in GOLDEN.rglob("*")
                  if p.is_file() and not p.relative_to(GOLDEN).as_posix().startswith("keys/"))
ALLOWED_NEW = {".lock", "config.toml"}  # names the layout has that the golden case lacks

names = st.one_of(
    st.sampled_from(["disclosure.json", "bagit.txt", "extra.warc.gz", "data-00001.warc.gz",
                     "x\r\x1b[2KVERIFIED", "a\u202eb", "log.jsonl.tmp", "tree"]),
    st.text(st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",)),
            min_size=1, max_size=40),
).filter(lambda n: n not in (".", "..") and n not in ALLOWED_NEW
         and len(n.encode("utf-8", "surrogateescape")) < 200)

mutations = st.one_of(
    st.tuples(st.just("file"), st.sampled_from(FOLDERS), names, st.binary(max_size=64)),
    st.tuples(st.just("symlink"), st.sampled_from(FOLDERS), names,
              st.sampled_from(["/etc/passwd", "..", "case.json"])),
    st.tuples(st.just("fifo"), st.sampled_from(FOLDERS), names),
    st.tuples(st.just("nest"), st.sampled_from(FOLDERS), st.integers(1, 60)),
    st.tuples(st.just("junk"), st.integers(1, 500), st.booleans()),
    st.tuples(st.just("flip"), st.sampled_from(EVIDENCE), st.integers(0, 10**6)),
)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("PROV_HOME", str(tmp_path / "home"))
    yield tmp_path


def apply(root: Path, mutation: tuple[object, ...]) -> bool:
    """Make one change; whether it adds something verification must fail (False: nothing
    was added, or only derived state; flipped bytes are compared at the end, as two flips of
    one byte undo each other)."""
    kind = mutation[0]
    if kind in ("file", "symlink", "fifo"):
        folder, name = str(mutation[1]), str(mutation[2])
        path = root / folder / name
        if os.path.lexists(path):
            return False
        if kind == "file":
            path.write_bytes(bytes(mutation[3]))  # type: ignore[call-overload]
        elif kind == "symlink":
            path.symlink_to(str(mutation[3]))
        else:
            os.mkfifo(path)
        return folder != "state"
    if kind == "nest":
        path = root / str(mutation[1])
        for _ in range(int(mutation[2])):  # type: ignore[call-overload]
            path = path / "n"
            if os.path.lexists(path):
                return False
            path.mkdir()
        return str(mutation[1]) != "state"
    if kind == "junk":
        line = b"[" * 5000 if mutation[2] else b"junk"
        with open(root / "custody" / "log.jsonl", "ab") as fh:
            fh.write((line + b"\n") * int(mutation[1]))  # type: ignore[call-overload]
        return True
    path = root / str(mutation[1])
    data = bytearray(path.read_bytes())
    data[int(mutation[2]) % len(data)] ^= 0x01  # type: ignore[call-overload]
    path.write_bytes(bytes(data))
    return False


def evidence_changed(root: Path) -> bool:
    return any((root / rel).read_bytes() != (GOLDEN / rel).read_bytes() for rel in EVIDENCE)


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(mutations, min_size=1, max_size=4))
def test_hostile_tree_never_crashes_and_never_verifies(
    home: Path, changes: list[tuple[object, ...]]
) -> None:
    work = Path(tempfile.mkdtemp(dir=home))
    try:
        root = work / "case"
        shutil.copytree(GOLDEN, root)
        for folder in ("certs", "state"):  # empty folders of a case git does not keep
            (root / folder).mkdir(exist_ok=True)
        changed = False
        for mutation in changes:
            changed = apply(root, mutation) or changed
        changed = evidence_changed(root) or changed
        report = api.verify(root, remember=False, jobs=1)
        assert report.kind == "case"
        table = report.render_table(verbose=True)
        assert not any(c in table for c in "\r\x1b\x9b\u202e")
        dumped = safe_json(json.dumps(report.as_json(), ensure_ascii=False))
        assert not any(c in dumped for c in "\r\x1b\x9b\u202e")
        if changed:
            assert not report.ok, table
        else:
            assert report.ok, table
    finally:
        shutil.rmtree(work)
