"""provenance.exports.exhibit, exhibit_html, exhibit_media and common: the HTML exhibit of a
case, rendered from what the case holds, with every name escaped; the gate refuses a case that
fails verification."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from exports import Built

from archive.errors import IntegrityError, UsageError
from provenance import api
from provenance.custody.case import Case
from provenance.exports.common import Verdict, gate, select
from provenance.exports.exhibit import entries_about, export, summarise, view
from provenance.exports.exhibit_html import render
from provenance.exports.exhibit_media import scan


def test_the_exhibit_names_each_seed_and_escapes_the_title(built: Built) -> None:
    out = built.root / "report.html"
    export(Case.open(built.case), [built.first_id], out, api.load_key("default"), datetime.now(UTC))
    html = out.read_text()
    for seed in built.seeds:
        assert seed in html
    assert "Export test &lt;case&gt; &amp; co" in html
    assert "<case>" not in html


def test_render_streams_the_same_report_in_pieces(built: Built) -> None:
    case = Case.open(built.case)
    selected = select(case, [built.first_id])
    about, founding = entries_about(api.iter_log_entries(case), selected)
    views = [view(p, about[p.capture_id]) for p in selected]
    verdict = Verdict(True, {"pass": 1}, ())
    pieces = list(
        render(
            case,
            views,
            summarise(views),
            api.iter_log_entries(case),
            verdict,
            api.load_key("default"),
            datetime.now(UTC),
            founding,
        )
    )
    assert len(pieces) > 1
    assert pieces[0].lstrip().lower().startswith("<!doctype html")
    assert built.seeds[1] in "".join(pieces)


def test_a_capture_without_media_has_no_media_views(built: Built) -> None:
    [parts] = select(Case.open(built.case), [built.first_id])
    assert scan(parts) == []


def test_an_exhibit_needs_an_html_name(built: Built) -> None:
    with pytest.raises(UsageError, match=r"name it \*\.html"):
        export(
            Case.open(built.case),
            [],
            built.root / "r.txt",
            api.load_key("default"),
            datetime.now(UTC),
        )


def test_the_gate_refuses_a_failing_case_unless_allowed(built: Built, tmp_path: Path) -> None:
    assert gate(Case.open(built.case), False).ok
    copy = tmp_path / "case"
    shutil.copytree(built.case, copy, symlinks=True)
    warc = sorted(copy.glob("captures/*/*/*/*/data-*.warc.gz"))[0]
    data = bytearray(warc.read_bytes())
    data[len(data) // 2] ^= 0x01
    warc.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="the case fails verification"):
        gate(Case.open(copy), False)
    verdict = gate(Case.open(copy), True)
    assert not verdict.ok and verdict.banner is not None and verdict.failures
