"""Verify's revisit check: each revisit refers to a response in the same case or file set.

WARC 1.1 section 6.7 and the identical-payload-digest profile
(``http://netpreserve.org/warc/1.1/revisit/identical-payload-digest``): a revisit names its
original by ``WARC-Refers-To`` and repeats the original's target URI, date and payload digest.
The ledger notes every response and revisit during verify's one pass over the records, then
checks each revisit against the response it names. The notes are rows in a temporary SQLite
store (``provenance.verification.scratch``), as verify-warc's are: memory does not grow with the
number of records.

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
from provenance.verification.scratch import Scratch

# Ids are looked up by a 64-bit hash of the text (Python's, stable within this process), then
# compared as text; of records with one id, the last noted counts.
SCHEMA = """
CREATE TABLE responses (key INTEGER, rid TEXT, uri TEXT, date TEXT, payload TEXT);
CREATE TABLE decoded (key INTEGER, rid TEXT, digest TEXT);
CREATE TABLE revisits (place TEXT, key INTEGER, rid TEXT, profile TEXT, refers TEXT,
                       rkey INTEGER, uri TEXT, date TEXT, payload TEXT);
"""
INDEXES = """
CREATE INDEX responses_key ON responses (key);
CREATE INDEX decoded_key ON decoded (key);
"""
# Each revisit in the order noted: what it says, its original's row (if any) and the decoded
# digests of both (a revisit without ``WARC-Refers-To`` looks for the id "").
JUDGED = """
SELECT v.place, v.rid, v.profile, v.refers, v.uri, v.date, v.payload,
       r.rowid IS NOT NULL, r.uri, r.date, r.payload,
       (SELECT digest FROM decoded WHERE key = v.key AND rid = v.rid ORDER BY rowid DESC LIMIT 1),
       (SELECT digest FROM decoded WHERE key = v.rkey AND rid = IFNULL(v.refers, '')
        ORDER BY rowid DESC LIMIT 1)
FROM revisits v LEFT JOIN responses r ON r.rowid = (SELECT rowid FROM responses
       WHERE key = v.rkey AND rid = IFNULL(v.refers, '') ORDER BY rowid DESC LIMIT 1)
ORDER BY v.rowid
"""
# (place, id, profile, refers, URI, date, payload digest, original found, its URI, date and
# payload digest, the revisit's decoded digest, the original's)
Row = tuple[str, str, str | None, str | None, str | None, str | None, str | None, int, str | None,
            str | None, str | None, str | None, str | None]


class RevisitLedger:
    """Revisits and the responses they may refer to, noted during verify's record pass; the
    store is opened at the first note and removed by ``finish`` or ``close``."""

    def __init__(self) -> None:
        self._store: Scratch | None = None

    def _db(self) -> Scratch:
        if self._store is None:
            self._store = Scratch(SCHEMA, INDEXES, "prov-revisits-")
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def note_responses(self, responses: Iterable[tuple[str, str | None, str | None,
                                                        str | None]]) -> None:
        """Responses as (record id, target URI, date, payload digest)."""
        rows = [(hash(rid), rid, uri, date, digest) for rid, uri, date, digest in responses]
        if rows:
            self._db().db.executemany("INSERT INTO responses VALUES (?,?,?,?,?)", rows)

    def note_decoded(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Decoded-body digests as (the record a metadata record is concurrent to, digest)."""
        rows = [(hash(rid), rid, digest) for rid, digest in pairs]
        if rows:
            self._db().db.executemany("INSERT INTO decoded VALUES (?,?,?)", rows)

    def note(self, where: str, head: RecordHead) -> None:
        if head.warc_type == "response":
            self.note_responses([(head.record_id, head.get("WARC-Target-URI"),
                                  head.get("WARC-Date"), head.get("WARC-Payload-Digest"))])
        elif head.warc_type == "revisit":
            rid, refers = head.record_id, head.get("WARC-Refers-To")
            self._db().db.execute("INSERT INTO revisits VALUES (?,?,?,?,?,?,?,?,?)", (
                where, hash(rid), rid, head.get("WARC-Profile"), refers, hash(refers or ""),
                head.get("WARC-Refers-To-Target-URI"), head.get("WARC-Refers-To-Date"),
                head.get("WARC-Payload-Digest")))

    def finish(self, report: Report) -> None:
        if self._store is None:
            return
        good = 0
        try:
            for row in self._store.ready().execute(JUDGED):
                good += self._check(report, row)
        finally:
            self.close()
        if good:
            report.add("pass", "revisit", "captures",
                       f"{good} revisit records refer to originals in the case with equal "
                       "payload and decoded-body digests")

    @staticmethod
    def _check(report: Report, row: Row) -> bool:
        where, _, profile, refers, uri, date, payload, found, *original, mine, theirs = row
        if profile != PROFILE:
            report.add("warn", "revisit.profile", where, "revisit of a profile prov does not "
                       "check", expected=PROFILE, found=profile)
            return False
        if not found:
            report.add("fail", "revisit.original", where, "revisit refers to no response "
                       "record in the case", expected="a response record", found=refers)
            return False
        ok = True
        for name, have, said in (("WARC-Refers-To-Target-URI", original[0], uri),
                                 ("WARC-Refers-To-Date", original[1], date),
                                 ("WARC-Payload-Digest", original[2], payload)):
            if said != have or have is None:
                check = "revisit.digest" if name == "WARC-Payload-Digest" else "revisit.original"
                report.add("fail", check, where, f"{name} differs from the original {refers}",
                           expected=have, found=said)
                ok = False
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
        return ok
