"""What verify-warc's cross-record checks need, kept on disk: record ids, the targets of
``WARC-Concurrent-To`` and ``WARC-Refers-To``, responses and resources that a revisit may name
as its original, and the revisits (WARC 1.1 sections 5.2, 5.7, 5.11, 6.7).

A run over millions of records must not hold one object per record, so the rows go to a
temporary SQLite store (``provenance.verification.scratch``), in batches, and the questions are
asked as queries whose answers are streamed.
Ids are looked up by a 64-bit hash of the text (Python's, stable within this process) and then
compared as text, so a hash collision cannot make two different ids look the same.

Threat model: ids, URIs and dates are hostile text; they are only ever bound as parameters.
"""

from __future__ import annotations

from collections.abc import Iterator

from archive.warc.recordjudge import Batch
from provenance.verification.scratch import Scratch

SCHEMA = """
CREATE TABLE ids (key INTEGER, rid TEXT, file INTEGER, offset INTEGER);
CREATE TABLE targets (kind TEXT, key INTEGER, target TEXT, file INTEGER, offset INTEGER,
                      rid TEXT);
CREATE TABLE originals (key INTEGER, rid TEXT, uri TEXT, date TEXT, payload TEXT, ud INTEGER);
CREATE TABLE revisits (file INTEGER, offset INTEGER, rid TEXT, refers TEXT, uri TEXT,
                       date TEXT, payload TEXT, identical INTEGER);
CREATE TABLE segments (origin TEXT, number INTEGER, file INTEGER, offset INTEGER, total TEXT,
                       payload TEXT);
"""
INDEXES = """
CREATE INDEX ids_key ON ids (key);
CREATE INDEX originals_key ON originals (key);
CREATE INDEX originals_ud ON originals (ud);
CREATE INDEX segments_origin ON segments (origin, number);
"""
# (record id, target URI, date, payload digest label) of an original
Original = tuple[str, str | None, str | None, str | None]


class CrossRefs:
    """The store of one verify-warc run; ``close()`` removes it."""

    def __init__(self) -> None:
        self._store = Scratch(SCHEMA, INDEXES, "prov-warc-")
        self.db = self._store.db

    def close(self) -> None:
        self._store.close()

    def __enter__(self) -> CrossRefs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add(self, file: int, batch: Batch) -> None:
        db = self.db
        db.executemany("INSERT INTO ids VALUES (?,?,?,?)",
                       [(hash(rid), rid, file, offset) for rid, offset in batch.ids])
        if batch.targets:
            db.executemany("INSERT INTO targets VALUES (?,?,?,?,?,?)",
                           [(kind, hash(t), t, file, offset, rid)
                            for kind, t, offset, rid in batch.targets])
        if batch.originals:
            db.executemany("INSERT INTO originals VALUES (?,?,?,?,?,?)",
                           [(hash(rid), rid, uri, date, payload, hash((uri, date)))
                            for rid, uri, date, payload in batch.originals])
        if batch.revisits:
            db.executemany("INSERT INTO revisits VALUES (?,?,?,?,?,?,?,?)",
                           [(file, *row) for row in batch.revisits])
        if batch.segments:
            db.executemany("INSERT INTO segments VALUES (?,?,?,?,?,?)",
                           [(origin, number, file, offset, total, payload)
                            for origin, number, offset, total, payload in batch.segments])

    def _index(self) -> None:
        self._store.ready()

    def duplicates(self) -> Iterator[tuple[int, int, str, int, int]]:
        """(file, offset, id, first file, first offset) of each record whose id was used
        before, in reading order."""
        self._index()
        yield from self.db.execute(
            "SELECT i.file, i.offset, i.rid, f.file, f.offset FROM ids i "
            "JOIN (SELECT key, MIN(rowid) AS first FROM ids GROUP BY key HAVING COUNT(*) > 1) d "
            "ON i.key = d.key AND i.rowid != d.first JOIN ids f ON f.rowid = d.first "
            "WHERE i.rid = f.rid ORDER BY i.rowid")

    def missing_targets(self) -> Iterator[tuple[str, int, int, str]]:
        """(check, file, offset, id) of each record naming a target not among the records."""
        self._index()
        yield from self.db.execute(
            "SELECT t.kind, t.file, t.offset, t.rid FROM targets t WHERE NOT EXISTS "
            "(SELECT 1 FROM ids i WHERE i.key = t.key AND i.rid = t.target) ORDER BY t.rowid")

    def known(self, rid: str) -> bool:
        self._index()
        return self.db.execute("SELECT 1 FROM ids WHERE key = ? AND rid = ? LIMIT 1",
                               (hash(rid), rid)).fetchone() is not None

    def revisits(self) -> Iterator[tuple[int, int, str, str | None, str | None, str | None,
                                         str | None, int]]:
        """(file, offset, id, Refers-To, Refers-To-Target-URI, Refers-To-Date, payload digest,
        identical profile) of each revisit, in reading order."""
        self._index()
        yield from self.db.execute("SELECT * FROM revisits ORDER BY rowid")

    def segmented(self) -> Iterator[tuple[str, str]]:
        """(origin id, payload digest label) of each first segment with a payload digest."""
        self._index()
        yield from self.db.execute("SELECT origin, payload FROM segments WHERE number = 1 AND "
                                   "payload IS NOT NULL ORDER BY rowid")

    def segments(self, origin: str) -> Iterator[tuple[int, int, int, str | None]]:
        """(file, offset, number, total length) of the segments of ``origin``, in order."""
        yield from self.db.execute("SELECT file, offset, number, total FROM segments WHERE "
                                   "origin = ? ORDER BY number, rowid", (origin,))

    def originals(self, refers: str | None, uri: str | None, date: str | None,
                  ) -> tuple[str, list[Original]]:
        """The id a revisit names (by ``WARC-Refers-To``, else by target URI and date) and
        every response or resource record with it (more than one if the id is duplicated)."""
        self._index()
        rid = refers
        if not rid and uri and date:
            row = self.db.execute("SELECT rid FROM originals WHERE ud = ? AND uri IS ? AND "
                                  "date IS ? ORDER BY rowid LIMIT 1",
                                  (hash((uri, date)), uri, date)).fetchone()
            rid = row[0] if row else ""
        if not rid:
            return "", []
        rows = self.db.execute("SELECT rid, uri, date, payload FROM originals WHERE key = ? "
                               "AND rid = ? ORDER BY rowid LIMIT 16", (hash(rid), rid))
        return rid, list(rows)
