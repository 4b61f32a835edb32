"""Verify's revisit check: each revisit refers to a response in the same case or file set.

WARC 1.1 section 6.7 and the identical-payload-digest profile
(``http://netpreserve.org/warc/1.1/revisit/identical-payload-digest``): a revisit names its
original by ``WARC-Refers-To`` and repeats the original's target URI, date and payload digest.
The ledger notes every response and revisit during verify's one pass over the records, then
checks each revisit against the response it names.

Equal payload digests are what the profile promises, but the payload digest a revisit carries
is copied from its original by whoever wrote it: a capture that was steered into a revisit of
a different response (a planted dedup index, docs/SECURITY.md "Derived state") carries it too.
What the capture saw is in its own exchange metadata record (``decodedBodySha256``, the body
it received): that must equal its original's, or the revisit claims a body it never got.
"""

from __future__ import annotations

from collections.abc import Iterable

from archive.http.revisit import PROFILE
from archive.warc.reader import RecordHead
from provenance.base.report import Report


class RevisitLedger:
    """Revisits and the responses they may refer to, noted during verify's record pass."""

    def __init__(self) -> None:
        self.responses: dict[str, tuple[str | None, str | None, str | None]] = {}
        self.revisits: list[tuple[str, RecordHead]] = []
        self.decoded: dict[str, str] = {}  # record id -> its metadata's decodedBodySha256

    def note_responses(self, responses: Iterable[tuple[str, str | None, str | None,
                                                        str | None]]) -> None:
        """Responses as (record id, target URI, date, payload digest)."""
        self.responses.update((rid, (uri, date, digest)) for rid, uri, date, digest in responses)

    def note_decoded(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Decoded-body digests as (the record a metadata record is concurrent to, digest)."""
        self.decoded.update(pairs)

    def note(self, where: str, head: RecordHead) -> None:
        if head.warc_type == "response":
            self.responses[head.record_id] = (head.get("WARC-Target-URI"),
                                              head.get("WARC-Date"),
                                              head.get("WARC-Payload-Digest"))
        elif head.warc_type == "revisit":
            self.revisits.append((where, head))

    def finish(self, report: Report) -> None:
        good = 0
        for where, head in self.revisits:
            good += self._check(report, where, head)
        if good:
            report.add("pass", "revisit", "captures",
                       f"{good} revisit records refer to originals in the case with equal "
                       "payload and decoded-body digests")

    def _check(self, report: Report, where: str, head: RecordHead) -> bool:
        if head.get("WARC-Profile") != PROFILE:
            report.add("warn", "revisit.profile", where, "revisit of a profile prov does not "
                       "check", expected=PROFILE, found=head.get("WARC-Profile"))
            return False
        refers = head.get("WARC-Refers-To")
        original = self.responses.get(refers or "")
        if original is None:
            report.add("fail", "revisit.original", where, "revisit refers to no response "
                       "record in the case", expected="a response record", found=refers)
            return False
        ok = True
        for name, have in (("WARC-Refers-To-Target-URI", original[0]),
                           ("WARC-Refers-To-Date", original[1]),
                           ("WARC-Payload-Digest", original[2])):
            if head.get(name) != have or have is None:
                check = "revisit.digest" if name == "WARC-Payload-Digest" else "revisit.original"
                report.add("fail", check, where, f"{name} differs from the original {refers}",
                           expected=have, found=head.get(name))
                ok = False
        return self._check_decoded(report, where, head, refers or "") and ok

    def _check_decoded(self, report: Report, where: str, head: RecordHead, refers: str) -> bool:
        mine, theirs = self.decoded.get(head.record_id), self.decoded.get(refers)
        if mine is None or theirs is None:
            report.add("warn", "revisit.decoded", where, "the decoded-body digest of the "
                       "revisit or of its original is not recorded: only the payload digest "
                       "was compared", expected=theirs, found=mine)
            return False
        if mine != theirs:
            report.add("fail", "revisit.decoded", where, "the body this capture received "
                       f"differs from its original {refers}: the revisit claims a payload it "
                       "never got", expected=theirs, found=mine)
            return False
        return True
