"""provenance.verification.history: a log judged against checkpoints seen earlier (RFC 9162
2.1.4): consistent, rolled back, forked, another log's, or an older prefix in a package."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from provenance.base.report import Report
from provenance.custody import merkle
from provenance.custody.checkpoint import Checkpoint
from provenance.verification.history import History

ORIGIN = "prov.example/case-1"
LEAVES = [merkle.leaf_hash(b"%d" % i) for i in range(10)]
OTHER = [merkle.leaf_hash(b"x%d" % i) for i in range(10)]


def root_at(leaves: list[bytes]) -> Callable[[int], bytes | None]:
    return lambda size: merkle.root_of(leaves[:size]) if size <= len(leaves) else None


def judged(
    since: Checkpoint, have: int, leaves: list[bytes] = LEAVES, *, package: bool = False
) -> list[tuple[str, str]]:
    report = Report("case", "case")
    History(
        report, ORIGIN, [("--since", since)], subject="custody/log.jsonl", package=package
    ).judge(have, root_at(leaves))
    return [(f.status, f.check) for f in report.findings]


@pytest.fixture(autouse=True)
def empty_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROV_HOME", str(tmp_path))


def seen(size: int, leaves: list[bytes] = LEAVES, origin: str = ORIGIN) -> Checkpoint:
    return Checkpoint(origin, size, merkle.root_of(leaves[:size]))


def test_a_log_that_grew_is_consistent() -> None:
    assert judged(seen(4), 10) == [("pass", "history.consistent")]


def test_a_rollback_a_fork_and_another_log() -> None:
    assert judged(seen(8), 6) == [("fail", "history.rollback")]
    assert judged(seen(4, OTHER), 10) == [("fail", "history.fork")]
    assert judged(seen(4, origin="elsewhere/log"), 10) == [("fail", "history.origin")]


def test_a_package_may_hold_an_older_prefix_but_not_prove_it_alone() -> None:
    assert judged(seen(8), 6, package=True) == [("warn", "history.unproven")]


def test_nothing_seen_before_is_a_warning() -> None:
    report = Report("case", "case")
    History(report, ORIGIN, [], subject="log", package=False).judge(10, root_at(LEAVES))
    assert [(f.status, f.check) for f in report.findings] == [("warn", "history.unanchored")]


def last_full(case_id: str, have: int, leaves: list[bytes] = LEAVES
              ) -> tuple[dict[str, object] | None, list[tuple[str, str]]]:
    report = Report("case", "case")
    found = History(report, ORIGIN, [], subject="log", package=False).last_full(
        case_id, have, root_at(leaves))
    return found, [(f.status, f.check) for f in report.findings]


def test_the_last_full_verify_is_reported_for_this_log_only(tmp_path: Path) -> None:
    assert last_full("case-a", 6) == (None, [("warn", "history.fullVerify")])  # none yet
    History(Report("case", "case"), ORIGIN, [], subject="log", package=False).remember_full(
        "case-a", 4, merkle.root_of(LEAVES[:4]), "2026-01-02T03:04:05Z")
    stored = tmp_path / "seen" / ORIGIN / "full-verify.json"
    assert stored.is_file()  # the verifier's own memory, beside the seen checkpoints
    found, findings = last_full("case-a", 6)
    assert found == {"at": "2026-01-02T03:04:05Z", "logSize": 4,
                     "logRoot": "sha256:" + merkle.root_of(LEAVES[:4]).hex()}
    assert findings == [("info", "history.fullVerify")]
    assert last_full("case-b", 6)[0] is None  # another case of the same origin
    assert last_full("case-a", 6, OTHER)[0] is None  # a log that differs at that size
    assert last_full("case-a", 3)[0] is None  # a log now shorter than the one verified


def test_a_damaged_record_of_the_last_full_verify_is_none(tmp_path: Path) -> None:
    folder = tmp_path / "seen" / ORIGIN
    folder.mkdir(parents=True)
    for junk in (b"[]", b'{"at": 1}', b"not json", b'{"at": "x", "caseId": "case-a", '
                 b'"logSize": true, "logRoot": "sha256:00"}'):
        (folder / "full-verify.json").write_bytes(junk)
        found, findings = last_full("case-a", 6)
        assert found is None
        assert ("warn", "history.fullVerify") in findings
        assert ("warn", "history.seen") in findings


def test_an_origin_that_names_no_folder_has_no_last_full_verify() -> None:
    report = Report("case", "case")
    history = History(report, "../escape", [], subject="log", package=False)
    assert history.last_full("case-a", 6, root_at(LEAVES)) is None
    assert ("warn", "history.fullVerify") in [(f.status, f.check) for f in report.findings]
