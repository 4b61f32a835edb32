"""provenance.signing.entryjudge: trust replayed over a log's lines, and the one anchor
rule for every target."""

from __future__ import annotations

import base64

import pytest
from exports import Built

from provenance.base.report import Report
from provenance.custody.log import iter_lines
from provenance.errors import StatementError
from provenance.signing.entryjudge import EntryJudge, judge_anchor, public_key
from provenance.signing.keys import PublicKey, SigningKey
from provenance.signing.trust import Anchors

FOUNDER = SigningKey.generate("founder")


def test_the_log_replays_under_its_founding_key(built: Built) -> None:
    report = Report("case", "case")
    judge = EntryJudge(report)
    lines = list(iter_lines(built.case / "custody" / "log.jsonl"))
    judged = [judge.judge(seq, line, f"entry {seq}") for seq, line in enumerate(lines)]
    assert all(j.entry is not None for j in judged)
    assert judge.founding is not None
    assert judge.founding.key_id in judge.trusted
    assert [f for f in report.findings if f.status == "fail"] == []


def test_a_line_out_of_order_or_with_a_bad_signature_is_refused(built: Built) -> None:
    report = Report("case", "case")
    judge = EntryJudge(report)
    lines = list(iter_lines(built.case / "custody" / "log.jsonl"))
    judge.judge(0, lines[0], "entry 0")
    assert judge.judge(0, lines[0], "entry 0 again").entry is None
    forged = lines[1].replace(b'"sig":"', b'"sig":"AAAA', 1)
    assert judge.judge(1, forged, "entry 1").entry is None
    assert {f.check for f in report.findings if f.status == "fail"} >= {"log.order", "log.entry"}


def test_the_anchor_rule() -> None:
    founding = FOUNDER.key_id
    assert judge_anchor(Anchors(frozenset({founding})), founding, "case").status == "pass"
    other = Anchors(frozenset({SigningKey.generate("o").key_id}))
    assert judge_anchor(other, founding, "case").status == "fail"
    assert judge_anchor(Anchors(), founding, "case").message.startswith("no trust anchor")
    assert judge_anchor(Anchors(allow_unanchored=True), founding, "case").status == "warn"


def test_public_key_is_32_raw_bytes_in_strict_base64() -> None:
    given = public_key(base64.b64encode(FOUNDER.public.raw).decode(), "e")
    assert given == FOUNDER.public and isinstance(given, PublicKey)
    for bad in ("AAAA", "not base64!", 42, base64.b64encode(bytes(33)).decode()):
        with pytest.raises(StatementError):
            public_key(bad, "e")
