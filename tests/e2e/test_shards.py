"""Checkpoint shard folders: ``custody/checkpoints/<first 17 digits of the size>/``.

A case of 1,004 entries has checkpoints in two shard folders (sizes 1 and 1001..1004); it
verifies, and anything in ``custody/checkpoints`` that breaks the rule (a checkpoint in the
wrong shard, a file or folder directly there) fails as ``checkpoint.unexpected``. The append
path finds the previous checkpoint by its own size, and after a crash by scanning back.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from helpers import prov_env, run_prov

from provenance import api
from provenance.base import timefmt
from provenance.custody.case import Case
from provenance.custody.log import CustodyLog, NewEntry, checkpoint_path, checkpoint_rel, shard
from provenance.signing.keys import SigningKey

SHARD_0 = "custody/checkpoints/00000000000000000"
SHARD_1 = "custody/checkpoints/00000000000000001"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, SigningKey]:
    """(case, public key file, key): init, 1,000 notes in one append, then 3 single appends."""
    base = tmp_path_factory.mktemp("shards")
    key = SigningKey.generate("shards")
    public = base / "shards.pub"
    public.write_bytes(key.public.pem())
    case = api.init_case(base / "case", "shards", key, timefmt.utc_now())
    log = CustodyLog(case)
    with case.lock():
        log.append([NewEntry("note", (), {"note": f"bulk {i}"}) for i in range(1000)], key,
                   timefmt.utc_now())
        for i in range(3):
            log.append([NewEntry("note", (), {"note": f"single {i}"})], key, timefmt.utc_now())
    return case.root, public, key


@pytest.fixture
def copy(built: tuple[Path, Path, SigningKey], tmp_path: Path) -> Path:
    shutil.copytree(built[0], tmp_path / "case", symlinks=True)
    return tmp_path / "case"


def verify(case: Path, public: Path, tmp_path: Path) -> tuple[int, dict[str, Any]]:
    proc = run_prov("verify", str(case), "--json", "--trust", str(public), "--no-remember",
                    env=prov_env(tmp_path))
    assert "Traceback" not in proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def subjects(report: dict[str, Any], check: str, status: str) -> set[str]:
    return {f["subject"] for f in report["findings"]
            if f["check"] == check and f["status"] == status}


def test_the_rule() -> None:
    assert shard(4) == "00000000000000000"
    assert shard(1001) == shard(1999) == shard("00000000000000001999.abc.tsr")
    assert shard(1999) == "00000000000000001"
    assert checkpoint_rel(1002) == f"{SHARD_1}/00000000000000001002.checkpoint"
    assert checkpoint_rel(7, "0123456789abcdef.tsr") == (
        f"{SHARD_0}/00000000000000000007.0123456789abcdef.tsr")


def test_checkpoints_in_two_shards_verify(built: tuple[Path, Path, SigningKey],
                                          tmp_path: Path) -> None:
    case, public, _ = built
    assert sorted(p.name for p in (case / "custody/checkpoints").iterdir()) == [
        "00000000000000000", "00000000000000001"]
    assert sorted(p.name for p in (case / SHARD_1).iterdir()) == [
        f"{n:020d}.checkpoint" for n in (1001, 1002, 1003, 1004)]
    code, report = verify(case, public, tmp_path)
    assert code == 0, [f for f in report["findings"] if f["status"] in ("fail", "warn")]
    assert subjects(report, "checkpoint", "pass") == {
        checkpoint_rel(n) for n in (1, 1001, 1002, 1003, 1004)}


def test_each_append_names_the_checkpoint_before_it(built: tuple[Path, Path, SigningKey]
                                                    ) -> None:
    entries = list(api.iter_log_entries(Case.open(built[0])))
    assert [e.prev.size for e in entries[-4:]] == [1, 1001, 1002, 1003]


def test_a_checkpoint_in_the_wrong_shard_fails(built: tuple[Path, Path, SigningKey],
                                               copy: Path, tmp_path: Path) -> None:
    moved = f"{SHARD_0}/00000000000000001002.checkpoint"
    (copy / checkpoint_rel(1002)).rename(copy / moved)
    code, report = verify(copy, built[1], tmp_path)
    assert code == 3
    assert moved in subjects(report, "checkpoint.unexpected", "fail")
    (finding,) = [f for f in report["findings"] if f["subject"] == moved]
    assert finding["expected"] == "00000000000000001"
    assert finding["found"] == "00000000000000000"
    # and where it should be, it is missing: the entry after it named it
    assert checkpoint_rel(1002) in subjects(report, "checkpoint.missing", "fail")


@pytest.mark.parametrize(("rel", "named"), [
    ("custody/checkpoints/00000000000000001002.checkpoint", None),  # the unsharded layout
    ("custody/checkpoints/notes.txt", None),
    ("custody/checkpoints/0000000000000000x/00000000000000000001.checkpoint",
     "custody/checkpoints/0000000000000000x"),
    ("custody/checkpoints/000000000000000001/00000000000000000001.checkpoint",  # 18 digits
     "custody/checkpoints/000000000000000001"),
    (f"{SHARD_1}/README", None),
    (f"{SHARD_1}/00000000000000001002/00000000000000001002.checkpoint",
     f"{SHARD_1}/00000000000000001002"),
])
def test_what_breaks_the_rule_fails(rel: str, named: str | None,
                                    built: tuple[Path, Path, SigningKey], copy: Path,
                                    tmp_path: Path) -> None:
    (copy / rel).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(copy / checkpoint_rel(1002), copy / rel)
    code, report = verify(copy, built[1], tmp_path)
    assert code == 3
    assert subjects(report, "checkpoint.unexpected", "fail") == {named or rel}
    assert subjects(report, "checkpoint", "pass") == {
        checkpoint_rel(n) for n in (1, 1001, 1002, 1003, 1004)}


def test_a_symlinked_shard_is_never_followed(built: tuple[Path, Path, SigningKey],
                                             copy: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (copy / SHARD_1).rename(outside)
    (copy / SHARD_1).symlink_to(outside)
    code, report = verify(copy, built[1], tmp_path)
    assert code == 3
    assert SHARD_1 in subjects(report, "file.symlink", "fail")
    assert SHARD_1 in subjects(report, "checkpoint.unexpected", "fail")
    assert subjects(report, "checkpoint", "pass") == {checkpoint_rel(1)}


def test_after_a_crash_the_append_scans_back_across_shards(copy: Path) -> None:
    case = Case.open(copy)
    for size in (1001, 1002, 1003, 1004):  # as if every checkpoint of shard 1 were lost
        checkpoint_path(case, size).unlink()
    log = CustodyLog(case)
    tree = log.tree()
    try:
        prev = log.latest_prev(tree)
        assert (prev.size, prev.root) == (1, tree.range_root(0, 1))
    finally:
        tree.close()


def test_repair_sets_aside_a_tmp_file_in_a_shard(built: tuple[Path, Path, SigningKey],
                                                 copy: Path, tmp_path: Path,
                                                 prov_home: Path) -> None:
    tmp = f"{SHARD_1}/00000000000000001005.tmp"
    (copy / tmp).write_bytes(b"half a checkpoint")
    code, report = verify(copy, built[1], tmp_path)
    assert code == 0 and subjects(report, "checkpoint.tmp", "warn") == {tmp}
    done = api.repair(Case.open(copy), built[2], timefmt.utc_now)
    assert f"set aside the interrupted write {tmp}" in done
    assert (copy / "state/quarantine/00000000000000001005.tmp").is_file()
    code, report = verify(copy, built[1], tmp_path)
    assert code == 0 and not subjects(report, "checkpoint.tmp", "warn")
