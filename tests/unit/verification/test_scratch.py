"""The temporary SQLite store of a verification: rows written, indexed once, asked, removed."""

from __future__ import annotations

from pathlib import Path

from provenance.verification.scratch import Scratch


def test_rows_are_asked_after_ready_and_the_store_goes_on_close() -> None:
    store = Scratch("CREATE TABLE rows (id TEXT, n INTEGER);",
                    "CREATE INDEX rows_id ON rows (id);", "prov-test-scratch-")
    folder = Path(store._dir)
    hostile = "x'); DROP TABLE rows; --"
    store.db.executemany("INSERT INTO rows VALUES (?, ?)", [(hostile, 1), ("b", 2), (hostile, 3)])
    db = store.ready()
    assert db.execute("SELECT sum(n) FROM rows WHERE id = ?", (hostile,)).fetchone() == (4,)
    indexes = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='index'")]
    assert indexes == ["rows_id"]
    assert store.ready() is db  # the indexes are built once
    store.close()
    assert not folder.exists()
