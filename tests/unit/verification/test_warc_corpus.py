"""``prov verify-warc`` over real WARC files that other tools made: the shared corpus.

The corpus (``shared/corpus/warc`` beside the checkout, read in place and never copied) comes
with ``MANIFEST.tsv``: per file the tool that made it, the expected exit code of verify-warc
(0 valid, 3 a failed check or no digest at all, 4 not a WARC) and the reason. Each file is
checked through the real command; the kind of finding the reason names must be among the
failures, and a valid file must fail nothing. The reasons are matched by the phrases below, so
that a new row of a known kind needs no new code here.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

import pytest
from warcs import checks, verify_warc

# shared/ beside the checkout; a worktree in a folder beside the main checkout finds it one up.
_HERE = Path(__file__).resolve()
CORPUS = next((p for p in (_HERE.parents[n] / ".." / "shared" / "corpus" / "warc"
                           for n in (3, 4)) if p.is_dir()),
              _HERE.parents[3] / ".." / "shared" / "corpus" / "warc")
MANIFEST = CORPUS / "MANIFEST.tsv"

# A phrase of the manifest's reason -> the check that must fail for it.
FAILS = [
    (r"duplicate WARC-Record-ID|share (a|one) WARC-Record-ID|repeated at end",
     "record.duplicateId"),
    (r"CRLF CRLF|CR CR LF|Content-Length (wrong|\d+ too large)|truncated|framing",
     "warc.format"),
    (r"no digests|nothing checkable", "warc.noDigests"),
    (r"WARC-Date|missing WARC-Record-ID", "record.headers"),
    (r"block digest wrong", "record.blockDigest"),
    (r"payload digest = block digest \(wrong|payload digests over whole|payload digest not "
     r"valid", "record.payloadDigest"),
]
# Failures that may follow from another one the reason names, or be hidden by it: the records
# of a file that cannot be read to its end are not all checked, so it may have no digest left,
# or a record the reason names may lie past the damage.
CASCADE = {"warc.format": {"warc.noDigests", "record.blockDigest", "record.payloadDigest",
                           "record.headers"}}


def _rows() -> list[dict[str, str]]:
    if not MANIFEST.is_file():
        return []
    with MANIFEST.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


ROWS = _rows()
pytestmark = pytest.mark.skipif(not ROWS, reason=f"WARC corpus not found at {CORPUS} "
                                "(the shared folder beside the checkout)")


def expected_fails(reason: str) -> set[str]:
    return {check for pattern, check in FAILS if re.search(pattern, reason)}


def test_every_reason_of_exit_3_is_understood() -> None:
    unknown = [r["name"] for r in ROWS
               if r["expected_exit"] == "3" and not expected_fails(r["expected_reason"])]
    assert not unknown


@pytest.mark.parametrize("row", ROWS, ids=[r["name"] for r in ROWS])
def test_verdict_matches_manifest(row: dict[str, str]) -> None:
    code, report = verify_warc(CORPUS / row["name"])
    want = int(row["expected_exit"])
    reason = row["expected_reason"]
    assert code == want, (reason, _fails(report))
    if want == 4:
        assert report == {}
        return
    found = checks(report)
    if want == 0:
        assert not found
        assert "warc" in checks(report, "pass")
        if re.search(r"revisits? (checked|silently unchecked|\(0\.18)", reason):
            assert "revisit" in checks(report, "pass")  # compared with their originals
        return
    named = expected_fails(reason)
    follow = set().union(*(CASCADE.get(c, set()) for c in named))
    assert named - follow <= found, (reason, _fails(report))  # a file cut short has fewer
    allowed = named | follow
    assert found <= allowed, (reason, _fails(report))


def test_whole_corpus_in_one_run_same_verdicts(tmp_path: Path) -> None:
    """Every WARC of the corpus in one command, -j 2: each file's findings as when alone."""
    warcs = [CORPUS / r["name"] for r in ROWS if r["expected_exit"] != "4"]
    code, report = verify_warc("-j", "2", *warcs)
    assert code == 3
    by_file: dict[str, set[str]] = {}
    for finding in report["findings"]:
        if finding["status"] == "fail":
            subject = finding["subject"]
            by_file.setdefault(subject.split(" @")[0], set()).add(finding["check"])
    for row in ROWS:  # the same records in a file's .warc and .warc.gz: duplicates across files
        if row["expected_exit"] == "0":
            assert by_file.get(str(CORPUS / row["name"]), set()) <= {"record.duplicateId"}
        elif row["expected_exit"] == "3" and "duplicate" not in row["expected_reason"]:
            failing = {k for k in by_file if k.startswith(str(CORPUS / row["name"]))}
            assert failing, row["name"]


def _fails(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(f["check"], f["subject"], f["message"]) for f in report.get("findings", [])
            if f["status"] == "fail"]
