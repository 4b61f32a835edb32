"""provenance.exports.wacz and provenance.exports.wacz_check: a WACZ written from a case
verifies against the case's key, and one flipped byte in it does not."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from exports import Built

from archive.errors import UsageError
from provenance import api
from provenance.base.report import Report
from provenance.custody.case import Case
from provenance.exports.common import capture_seeds, select
from provenance.exports.wacz import export
from provenance.exports.wacz_check import WaczVerifier
from provenance.signing import p384
from provenance.signing.trust import Anchors
from provenance.verification.targets import decide_kind


@pytest.fixture(scope="module")
def wacz(built: Built) -> Path:
    case = Case.open(built.case)
    key = api.load_key("default")
    signer = p384.load_or_create("default", lambda: b"test-passphrase")
    out = built.root / "all.wacz"
    result = export(case, [built.first_id], out, key, signer, datetime.now(UTC))
    assert result.captures == (built.first_id,) or list(result.captures) == [built.first_id]
    with pytest.raises(UsageError, match="already exists"):
        export(case, [], out, key, signer, datetime.now(UTC))
    return out


def verify(built: Built, path: Path) -> Report:
    anchors = Anchors.collect([built.pub], [], target=path)
    return WaczVerifier(path, anchors, remember=False).run()


def test_the_export_verifies(built: Built, wacz: Path) -> None:
    assert decide_kind(wacz).kind == "wacz"
    report = verify(built, wacz)
    assert [f.check for f in report.findings if f.status == "fail"] == []
    assert any(f.status == "pass" for f in report.findings)


def test_one_flipped_byte_fails(built: Built, wacz: Path, tmp_path: Path) -> None:
    data = bytearray(wacz.read_bytes())
    data[len(data) // 3] ^= 0x01
    (tmp_path / "bad.wacz").write_bytes(bytes(data))
    report = verify(built, tmp_path / "bad.wacz")
    assert any(f.status == "fail" for f in report.findings)


def test_the_capture_seeds_are_the_snapshot_seeds(built: Built) -> None:
    [parts] = select(Case.open(built.case), [built.first_id])
    assert capture_seeds(parts) == built.seeds
