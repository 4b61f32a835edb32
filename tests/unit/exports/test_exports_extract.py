"""provenance.exports.extract on the golden case, in process: the chunked body decoded, the
payload as recorded, and a flipped WARC refused with nothing left behind."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest

from archive.errors import IntegrityError, UsageError
from provenance.custody.case import Case
from provenance.exports.extract import extract
from provenance.signing.trust import Anchors

GOLDEN = Path(__file__).resolve().parents[2] / "data" / "golden" / "case"
URL = "https://example.org/article"
BODY = b"<!DOCTYPE html>\n<title>Golden</title>\n<p>An example page.</p>\n"
CAPTURE = "018e0955"
UNANCHORED = Anchors(allow_unanchored=True)  # no key given: a warning, by choice


@pytest.fixture
def case(tmp_path: Path, prov_home: Path) -> Case:
    shutil.copytree(GOLDEN, tmp_path / "case")
    return Case.open(tmp_path / "case")


def test_body_decoded_and_as_recorded(case: Case, tmp_path: Path) -> None:
    done = extract(case, CAPTURE, URL, "body", tmp_path / "body", anchors=UNANCHORED)
    assert (tmp_path / "body").read_bytes() == BODY
    assert (done.status, done.decoding, done.size) == (200, "transfer-decoded (chunked)",
                                                       len(BODY))
    assert any("anchored only in the case" in w for w in done.warnings)
    extract(case, CAPTURE, URL, "body", tmp_path / "raw", anchors=UNANCHORED, raw=True)
    assert (tmp_path / "raw").read_bytes().startswith(b"26\r\n<!DOCTYPE")
    with pytest.raises(UsageError, match="already exists"):
        extract(case, CAPTURE, URL, "body", tmp_path / "raw", anchors=UNANCHORED)


def test_no_anchor_at_all_is_refused_unless_allowed(case: Case, tmp_path: Path) -> None:
    with pytest.raises(IntegrityError, match="no trust anchor"):
        extract(case, CAPTURE, URL, "body", tmp_path / "body", anchors=Anchors())
    assert not (tmp_path / "body").exists()


def test_an_altered_warc_is_refused(case: Case, tmp_path: Path) -> None:
    [warc] = case.root.glob("captures/*/*/*/*/data-00000.warc.gz")
    warc.write_bytes(gzip.compress(gzip.decompress(warc.read_bytes()).replace(
        b"An example page", b"An altered page")))
    with pytest.raises(IntegrityError, match="was altered after it was sealed"):
        extract(case, CAPTURE, URL, "body", tmp_path / "body", anchors=UNANCHORED)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["case", "prov-home"]
