"""Attacks on `prov verify --fixity` and on the custody log's readers (issue 14): someone who
can write the case, but holds no trusted key, must not get a pass for evidence that differs
from what was sealed, nor a crash (exit 1), a hang or unbounded work.

One case is built per module (the demo site and a synthetic capture, stamped by a local TSA)
and copied for each test; the verifier is an auditor with its own ``$PROV_HOME``, given the
founding key and the TSA root on the command line. Each attack runs through the fixity check
and, where the verdict is concerned, through a full verify too: both must fail it, at the
same place.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from exports import Built, build
from helpers import run_prov_at, verify_at
from tsa import LocalTSA


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    with LocalTSA() as tsa:
        made = build(tmp_path_factory.mktemp("fixity-attacks"), tsa)
        made.tsa_root()
        yield made


@pytest.fixture
def case(built: Built, tmp_path: Path) -> Path:
    target = tmp_path / "case"
    shutil.copytree(built.case, target, symlinks=True)
    return target


@pytest.fixture
def auditor(tmp_path: Path) -> Path:
    home = tmp_path / "auditor-home"
    home.mkdir()
    return home


def verify(built: Built, auditor: Path, case: Path, *args: str) -> tuple[int, dict[str, Any]]:
    return verify_at(auditor, case, "--trust", built.pub, "--tsa-root", built.tsa_root(), *args)


def failed(report: dict[str, Any]) -> set[tuple[str, str]]:
    return {(f["check"], f["subject"]) for f in report["findings"] if f["status"] == "fail"}


def capture_dir(case: Path, index: int = 0) -> Path:
    return sorted(case.glob("captures/*/*/*/*"))[index]


def rel(case: Path, path: Path) -> str:
    return path.relative_to(case).as_posix()


def edit_entry(case: Path, index: int, edit: Callable[[dict[str, Any]], None]) -> None:
    """Rewrite the payload of log entry ``index`` (its signature no longer verifies)."""
    log = case / "custody" / "log.jsonl"
    lines = log.read_bytes().split(b"\n")
    envelope = json.loads(lines[index])
    payload = json.loads(base64.b64decode(envelope["payload"]))
    edit(payload)
    envelope["payload"] = base64.b64encode(json.dumps(payload).encode()).decode()
    lines[index] = json.dumps(envelope, separators=(",", ":")).encode()
    log.write_bytes(b"\n".join(lines))


# -- the log's readers: an edited entry is shown or refused, never a crash --------------------


@pytest.mark.parametrize("value", ["x", 1.5, [1], True, -3])
def test_a_capture_entry_with_a_count_that_is_no_count_is_shown_not_a_crash(
        value: object, built: Built, case: Path) -> None:
    def edit(payload: dict[str, Any]) -> None:
        payload["details"]["urls"] = value
        payload["details"]["failed"] = value

    edit_entry(case, 1, edit)
    capture_id = capture_dir(case).name
    proc = run_prov_at(built.root / "prov-home", "captures", "show", capture_id[:13],
                       "--case", case, "--json")
    assert proc.returncode == 0, (proc.returncode, proc.stderr)
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr
    shown = json.loads(proc.stdout)
    assert (shown["captureId"], shown["urls"], shown["failed"]) == (capture_id, 0, 0)


# -- the evidence on disk: whatever stands where a sealed file was, both checks fail it -------


def warc(case: Path, index: int = 0) -> Path:
    return sorted(capture_dir(case, index).glob("*.warc.gz"))[0]


def folder_behind_a_symlink(case: Path) -> tuple[str, str]:
    """The capture folder becomes a symlink to an untouched copy; the real one is edited."""
    folder = capture_dir(case)
    pristine = case.parent / "pristine"
    shutil.copytree(folder, pristine)
    shutil.rmtree(folder)
    os.symlink(pristine, folder)
    return "file.symlink", rel(case, folder)


def warc_behind_a_symlink(case: Path) -> tuple[str, str]:
    target = warc(case)
    moved = case.parent / target.name
    shutil.move(target, moved)
    os.symlink(moved, target)
    return "file.symlink", rel(case, target)


def warc_as_a_fifo(case: Path) -> tuple[str, str]:
    target = warc(case)
    target.unlink()
    os.mkfifo(target)
    return "file.type", rel(case, target)


def warc_of_another_capture(case: Path) -> tuple[str, str]:
    """A hard link to the other capture's WARC: a regular file, sealed, but not this one."""
    target = warc(case, 0)
    target.unlink()
    os.link(warc(case, 1), target)
    return "file.digest", rel(case, target)


def warc_as_a_sparse_file(case: Path) -> tuple[str, str]:
    """64 MiB that take no disk: enough for the worker processes to hash it."""
    target = warc(case)
    target.unlink()
    with open(target, "wb") as fh:
        fh.truncate(64 << 20)
    return "file.digest", rel(case, target)


def copy_as_plain_warc(case: Path) -> tuple[str, str]:
    """The sealed bytes again, under the other suffix a WARC may have."""
    added = warc(case).with_name("data-00000.warc")
    shutil.copyfile(warc(case), added)
    return "capture.unexpected", rel(case, added)


def copy_in_capitals(case: Path) -> tuple[str, str]:
    added = warc(case).with_name("DATA-00000.WARC.GZ")
    shutil.copyfile(warc(case), added)
    return "capture.unexpected", rel(case, added)


def index_with_a_line_more(case: Path) -> tuple[str, str]:
    """The sealed file that is not a WARC (the CDXJ index): hashed by fixity too."""
    index = capture_dir(case) / "index.cdxj"
    index.write_bytes(index.read_bytes() + index.read_bytes().split(b"\n")[0] + b"\n")
    return "file.digest", rel(case, index)


