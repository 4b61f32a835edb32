"""provenance.base.plain: the sentence each kind of failure starts with (the verify table that
shows it is tested in tests/unit/cli/test_render.py)."""

from __future__ import annotations

import pytest

from provenance.base.plain import what_happened
from provenance.base.report import Finding

DIR = "captures/2026/12/05/01a2477b-7a7c-7e01-a4b2-d0d5edccf379"
CAPTURE = DIR.rsplit("/", 1)[1]


@pytest.mark.parametrize(("check", "subject", "message", "sentence"), [
    ("record.blockDigest", f"{DIR}/data-00000.warc.gz @2596 <urn:uuid:1>",
     "block digest does not match the record (response for http://example.org/post)",
     "The archived page http://example.org/post was altered after it was sealed."),
    ("record.blockDigest", "other.warc.gz @0 <urn:uuid:1>",
     "block digest does not match the record (request for http://example.org/)",
     "The recorded request for http://example.org/ was altered after it was archived."),
    ("record.payloadDigest", f"{DIR}/data-00000.warc.gz @9 <urn:uuid:2>",
     "payload digest does not match the record (resource for urn:fullPage:http://a.example/)",
     "The archived full-page screenshot of http://a.example/ was altered after it was sealed."),
    ("file.digest", f"{DIR}/data-00001.warc.gz", "file differs from the sealed digest",
     f"Archive file data-00001.warc.gz of capture {CAPTURE} was altered after it was sealed."),
    ("file.digest", "case.json", "changed since entry 0 (init)",
     "The case's identity file (case.json) was altered after it was recorded in the custody "
     "log."),
    ("capture.missing", DIR, "capture logged by entry 3 (capture) is gone; it held "
     "http://a.example/, http://b.example/",
     "A capture was deleted that held http://a.example/, http://b.example/."),
    ("seal.recordsRoot", DIR, "records differ from those sealed",
     f"The archived records of capture {CAPTURE} were altered, added or removed after they "
     "were sealed."),
    ("log.length", "custody/log.jsonl", "entries were removed",
     "Entries were removed from the end of the custody log."),
    ("checkpoint.root", "custody/checkpoints/0/00000000000000000002.checkpoint", "x",
     "A signed checkpoint of the custody log is missing, altered or out of place."),
    ("no.such", "x", "y", "A check of the evidence failed (no.such)."),
])
def test_sentences(check: str, subject: str, message: str, sentence: str) -> None:
    assert what_happened(Finding("fail", check, subject, message)) == sentence


