"""provenance.capture.catalog on the golden case, in process: the listing and the find rows
it gives, and what a damaged capture folder turns into (a reason, never an exception)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from provenance.capture import catalog
from provenance.custody.case import Case

GOLDEN = Path(__file__).resolve().parents[2] / "data" / "golden" / "case"
URL = "https://example.org/article"


@pytest.fixture
def case(tmp_path: Path) -> Case:
    shutil.copytree(GOLDEN, tmp_path / "case")
    return Case.open(tmp_path / "case")


def test_listing_of_the_golden_capture(case: Case) -> None:
    [row] = catalog.list_captures(case)
    assert (row.note, row.urls, row.failed, row.other_urls, row.unreadable) == (
        "golden vectors", 1, 0, 0, None)
    assert [(s.url, s.status) for s in row.seeds] == [(URL, 200)]


def test_find_by_url_and_by_pattern(case: Case) -> None:
    [held] = catalog.find(case, url=URL)
    assert (held.record_type, held.status, held.file) == ("response", 200, "data-00000.warc.gz")
    assert catalog.find(case, pattern="*example.org/*") == [held]
    assert catalog.find(case, pattern="example.org") == [held]
    assert catalog.find(case, pattern="*example.com*") == []
    assert catalog.find(case, url=URL + "/") == []


@pytest.mark.parametrize(("damage", "reason"), [
    ("no-seal", "seal.dsse.json: missing"),
    ("seal-link", "not a regular file"),
    ("junk-seal", "seal"),
])
def test_a_damaged_capture_is_listed_with_a_reason(case: Case, damage: str,
                                                   reason: str) -> None:
    [seal] = case.root.glob("captures/*/*/*/*/seal.dsse.json")
    seal.unlink()
    if damage == "seal-link":
        seal.symlink_to("/etc/passwd")
    elif damage == "junk-seal":
        seal.write_bytes(b"{" * 100_000)
    [row] = catalog.list_captures(case)
    assert row.unreadable is not None and reason in row.unreadable
    assert row.seeds == () and catalog.find(case, url=URL) == []
