"""archive.warc.recordjudge: each record's digests and named fields judged in the worker."""

from __future__ import annotations

import io

import warcs

from archive.warc.recordcheck import iter_checks
from archive.warc.recordjudge import MAX_LISTED, Batch, judge


def judged(*records: bytes, all_records: bool = False) -> Batch:
    batch = Batch()
    _, checks = iter_checks(io.BytesIO(b"".join(records)))
    for check in checks:
        judge(batch, check, all_records)
    return batch


def test_good_records_are_tallied_and_noted() -> None:
    original = warcs.response(b"hello", "http://a.test/", record_id="<urn:uuid:1>")
    revisit = warcs.record(
        "revisit",
        warcs.HTTP_HEAD % 0,
        uri="http://a.test/",
        extra=[("WARC-Refers-To", "<urn:uuid:1>"), ("WARC-Profile", warcs.IDENTICAL)],
    )
    batch = judged(warcs.warcinfo(), original, revisit, all_records=True)
    assert batch.count == 3
    assert batch.tally["fail"] == 0
    assert batch.tally["block and payload"] == 1
    assert [f[0] for f in batch.findings] == ["pass"] * 3
    assert batch.originals[0][:2] == ("<urn:uuid:1>", "http://a.test/")
    assert batch.revisits[0][2] == "<urn:uuid:1>" and batch.revisits[0][6] is True
    assert not judged(original).findings  # only with all_records


def test_a_wrong_block_digest_fails_the_record() -> None:
    good = warcs.response(b"hello")
    bad = good.replace(b"hello\r\n\r\n", b"jello\r\n\r\n")
    batch = judged(bad)
    assert batch.tally["fail"] == 1
    assert {f[1] for f in batch.findings} >= {"record.blockDigest"}
    assert all(f[0] == "fail" for f in batch.findings)


def test_missing_and_malformed_named_fields() -> None:
    batch = judged(
        warcs.record("resource", b"x", date="yesterday"),
        warcs.record("resource", b"y", drop=["WARC-Date"]),
        warcs.record("resource", b"z", extra=[("WARC-Segment-Number", "one")]),
    )
    messages = [f[4] for f in batch.findings if f[1] == "record.headers"]
    assert messages == [
        "WARC-Date 'yesterday' is not a W3C-DTF date",
        "missing WARC-Date",
        "WARC-Segment-Number 'one' is not a number",
    ]
    assert batch.tally["fail"] == 3


def test_records_without_digests_are_listed_up_to_the_limit() -> None:
    records = [warcs.record("resource", b"%d" % i, digests=False) for i in range(MAX_LISTED + 2)]
    batch = judged(*records)
    assert batch.tally["neither"] == MAX_LISTED + 2
    assert len(batch.unchecked) == MAX_LISTED
    whole = Batch()
    whole.extend(batch)
    whole.extend(batch)
    assert whole.count == 2 * batch.count and len(whole.unchecked) == MAX_LISTED
