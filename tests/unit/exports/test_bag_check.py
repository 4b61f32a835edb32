"""provenance.exports.bag and provenance.exports.bag_check: a bag exported from a case
verifies, and a payload file changed after signing does not."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from exports import Built

from archive.errors import UsageError
from provenance import api
from provenance.base.report import Report
from provenance.custody.case import Case
from provenance.exports.bag import export
from provenance.exports.bag_check import BagVerifier
from provenance.signing.trust import Anchors
from provenance.verification.targets import decide_kind


@pytest.fixture(scope="module")
def bag(built: Built) -> Path:
    out = built.root / "bag"
    export(Case.open(built.case), out, api.load_key("default"), datetime.now(UTC))
    return out


def verify(built: Built, path: Path) -> Report:
    return BagVerifier(path, Anchors.collect([built.pub], [], target=path), remember=False).run()


def test_the_bag_verifies(built: Built, bag: Path) -> None:
    assert decide_kind(bag).kind == "bag"
    report = verify(built, bag)
    assert [f.check for f in report.findings if f.status == "fail"] == []


def test_a_changed_payload_file_fails(built: Built, bag: Path, tmp_path: Path) -> None:
    copy = tmp_path / "bag"
    shutil.copytree(bag, copy, symlinks=True)
    (copy / "data" / "case.json").write_bytes((copy / "data" / "case.json").read_bytes() + b" ")
    report = verify(built, copy)
    assert any(f.status == "fail" for f in report.findings)


def test_a_folder_with_files_is_not_overwritten(built: Built, bag: Path) -> None:
    with pytest.raises(UsageError, match="not an empty folder"):
        export(Case.open(built.case), bag, api.load_key("default"), datetime.now(UTC))
