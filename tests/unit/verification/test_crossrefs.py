"""provenance.verification.crossrefs: the on-disk store of record ids and references that
verify-warc's cross-record checks read (duplicates, missing targets, revisit originals)."""

from __future__ import annotations

import io

import warcs

from archive.warc.recordcheck import iter_checks
from archive.warc.recordjudge import Batch, judge
from provenance.verification.crossrefs import CrossRefs


def batch_of(*records: bytes) -> Batch:
    batch = Batch()
    _, checks = iter_checks(io.BytesIO(b"".join(records)))
    for check in checks:
        judge(batch, check, False)
    return batch


def test_duplicates_missing_targets_and_originals() -> None:
    original = warcs.response(b"hello", "http://a.test/", record_id="<urn:uuid:1>")
    twice = warcs.warcinfo(record_id="<urn:uuid:1>")
    dangling = warcs.record(
        "metadata",
        b"m",
        uri="http://a.test/",
        record_id="<urn:uuid:3>",
        extra=[("WARC-Concurrent-To", "<urn:uuid:404>")],
    )
    revisit = warcs.record(
        "revisit",
        warcs.HTTP_HEAD % 0,
        uri="http://a.test/",
        record_id="<urn:uuid:4>",
        extra=[("WARC-Refers-To", "<urn:uuid:1>")],
    )
    with CrossRefs() as refs:
        refs.add(0, batch_of(original))
        refs.add(1, batch_of(twice, dangling, revisit))
        assert [(d[0], d[2], d[3]) for d in refs.duplicates()] == [(1, "<urn:uuid:1>", 0)]
        assert [(m[0], m[1], m[3]) for m in refs.missing_targets()] == [
            ("record.concurrentTo", 1, "<urn:uuid:3>")
        ]
        assert refs.known("<urn:uuid:4>") and not refs.known("<urn:uuid:404>")
        [row] = list(refs.revisits())
        assert (row[0], row[2], row[3]) == (1, "<urn:uuid:4>", "<urn:uuid:1>")
        named, found = refs.originals("<urn:uuid:1>", None, None)
        assert named == "<urn:uuid:1>" and len(found) == 1
        folder = refs._store._dir
    assert not folder.exists()  # the store goes with the run