ON_DISK: dict[str, Callable[[Path], tuple[str, str]]] = {
    "a capture folder behind a symlink": folder_behind_a_symlink,
    "a WARC behind a symlink": warc_behind_a_symlink,
    "a FIFO for a WARC": warc_as_a_fifo,
    "another capture's WARC, hard-linked": warc_of_another_capture,
    "a sparse file for a WARC": warc_as_a_sparse_file,
    "a copy as .warc": copy_as_plain_warc,
    "a copy in capitals": copy_in_capitals,
    "a line added to the sealed index": index_with_a_line_more,
}


@pytest.mark.parametrize("attack", list(ON_DISK))
def test_what_stands_for_a_sealed_file_fails_fixity_and_full_alike(
        attack: str, built: Built, auditor: Path, case: Path) -> None:
    assert verify(built, auditor, case)[0] == 0  # a full verify passed first: remembered
    check, subject = ON_DISK[attack](case)
    code, report = verify(built, auditor, case, "--fixity")
    assert (code, report["result"], report["mode"]) == (3, "fail", "fixity")
    assert (check, subject) in failed(report), failed(report)
    code, report = verify(built, auditor, case, "--no-remember")
    assert (code, report["mode"]) == (3, "full")
    assert (check, subject) in failed(report), failed(report)


# -- the last full verify: only ever of this log, up to the size it covered -------------------


def test_another_case_wearing_the_verified_cases_identity_gets_no_full_verify(
        built: Built, auditor: Path, case: Path, tmp_path: Path) -> None:
    """A case of the same operator, given the verified case's case.json (so its origin, and
    the verifier's memory of that origin): the log at the remembered size is another one."""
    assert verify(built, auditor, case)[0] == 0
    other = tmp_path / "other"
    proc: Any = built.prov("init", str(other), "--title", "other")
    assert proc.returncode == 0, proc.stderr
    shutil.copyfile(case / "case.json", other / "case.json")
    code, report = verify(built, auditor, other, "--fixity")
    assert (code, report["mode"]) == (3, "fixity")
    assert "lastFullVerify" not in report
    assert ("file.digest", "case.json") in failed(report), failed(report)
    assert [f["status"] for f in report["findings"] if f["check"] == "history.fullVerify"] == [
        "warn"]


def test_entries_logged_after_the_full_verify_are_said_to_be_unverified(
        built: Built, auditor: Path, case: Path) -> None:
    assert verify(built, auditor, case)[0] == 0
    size = (case / "custody" / "log.jsonl").read_bytes().count(b"\n")
    proc: Any = built.prov("custody", "dispose", "--as", "archived", "--case", str(case))
    assert proc.returncode == 0, proc.stderr
    code, report = verify(built, auditor, case, "--fixity")
    assert code == 0
    assert report["lastFullVerify"]["logSize"] == size  # not the size the log has now
    said = [f["message"] for f in report["findings"] if f["check"] == "history.fullVerify"]
    assert len(said) == 1 and "the 1 entries logged since were never fully verified" in said[0]


def test_a_case_rolled_back_after_the_full_verify_fails(
        built: Built, auditor: Path, case: Path, tmp_path: Path) -> None:
    """The full verify saw the log after a later entry; the case is then replaced by the
    copy taken before it: a rollback, whatever the record of the full verify says."""
    older = tmp_path / "older"
    shutil.copytree(case, older, symlinks=True)
    proc: Any = built.prov("custody", "dispose", "--as", "archived", "--case", str(case))
    assert proc.returncode == 0, proc.stderr
    assert verify(built, auditor, case)[0] == 0
    shutil.rmtree(case)
    shutil.copytree(older, case, symlinks=True)
    code, report = verify(built, auditor, case, "--fixity")
    assert code == 3
    assert any(c == "history.rollback" for c, _ in failed(report)), failed(report)


# -- what no seal names is never read --------------------------------------------------------


def test_a_terabyte_file_no_seal_names_is_never_hashed(
        built: Built, auditor: Path, case: Path) -> None:
    """A sparse file of 1 TiB (no disk used) added to a capture folder: hashing it would take
    hours. Fixity hashes ahead only what a seal lists, so the verdict comes at once: the added
    file fails, and a usage error after the hashing started is not held up by it either."""
    added = capture_dir(case) / "data-00000.warc"
    with open(added, "wb") as fh:
        fh.truncate(1 << 40)
    code, report = verify(built, auditor, case, "--fixity")
    assert (code, report["mode"]) == (3, "fixity")
    assert failed(report) == {("capture.unexpected", rel(case, added))}
    pinned = run_prov_at(auditor, "verify", case, "--fixity", "--as", "bag")
    assert pinned.returncode == 2 and "--fixity checks a case only" in pinned.stderr


def test_a_forged_seal_listing_a_terabyte_file_fails_without_hashing_it_whole(
        built: Built, auditor: Path, case: Path) -> None:
    """The seal is read before it is judged, so a forged one steers what the workers hash
    ahead: the sparse terabyte it lists is given up when the verdict is in (the seal fails)."""
    folder = capture_dir(case)
    seal = folder / "seal.dsse.json"
    envelope = json.loads(seal.read_bytes())
    statement = json.loads(base64.b64decode(envelope["payload"]))
    statement["subject"].insert(0, {"name": "big.warc.gz", "digest": {"sha256": "00" * 32}})
    statement["predicate"]["records"]["big.warc.gz"] = 1
    envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    seal.write_text(json.dumps(envelope))
    with open(folder / "big.warc.gz", "wb") as fh:
        fh.truncate(1 << 40)
    code, report = verify(built, auditor, case, "--fixity")
    assert (code, report["mode"]) == (3, "fixity")
    assert ("file.digest", rel(case, seal)) in failed(report), failed(report)
