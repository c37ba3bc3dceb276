"""The local intake queue: one SQLite file (WAL, synchronous=FULL) under KMC_DATA_DIR.

One row per accepted message with a UNIQUE dedupe key, its attempts, the time of its next
attempt, a lease (a worker that dies mid-job gives it back when the lease runs out) and a
state: `waiting`, `stored` (kept STORED_KEEP_DAYS as the redelivery guard, so a redelivery
costs no Sheets read) or `dead` (a poison message: listed by `drain` and the digest until an
admin retries it). Messages of one conversation (`group`) are leased strictly in the order
they were accepted, so follow-ups are merged the same way every time.
"""
from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from ..sqlite_tx import transaction
from .port import POISON_ATTEMPTS, Job, QueueUnavailable, QueueStats, Waiting

STORED_KEEP_DAYS = 30
LEASE_SECONDS = 300.0
MAX_BACKOFF_SECONDS = 60.0  # a store that is down is tried again at least once a minute

DDL = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    ticket TEXT NOT NULL DEFAULT '',
    grp TEXT NOT NULL DEFAULT '',
    job TEXT NOT NULL,
    accepted_at REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'waiting',
    attempts INTEGER NOT NULL DEFAULT 0,
    outages INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL DEFAULT 0,
    leased_until REAL NOT NULL DEFAULT 0,
    error TEXT NOT NULL DEFAULT '',
    done_at REAL
);
CREATE INDEX IF NOT EXISTS jobs_due ON jobs (state, next_at);
CREATE INDEX IF NOT EXISTS jobs_ticket ON jobs (ticket);
CREATE INDEX IF NOT EXISTS jobs_grp ON jobs (grp, state, id);
"""


def backoff(n: int) -> float:
    """Seconds before attempt n+1: 2, 4, 8 ... capped."""
    return min(MAX_BACKOFF_SECONDS, 2.0 * (2 ** max(0, n - 1)))


class LocalQueue:
    def __init__(self, path: Path, *, clock=time.time):
        self.path = path
        self.clock = clock
        # One connection per queue object, its transactions one at a time: threads of this
        # process wait on a lock (microseconds) instead of SQLite's busy handler, which sleeps
        # in steps of up to 100 ms; other processes (the `drain` CLI) are kept out by SQLite.
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        with self._lock:
            try:
                conn = self._connection()
                if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    conn.execute("PRAGMA journal_mode = WAL")
                conn.executescript(DDL)
            except sqlite3.Error as e:
                self._close()
                raise QueueUnavailable(f"cannot initialise {path.name}: {e}") from e

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            try:
                conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
                conn.execute("PRAGMA busy_timeout = 30000")
                conn.execute("PRAGMA synchronous = FULL")  # committed = on disk: a crash loses nothing
            except sqlite3.Error as e:
                raise QueueUnavailable(f"cannot open {self.path.name}: {e}") from e
            self._conn = conn
        return self._conn

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                with transaction(self._connection()) as conn:
                    yield conn
            except sqlite3.Error as e:
                self._close()  # reopen on the next call
                raise QueueUnavailable(f"{self.path.name}: {e}") from e

    # -- the door ----------------------------------------------------------------------------
    def put(self, job: Job) -> bool:
        with self._tx() as conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO jobs (key, kind, ticket, grp, job, accepted_at) VALUES (?, ?, ?, ?, ?, ?)",
                (job.key, job.kind, job.ticket, job.group, job.to_json(), job.accepted_at.timestamp()))
            return cur.rowcount == 1

    def ticket_for(self, key: str) -> str:
        """The ticket the first acceptance of `key` gave ('' when unknown)."""
        with self._tx() as conn:
            row = conn.execute("SELECT ticket FROM jobs WHERE key = ?", (key,)).fetchone()
        return row[0] if row else ""

    def lookup(self, ticket: str) -> Waiting | None:
        with self._tx() as conn:
            row = conn.execute(f"SELECT {_COLS} FROM jobs WHERE ticket = ? ORDER BY id LIMIT 1", (ticket,)).fetchone()
        return _waiting(row) if row else None

    # -- the writer --------------------------------------------------------------------------
    def lease(self, limit: int, *, lease_seconds: float = LEASE_SECONDS) -> list[Job]:
        """Up to `limit` due jobs, each the oldest waiting one of its conversation."""
        now = self.clock()
        with self._tx() as conn:
            rows = conn.execute(
                "SELECT id, job FROM jobs AS j WHERE state = 'waiting' AND next_at <= ? AND leased_until <= ? "
                "AND (grp = '' OR NOT EXISTS (SELECT 1 FROM jobs AS e WHERE e.grp = j.grp "
                "AND e.state = 'waiting' AND e.id < j.id)) ORDER BY id LIMIT ?", (now, now, limit)).fetchall()
            conn.executemany("UPDATE jobs SET leased_until = ? WHERE id = ?",
                             [(now + lease_seconds, r[0]) for r in rows])
        return [Job.from_json(r[1]) for r in rows]

    def done(self, key: str) -> None:
        now = self.clock()
        with self._tx() as conn:
            conn.execute("UPDATE jobs SET state = 'stored', done_at = ?, leased_until = 0, error = '' "
                         "WHERE key = ?", (now, key))
            conn.execute("DELETE FROM jobs WHERE state = 'stored' AND done_at < ?", (now - STORED_KEEP_DAYS * 86400,))

    def fail(self, key: str, error: str, *, outage: bool) -> bool:
        """Record a failed attempt; True when the job just became a dead letter.

        An outage (the store is down) never makes a dead letter: Sheets down for an hour is a
        wait, not a poison message."""
        now = self.clock()
        with self._tx() as conn:
            row = conn.execute("SELECT attempts, outages FROM jobs WHERE key = ?", (key,)).fetchone()
            if row is None:
                return False
            attempts, outages = row[0] + (0 if outage else 1), row[1] + (1 if outage else 0)
            dead = attempts >= POISON_ATTEMPTS
            conn.execute("UPDATE jobs SET attempts = ?, outages = ?, next_at = ?, leased_until = 0, error = ?, "
                         "state = ? WHERE key = ?",
                         (attempts, outages, now + backoff(outages if outage else attempts), error[:500],
                          "dead" if dead else "waiting", key))
        return dead

    def recover(self) -> int:
        """At the start of the one writer process (`serve`): leases held by a process that died
        are given back at once instead of after LEASE_SECONDS. Steps are idempotent, so a job
        that was half done runs again safely."""
        with self._tx() as conn:
            return conn.execute("UPDATE jobs SET leased_until = 0 WHERE state = 'waiting' AND leased_until > 0").rowcount

    def release(self, keys: list[str]) -> None:
        """Give leased jobs back untouched (the drain stopped before trying them)."""
        with self._tx() as conn:
            conn.executemany("UPDATE jobs SET leased_until = 0 WHERE key = ? AND state = 'waiting'",
                             [(k,) for k in keys])

    # -- the operator ------------------------------------------------------------------------
    def stats(self) -> QueueStats:
        with self._tx() as conn:
            rows = conn.execute(f"SELECT {_COLS} FROM jobs WHERE state IN ('waiting', 'dead') ORDER BY id").fetchall()
        out = QueueStats()
        for row in rows:
            w = _waiting(row)
            (out.dead if w.dead else out.waiting).append(w)
        return out

    def retry(self, key: str | None = None) -> int:
        """Put dead letters (one by key or ticket, or all) back in line; returns how many."""
        with self._tx() as conn:
            if key is None:
                cur = conn.execute("UPDATE jobs SET state = 'waiting', attempts = 0, next_at = 0, leased_until = 0 "
                                   "WHERE state = 'dead'")
            else:
                cur = conn.execute("UPDATE jobs SET state = 'waiting', attempts = 0, next_at = 0, leased_until = 0 "
                                   "WHERE state = 'dead' AND (key = ? OR ticket = ?)", (key, key))
            return cur.rowcount


_COLS = "key, kind, ticket, accepted_at, attempts, error, state"


def _waiting(row) -> Waiting:
    key, kind, ticket, accepted, attempts, error, state = row
    return Waiting(key=key, kind=kind, ticket=ticket,
                   accepted_at=datetime.fromtimestamp(accepted, timezone.utc), attempts=attempts,
                   error=error, dead=state == "dead", stored=state == "stored")
