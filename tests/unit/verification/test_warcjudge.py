"""provenance.verification.warcjudge: a sealed WARC judged against its digest and record count,
and a changed record named by its offset."""

from __future__ import annotations

import hashlib
from pathlib import Path

import warcs

from archive.warc.reader import WarcReader
from provenance.base.report import Report
from provenance.custody import merkle
from provenance.verification.revisits import RevisitLedger
from provenance.verification.warcjudge import WarcJudge

BODIES = [b"<p>%d</p>" % i * 50 for i in range(5)]


def sealed(folder: Path) -> tuple[str, bytes, int]:
    folder.mkdir(parents=True)
    path = warcs.write(
        folder / "data-00000.warc.gz", [warcs.warcinfo(), *(warcs.response(b) for b in BODIES)]
    )
    with path.open("rb") as fh:
        count = len(list(WarcReader(fh)))
    return "c/data-00000.warc.gz", hashlib.sha256(path.read_bytes()).digest(), count


def judge(root: Path, rel: str, sha256: bytes, records: int) -> tuple[bool, list[tuple[str, str]]]:
    report = Report(str(root), "case")
    judge = WarcJudge(root, report, RevisitLedger(), jobs=1)
    try:
        judge.plan(["c"])
        ok = judge.check(rel, sha256, records, merkle.TreeBuilder())
    finally:
        judge.close()
    return ok, [(f.status, f.check) for f in report.findings]


def test_the_sealed_file_passes(tmp_path: Path) -> None:
    rel, digest, count = sealed(tmp_path / "c")
    assert judge(tmp_path, rel, digest, count) == (True, [])


def test_a_wrong_count_or_a_missing_file_fails(tmp_path: Path) -> None:
    rel, digest, count = sealed(tmp_path / "c")
    assert judge(tmp_path, rel, digest, count + 1) == (
        False,
        [("info", "warc.records"), ("fail", "seal.records")],  # each record intact: the count
    )
    assert judge(tmp_path, "c/gone.warc.gz", digest, count) == (False, [("fail", "file.missing")])


def test_a_changed_record_is_named(tmp_path: Path) -> None:
    rel, digest, count = sealed(tmp_path / "c")
    path = tmp_path / rel
    records = [warcs.warcinfo(), *(warcs.response(b) for b in BODIES)]
    records[3] = records[3].replace(b"<p>2</p>", b"<p>X</p>", 1)  # digests no longer match
    warcs.write(path, records)
    ok, findings = judge(tmp_path, rel, digest, count)
    assert not ok
    assert ("fail", "file.digest") in findings
    assert ("fail", "record.blockDigest") in findings
