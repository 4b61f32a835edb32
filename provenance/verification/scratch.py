"""A temporary SQLite store for rows a verification notes as it reads and asks about at the end:
verify-warc's cross-record checks (``crossrefs``) and the case verifier's revisit ledger
(``revisits``).

A run over millions of records must not hold one object per record (1.3 KB each, measured), so
the rows go to SQLite in a temporary folder, in one transaction with no index while they are
written; the indexes are built once, before the first question, and the answers are streamed.
Memory is SQLite's page cache (``CACHE_KB``) whatever the number of rows.

Threat model: the rows are hostile text (record ids, URIs, dates); they are only ever bound as
parameters, never spliced into SQL.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from pathlib import Path

CACHE_KB = 8 * 1024


class Scratch:
    """One store: ``schema`` at the start, ``indexes`` once before the first query (``ready``);
    ``close()`` removes it."""

    def __init__(self, schema: str, indexes: str, prefix: str) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix=prefix))
        self.db = sqlite3.connect(self._dir / "rows.sqlite", isolation_level=None)
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "temp_store=FILE",
                       f"cache_size=-{CACHE_KB}", "locking_mode=EXCLUSIVE"):
            self.db.execute(f"PRAGMA {pragma}")
        self.db.executescript(schema)
        self.db.execute("BEGIN")
        self._indexes: str | None = indexes

    def ready(self) -> sqlite3.Connection:
        """The connection, the rows written and indexed: ask questions from here on."""
        if self._indexes is not None:
            self.db.execute("COMMIT")
            self.db.executescript(self._indexes)
            self._indexes = None
        return self.db

    def close(self) -> None:
        self.db.close()
        shutil.rmtree(self._dir, ignore_errors=True)
