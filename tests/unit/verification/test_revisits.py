"""provenance.verification.revisits: a revisit must name a response of the case, repeat its
URI, date and payload digest, and have received the same decoded body."""

from __future__ import annotations

from typing import Any

import warcs

from archive.http.revisit import PROFILE
from archive.warc.reader import RecordHead, parse_head
from provenance.base.report import Report
from provenance.verification.revisits import RevisitLedger

URI, DATE, DIGEST = "http://a.test/", "2026-01-01T00:00:00Z", "sha256:" + "ab" * 32


def head(record: bytes) -> RecordHead:
    return parse_head(record[: record.index(b"\r\n\r\n") + 4], 0)


def revisit(rid: str, **changed: Any) -> RecordHead:
    fields = {
        "WARC-Refers-To": "<urn:uuid:1>",
        "WARC-Refers-To-Target-URI": URI,
        "WARC-Refers-To-Date": DATE,
        "WARC-Payload-Digest": DIGEST,
        "WARC-Profile": PROFILE,
    }
    fields.update(changed)
    extra = [(k, v) for k, v in fields.items() if v is not None]
    return head(warcs.record("revisit", b"", uri=URI, record_id=rid, digests=False, extra=extra))


def judged(*revisits: RecordHead, decoded: dict[str, str] | None = None) -> list[tuple[str, str]]:
    ledger = RevisitLedger()
    ledger.note_responses([("<urn:uuid:1>", URI, DATE, DIGEST)])
    ledger.note_decoded((decoded or {}).items())
    for number, one in enumerate(revisits):
        ledger.note(f"w{number}", one)
    report = Report("case", "case")
    ledger.finish(report)
    return [(f.status, f.check) for f in report.findings]


def test_a_faithful_revisit_passes() -> None:
    decoded = {"<urn:uuid:1>": "sha256:x", "<urn:uuid:2>": "sha256:x"}
    assert judged(revisit("<urn:uuid:2>"), decoded=decoded) == [("pass", "revisit")]


def test_each_lie_is_its_own_finding() -> None:
    decoded = {"<urn:uuid:1>": "sha256:x", "<urn:uuid:2>": "sha256:x", "<urn:uuid:3>": "sha256:y"}
    assert judged(revisit("<urn:uuid:2>", **{"WARC-Refers-To": "<urn:uuid:9>"})) == [
        ("fail", "revisit.original")
    ]
    assert judged(
        revisit("<urn:uuid:2>", **{"WARC-Payload-Digest": "sha256:00"}), decoded=decoded
    ) == [("fail", "revisit.digest")]
    assert judged(revisit("<urn:uuid:2>", **{"WARC-Refers-To-Date": None}), decoded=decoded) == [
        ("fail", "revisit.original")
    ]
    assert judged(revisit("<urn:uuid:3>"), decoded=decoded) == [("fail", "revisit.decoded")]
    assert judged(revisit("<urn:uuid:2>")) == [("warn", "revisit.decoded")]
    assert judged(revisit("<urn:uuid:2>", **{"WARC-Profile": "other"})) == [
        ("warn", "revisit.profile")
    ]


def test_the_notes_are_on_disk_and_go_with_the_check() -> None:
    ledger = RevisitLedger()
    ledger.note_responses([("<urn:uuid:1>", URI, DATE, "sha256:00"),
                           ("<urn:uuid:1>", URI, DATE, DIGEST)])  # of one id, the last counts
    ledger.note_decoded([("<urn:uuid:1>", "sha256:x"), ("<urn:uuid:2>", "sha256:x")])
    ledger.note("w0", revisit("<urn:uuid:2>"))
    assert ledger._store is not None
    folder = ledger._store._dir
    assert folder.is_dir()
    report = Report("case", "case")
    ledger.finish(report)
    assert [(f.status, f.check) for f in report.findings] == [("pass", "revisit")]
    assert not folder.exists()
