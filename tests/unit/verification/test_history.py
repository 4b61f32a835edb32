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
