"""provenance.capture.dedup: the index of what a case already holds, rebuilt from the log when
its saved copy is missing, stale or planted."""

from __future__ import annotations

import json

from exports import Built

from provenance.capture.dedup import DedupIndex, summary
from provenance.custody.case import Case


def test_the_index_knows_each_captured_url_and_survives_a_save(built: Built) -> None:
    case = Case.open(built.case)
    index = DedupIndex.load(case)
    for seed in built.seeds:
        assert seed in index.urls
        assert index.urls[seed].capture_dir.startswith("captures/")
    assert summary(index)["urls"] == len(index.urls)
    index.save()
    again = DedupIndex.load(case)
    assert again.urls == index.urls
    assert again.log_offset == (built.case / "custody" / "log.jsonl").stat().st_size


def test_a_planted_index_is_rebuilt_from_the_log(built: Built) -> None:
    case = Case.open(built.case)
    honest = DedupIndex.load(case).urls
    index = DedupIndex(case)
    doc = json.loads(index.path.read_text()) if index.path.exists() else None
    for planted in ("not json", "[" * 10_000, json.dumps({**(doc or {}), "tail": "0" * 64})):
        index.path.parent.mkdir(parents=True, exist_ok=True)
        index.path.write_text(planted)
        assert DedupIndex.load(case).urls == honest
