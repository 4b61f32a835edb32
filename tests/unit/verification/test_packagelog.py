"""provenance.verification.packagelog: a package's unsigned manifest fields must agree with
the checkpoint it carries, and its log lines must be proved into it."""

from __future__ import annotations

from typing import Any

from provenance.base.report import Report
from provenance.custody import merkle
from provenance.custody.checkpoint import Checkpoint
from provenance.signing.trust import Anchors
from provenance.timestamps.tsatrust import TsaRoots
from provenance.verification.packagelog import PackageLog

CHECKPOINT = Checkpoint(
    "prov-case/abc", 3, merkle.root_of([merkle.leaf_hash(b"%d" % i) for i in range(3)])
)


def identity(manifest: dict[str, Any], tree_size: object) -> list[str]:
    report = Report("p.wacz", "wacz")
    PackageLog(report, Anchors(), TsaRoots(())).check_identity(
        manifest, CHECKPOINT, tree_size, "datapackage.json"
    )
    return [f.check for f in report.findings if f.status == "fail"]


def test_a_manifest_that_agrees_with_its_checkpoint() -> None:
    assert identity({"origin": "prov-case/abc", "caseId": "abc"}, 3) == []


def test_each_disagreement_is_its_own_finding() -> None:
    assert identity({"origin": "prov-case/xyz", "caseId": "abc"}, 3) == ["package.origin"]
    assert identity({"origin": "prov-case/abc", "caseId": "xyz"}, 3) == ["package.caseId"]
    assert identity({"origin": "prov-case/abc", "caseId": "abc"}, 4) == ["package.treeSize"]
    assert identity({"origin": "prov-case/abc", "caseId": "abc"}, True) == ["package.treeSize"]


def test_lines_and_proofs_must_pair_up() -> None:
    report = Report("d", "disclosure")
    log = PackageLog(report, Anchors(), TsaRoots(()), kind="disclosure")
    log.check_lines(b"{}\n", [], CHECKPOINT, "log-entries.jsonl")
    assert next(f.check for f in report.findings if f.status == "fail") == "disclosure.entries"
