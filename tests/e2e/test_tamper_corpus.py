"""The tamper corpus: named mutations of a sealed case's WARC (``corpus.py``) judged by
``prov verify`` on the case and by ``prov verify-warc`` on the file alone, and a property test:
any single-byte change anywhere in the evidence set of docs/FORMATS.md ("Signed, bound and
derived") makes verify fail and name the file.

Mutations of the rest of a case (seals, keys, log, checkpoints, rollback, files added, deleted
or replaced by symlinks) are in tests/e2e/test_tamper.py; deleted and changed time-stamp tokens in
tests/e2e/test_stamping.py (``test_missing_or_changed_token_fails``). This file reuses their sealed
case rather than building another.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from corpus import CASE_NAMES_FILE_ONLY, DETECTED_BY, MUTATIONS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_tamper import SealedCase, auditor_home, copy, names, sealed, warc_of

from provenance import api
from provenance.verification.warcs import verify_warcs

__all__ = ["auditor_home", "copy", "sealed"]  # fixtures, imported to be found by pytest
# Derived, cached or unsigned (FORMATS, "Signed, bound and derived"): not evidence.
NOT_EVIDENCE = ("keys/", "state/", "config.toml", ".lock")


def verify_case(case: Path, sealed: SealedCase, home: Path,
                monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("PROV_HOME", str(home))
    return api.verify(case, trust_files=[sealed.public], remember=False).as_json()


def fails(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["status"] == "fail"]


def names_offset(finding: dict[str, Any], rel: str, offset: int) -> bool:
    return finding["subject"].startswith(f"{rel} @{offset} ") or (
        names(finding["subject"], rel) and f"offset {offset}" in finding["message"])


@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_case_catches_every_mutation(mutation: str, sealed: SealedCase, copy: Path,
                                     auditor_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rel = warc_of(sealed)
    offset = MUTATIONS[mutation](copy / rel)
    report = verify_case(copy, sealed, auditor_home, monkeypatch)
    assert report["exitCode"] == 3
    failed = fails(report)
    assert any(names(f["subject"], rel) for f in failed), failed
    if offset is not None and DETECTED_BY[mutation] == "warc" and (
            mutation not in CASE_NAMES_FILE_ONLY):
        assert any(names_offset(f, rel, offset) for f in failed), failed


@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_lone_warc(mutation: str, sealed: SealedCase, tmp_path: Path) -> None:
    """What a WARC checker can see without a seal: every self-inconsistency, nothing else."""
    path = tmp_path / "data-00000.warc.gz"
    shutil.copyfile(sealed.root / warc_of(sealed), path)
    assert verify_warcs([path], jobs=1).exit_code == 0
    offset = MUTATIONS[mutation](path)
    report = verify_warcs([path], jobs=1).as_json()
    if DETECTED_BY[mutation] == "seal":
        assert report["exitCode"] == 0, fails(report)  # the limit the seal exists for
        return
    assert report["exitCode"] == 3
    failed = fails(report)
    assert all(f["subject"].startswith(str(path)) for f in failed)
    if offset is not None:
        assert any(names_offset(f, str(path), offset) for f in failed), failed


# -- property: any one-byte change in the evidence set is detected ----------------------------


@pytest.fixture(scope="module")
def evidence(sealed: SealedCase, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
        tuple[Path, list[str], Path]]:
    base = tmp_path_factory.mktemp("evidence")
    case = base / "case"
    shutil.copytree(sealed.root, case, symlinks=True)
    home = base / "home"
    home.mkdir()
    files = sorted(p.relative_to(case).as_posix() for p in case.rglob("*")
                   if p.is_file() and not p.is_symlink())
    yield case, [f for f in files if not f.startswith(NOT_EVIDENCE)
                 and not f.endswith(".cosignature")], home


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_single_byte_change_is_detected(data: st.DataObject, sealed: SealedCase,
                                            evidence: tuple[Path, list[str], Path],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    case, files, home = evidence
    rel = data.draw(st.sampled_from(files), label="file")
    path = case / rel
    original = path.read_bytes()
    at = data.draw(st.integers(0, len(original) - 1), label="offset")
    xor = data.draw(st.integers(1, 255), label="xor")
    changed = bytearray(original)
    changed[at] ^= xor
    try:
        path.write_bytes(bytes(changed))
        report = verify_case(case, sealed, home, monkeypatch)
    finally:
        path.write_bytes(original)
    assert report["exitCode"] == 3, (rel, at, xor)
    assert any(f["subject"].startswith(rel) for f in fails(report)), (rel, fails(report))


def test_evidence_set_is_what_formats_lists(evidence: tuple[Path, list[str], Path]) -> None:
    _, files, _ = evidence
    kinds = {f.rsplit("/", 1)[-1].split(".", 1)[-1] if "/" in f else f for f in files}
    assert {"case.json", "jsonl", "checkpoint", "warc.gz", "dsse.json", "cdxj"} <= kinds


@pytest.mark.parametrize("mutation", ["payload byte flipped", "truncated at 50%",
                                      "gzip member recompressed"])
def test_report_does_not_depend_on_workers(mutation: str, sealed: SealedCase, copy: Path,
                                           auditor_home: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from provenance.verification import parallel

    monkeypatch.setattr(parallel, "RANGE_BYTES", 2048)  # many ranges, even in a small file
    monkeypatch.setattr(parallel, "POOL_MIN_BYTES", 0)
    MUTATIONS[mutation](copy / warc_of(sealed))
    monkeypatch.setenv("PROV_HOME", str(auditor_home))
    reports = [api.verify(copy, trust_files=[sealed.public], remember=False, jobs=jobs)
               .as_json() for jobs in (1, 2)]
    assert reports[0] == reports[1]
    assert reports[0]["exitCode"] == 3
