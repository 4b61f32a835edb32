"""provenance.verification.stamps: one token judged as verify reports it: trusted, from a root
the verifier did not choose, for other data, or dated after the moment of verification."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from tsa import LocalTSA

from provenance.base.report import Report
from provenance.timestamps.rfc3161 import request_stamp
from provenance.timestamps.tsatrust import TsaRoots
from provenance.verification.stamps import StampJudge

DATA = b"a sealed statement"


@pytest.fixture(scope="module")
def token() -> tuple[bytes, LocalTSA]:
    with LocalTSA() as tsa:
        return request_stamp(DATA, tsa.url, timeout=5).response_der, tsa


def judge(
    tmp_path: Path, token: bytes, roots: TsaRoots, data: bytes = DATA, **kw: object
) -> list[tuple[str, str]]:
    (tmp_path / "seal.tsr").write_bytes(token)
    report = Report(str(tmp_path), "case")
    StampJudge(tmp_path, report, roots, **kw).token("seal.tsr", data, "tsa")  # type: ignore[arg-type]
    return [(f.status, f.check) for f in report.findings]


def test_a_token_under_a_chosen_root_passes(tmp_path: Path, token: tuple[bytes, LocalTSA]) -> None:
    der, tsa = token
    assert judge(tmp_path, der, TsaRoots((tsa.root_cert,))) == [("pass", "timestamp")]


def test_a_root_the_verifier_did_not_choose_is_a_warning(
    tmp_path: Path, token: tuple[bytes, LocalTSA]
) -> None:
    assert judge(tmp_path, token[0], TsaRoots(())) == [("warn", "timestamp.root")]


def test_a_token_for_other_data_fails(tmp_path: Path, token: tuple[bytes, LocalTSA]) -> None:
    der, tsa = token
    assert judge(tmp_path, der, TsaRoots((tsa.root_cert,)), b"other") == [
        ("fail", "timestamp.token")
    ]


def test_a_token_from_the_future_fails(tmp_path: Path, token: tuple[bytes, LocalTSA]) -> None:
    der, tsa = token
    past = datetime(2000, 1, 1, tzinfo=UTC)
    found = judge(tmp_path, der, TsaRoots((tsa.root_cert,)), now=lambda: past)
    assert found == [("fail", "timestamp.future")]
