"""One SQLite transaction, committed or rolled back as a whole: the embedded store and the local
intake queue both write through it (each maps sqlite3 errors to its own port's exception)."""
from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def transaction(conn: sqlite3.Connection, *, write: bool = True) -> Iterator[sqlite3.Connection]:
    """`BEGIN IMMEDIATE` (a writer takes the lock at once, so two writers never deadlock on an
    upgrade) or `BEGIN`; COMMIT when the block ends, ROLLBACK on any exception."""
    conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
