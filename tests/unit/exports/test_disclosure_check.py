"""provenance.exports.disclosure and provenance.exports.disclosure_check: a disclosure of one
URL verifies, discloses only that URL's records, and fails once a disclosed byte changes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from exports import Built

from archive.errors import UsageError
from provenance import api
from provenance.base.report import Report
from provenance.custody.case import Case
from provenance.exports.disclosure import load_manifest, write_disclosure
from provenance.exports.disclosure_check import DisclosureVerifier
from provenance.signing.trust import Anchors
from provenance.verification.targets import decide_kind


@pytest.fixture(scope="module")
def disclosed(built: Built) -> tuple[Path, dict[str, Any]]:
    case = Case.open(built.case)
    [capture] = [c for c in api.list_captures(case) if c.capture_id == built.first_id]
    out = built.root / "disclosure"
    manifest = write_disclosure(case, capture.capture_dir, out, [built.seeds[1]], False)
    with pytest.raises(UsageError, match="already exists"):
        write_disclosure(case, capture.capture_dir, out, [built.seeds[1]], False)
    return out, manifest


def verify(built: Built, path: Path) -> Report:
    anchors = Anchors.collect([built.pub], [], target=path)
    return DisclosureVerifier(path, anchors, remember=False).run()


def test_the_disclosure_verifies_and_names_what_it_withholds(
    built: Built, disclosed: tuple[Path, dict[str, Any]]
) -> None:
    out, manifest = disclosed
    assert decide_kind(out).kind == "disclosure"
    assert load_manifest(out) == json.loads((out / "disclosure.json").read_text())
    assert manifest["captureId"] == built.first_id
    included = {r.get("uri") for r in manifest["records"] if r["included"]}
    assert built.seeds[1] in included and built.seeds[0] not in included
    report = verify(built, out)
    assert [f.check for f in report.findings if f.status == "fail"] == []


def test_a_changed_record_byte_fails(
    built: Built, disclosed: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    copy = tmp_path / "d"
    shutil.copytree(disclosed[0], copy)
    data = bytearray((copy / "records.warc.gz").read_bytes())
    data[len(data) // 2] ^= 0x01
    (copy / "records.warc.gz").write_bytes(bytes(data))
    report = verify(built, copy)
    assert any(f.status == "fail" for f in report.findings)
