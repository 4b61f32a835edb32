"""`prov verify --fixity`: every signature, the custody log, its checkpoints, the tokens and each
sealed file's sha256 against its seal, no record inflated; the report says what it did not
re-check and when this verifier's last full verify passed.

One case is built per module (the demo site and a synthetic capture, every seal stamped by a
local TSA) and copied for each test; the verifier is an auditor with its own empty
``$PROV_HOME``, given the founding key and the TSA root on the command line.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from exports import Built, build
from helpers import run_prov_at, verify_at
from tsa import LocalTSA

from provenance.base import timefmt

GOLDEN = Path(__file__).parents[1] / "data" / "golden"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    with LocalTSA() as tsa:
        made = build(tmp_path_factory.mktemp("fixity"), tsa)
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


def checks(report: dict[str, Any], status: str) -> list[tuple[str, str]]:
    return [(f["check"], f["subject"]) for f in report["findings"] if f["status"] == status]


def capture_dir(case: Path) -> Path:
    return sorted(case.glob("captures/*/*/*/*"))[0]


def test_a_clean_case_passes_and_names_what_was_not_checked(
        built: Built, auditor: Path, case: Path) -> None:
    code, report = verify(built, auditor, case, "--fixity")
    assert code == 0, checks(report, "fail")
    assert (report["mode"], report["result"]) == ("fixity", "pass")
    assert {"record.blockDigest", "record.payloadDigest", "seal.recordsRoot"} <= set(
        report["notChecked"])
    assert "lastFullVerify" not in report  # no full verify by this verifier yet
    assert [f["status"] for f in report["findings"] if f["check"] == "history.fullVerify"] == [
        "warn"]
    passed = {c for c, _ in checks(report, "pass")}
    assert {"log.signatures", "checkpoint", "seal.signature", "capture", "timestamp",
            "trust.anchor"} <= passed
    assert not {"seal.recordsRoot", "record.blockDigest"} & {f["check"] for f in
                                                              report["findings"]}
    table = run_prov_at(auditor, "verify", case, "--fixity", "--trust", built.pub,
                        "--tsa-root", built.tsa_root())
    assert table.returncode == 0, table.stderr
    assert "VERIFIED (FIXITY): " in table.stdout
    assert "NOT CHECKED (fixity): record.blockDigest, record.payloadDigest" in table.stdout


def test_last_full_verify_appears_after_a_full_verify(
        built: Built, auditor: Path, case: Path) -> None:
    code, report = verify(built, auditor, case, "--no-remember")
    assert (code, report["mode"], report["notChecked"]) == (0, "full", [])
    assert "lastFullVerify" not in verify(built, auditor, case, "--fixity")[1]  # not remembered
    before = timefmt.utc_now()
    assert verify(built, auditor, case)[0] == 0
    code, report = verify(built, auditor, case, "--fixity")
    assert code == 0
    last = report["lastFullVerify"]
    assert list(last) == ["at", "logSize", "logRoot"]
    assert timefmt.parse_time(last["at"]) >= before.replace(microsecond=0)
    lines = (case / "custody" / "log.jsonl").read_bytes().count(b"\n")
    assert 0 < last["logSize"] <= lines
    assert [f["status"] for f in report["findings"] if f["check"] == "history.fullVerify"] == [
        "info"]
    assert (auditor / "seen").is_dir() and not list(case.rglob("full-verify.json"))
    other = auditor.parent / "other-auditor"
    other.mkdir()
    assert "lastFullVerify" not in verify(built, other, case, "--fixity")[1]  # another verifier


def test_fixity_json_has_the_golden_shape(built: Built, auditor: Path, case: Path) -> None:
    assert verify(built, auditor, case)[0] == 0
    _, report = verify(built, auditor, case, "--fixity")
    golden = json.loads((GOLDEN / "verify-report-fixity.json").read_text())
    assert list(report) == list(golden)
    assert list(report["lastFullVerify"]) == list(golden["lastFullVerify"])
    assert report["notChecked"] == golden["notChecked"]


# -- tampering: exit 3 and the finding a full verify would give ------------------------------


def flip_warc_byte(case: Path) -> tuple[str, set[str]]:
    warc = sorted(capture_dir(case).glob("*.warc.gz"))[0]
    data = bytearray(warc.read_bytes())
    data[len(data) // 2] ^= 0x20
    warc.write_bytes(bytes(data))
    return warc.relative_to(case).as_posix(), {"file.digest"}


def add_file(case: Path) -> tuple[str, set[str]]:
    added = capture_dir(case) / "data-00001.warc.gz"
    shutil.copyfile(sorted(capture_dir(case).glob("*.warc.gz"))[0], added)
    return added.relative_to(case).as_posix(), {"capture.unexpected"}


def remove_file(case: Path) -> tuple[str, set[str]]:
    gone = sorted(capture_dir(case).glob("*.warc.gz"))[0]
    gone.unlink()
    return gone.relative_to(case).as_posix(), {"file.missing"}


def tamper_log_entry(case: Path) -> tuple[str, set[str]]:
    log = case / "custody" / "log.jsonl"
    lines = log.read_bytes().split(b"\n")
    lines[1] = lines[1].replace(b'"payload":"', b'"payload":"e', 1)
    log.write_bytes(b"\n".join(lines))
    return "custody/log.jsonl entry 1", {"log.entry"}


def tamper_token(case: Path) -> tuple[str, set[str]]:
    token = sorted(capture_dir(case).glob("seal.*.tsr"))[0]
    data = bytearray(token.read_bytes())
    data[len(data) // 2] ^= 0x01
    token.write_bytes(bytes(data))
    return token.relative_to(case).as_posix(), {"file.digest", "timestamp.token"}


TAMPERS: dict[str, Callable[[Path], tuple[str, set[str]]]] = {
    "a flipped byte in a WARC": flip_warc_byte,
    "an added file": add_file,
    "a removed file": remove_file,
    "a tampered log entry": tamper_log_entry,
    "a tampered time-stamp token": tamper_token,
}


@pytest.mark.parametrize("tamper", list(TAMPERS))
def test_tampering_fails_as_in_a_full_verify(
        tamper: str, built: Built, auditor: Path, case: Path) -> None:
    assert verify(built, auditor, case)[0] == 0  # a full verify passed first: remembered
    subject, expected = TAMPERS[tamper](case)
    code, report = verify(built, auditor, case, "--fixity")
    assert (code, report["result"], report["mode"]) == (3, "fail", "fixity")
    failed = checks(report, "fail")
    assert any(c in expected and s == subject for c, s in failed), failed
    full_code, full = verify(built, auditor, case, "--no-remember")
    assert full_code == 3
    assert any(c in expected and s.split(" @")[0] == subject.split(" @")[0]
               for c, s in checks(full, "fail"))


def test_a_case_whose_identity_is_damaged_fails_in_fixity_mode(
        built: Built, auditor: Path, case: Path) -> None:
    (case / "case.json").write_bytes(b"{}")
    code, report = verify(built, auditor, case, "--fixity")
    assert (code, report["mode"]) == (3, "fixity")
    assert report["notChecked"] and ("case.file", "case.json") in checks(report, "fail")


def test_fixity_refuses_a_package(built: Built, auditor: Path, tmp_path: Path) -> None:
    proof = tmp_path / "proof.json"
    proof.write_text("{}")
    proc = run_prov_at(auditor, "verify", proof, "--fixity", "--trust", built.pub)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "--fixity checks a case only" in proc.stderr and "Traceback" not in proc.stderr
    pinned = run_prov_at(auditor, "verify", built.case, "--fixity", "--as", "bag")
    assert pinned.returncode == 2 and "bag" in pinned.stderr
