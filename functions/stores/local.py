"""The embedded store: SQLite (WAL) files under KMC_DATA_DIR that behave like the workbook.

`workbook.sqlite` holds tabs (key, title, header row), ordered rows (cells keyed by column key)
and the Log; `contacts.sqlite` is the private contact store, a separate file as the production
contact spreadsheet is separate. Every write is one IMMEDIATE transaction with
`synchronous=FULL`, so several processes may write at once and a crash loses nothing committed.
"""
from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
from contextlib import contextmanager
from functools import lru_cache
from datetime import datetime
from pathlib import Path
from typing import Iterator, Sequence

from ..case import Case, case_from_row
from ..sqlite_tx import transaction
from ..model import Contact, StorageUnavailable
from ..schema import Schema
from .port import (Changes, CommitReport, CommitsOnce, ContactRecord, LogEntry, NewCase, Row, StoredCase,
                   refuse_foreign_cells)

SCHEMA_VERSION = 1
RULE_KEYS = ("opd", "topic", "keywords", "exclude")


def prepare_dir(directory: Path) -> Path:
    """Create the data directory or fail with a message that names it."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        # one probe per process and thread: parallel jobs must not delete each other's probe
        probe = directory / f".write-test-{os.getpid()}-{threading.get_ident()}"
        probe.write_text("ok")
        probe.unlink(missing_ok=True)
    except OSError as e:
        raise StorageUnavailable(f"folder data {str(directory)!r} tidak dapat ditulisi: {e.strerror or e}") from e
    return directory


def _expire_log(conn: sqlite3.Connection, cutoffs: dict[str, datetime]) -> int:
    """Delete each named kind's entries recorded before its cutoff (journal.cutoffs), inside the
    commit's transaction. `at` is compared as a time, not as text: entries carry their offset."""
    gone: list[tuple[int]] = []
    for kind, cutoff in cutoffs.items():
        for rowid, at in conn.execute("SELECT rowid, at FROM log WHERE kind = ?", (kind,)):
            when = datetime.fromisoformat(at)
            if when.tzinfo is None and cutoff.tzinfo is not None:
                when = when.replace(tzinfo=cutoff.tzinfo)
            if when < cutoff:
                gone.append((rowid,))
    conn.executemany("DELETE FROM log WHERE rowid = ?", gone)
    return len(gone)


class _Sqlite:
    def __init__(self, path: Path):
        self.path = path

    @contextmanager
    def connect(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        try:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        except sqlite3.Error as e:
            raise StorageUnavailable(f"cannot open {self.path.name}: {e}") from e
        try:
            conn.execute("PRAGMA busy_timeout = 30000")
            conn.execute("PRAGMA synchronous = FULL")
            with transaction(conn, write=write):
                yield conn
        except sqlite3.OperationalError as e:
            raise StorageUnavailable(f"{self.path.name}: {e}") from e
        finally:
            conn.close()

    def init(self, ddl: str) -> None:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            conn.execute("PRAGMA busy_timeout = 30000")
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            conn.executescript(ddl)
        except sqlite3.Error as e:
            raise StorageUnavailable(f"cannot initialise {self.path.name}: {e}") from e
        finally:
            conn.close()


def _encode(row: Row) -> str:
    return json.dumps(
        {k: (v.isoformat() if isinstance(v, datetime) else ("" if v is None else v)) for k, v in row.items()},
        ensure_ascii=False,
    )


WORKBOOK_DDL = """
CREATE TABLE IF NOT EXISTS tabs (
  key TEXT PRIMARY KEY, title TEXT NOT NULL, position INTEGER NOT NULL, headers TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rows (
  id INTEGER PRIMARY KEY AUTOINCREMENT, tab TEXT NOT NULL, position INTEGER NOT NULL,
  ticket_id TEXT NOT NULL UNIQUE, cells TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS rows_by_tab ON rows (tab, position);
CREATE TABLE IF NOT EXISTS log (
  kind TEXT NOT NULL, key TEXT NOT NULL, at TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (kind, key));
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rules (
  position INTEGER PRIMARY KEY, opd TEXT NOT NULL DEFAULT '', topic TEXT NOT NULL DEFAULT '',
  keywords TEXT NOT NULL DEFAULT '', exclude TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS directory (position INTEGER PRIMARY KEY, cells TEXT NOT NULL);
"""


class LocalWorkbook(CommitsOnce):
    """The OPD workbook on SQLite."""

    def __init__(self, path: Path, schema: Schema):
        self.db = _Sqlite(path)
        self.schema = schema
        self.db.init(WORKBOOK_DDL)
        # decoding runs for every row a job reads (90,000 rows x 20 columns): keep it to C loops
        self._blank = dict.fromkeys(schema.column_keys, "")
        self._datetime_keys = tuple(k for k in schema.column_keys if k in schema.datetime_keys)

    # -- decoding -----------------------------------------------------------------------
    def _decode(self, cells: str) -> Row:
        row: Row = dict(self._blank)  # every column, in sheet order, blank unless stored
        row.update(json.loads(cells))  # (plus columns added later by newer code)
        for key in self._datetime_keys:
            row[key] = _parse_dt(row[key])
        return row

    # -- Workbook port ------------------------------------------------------------------
    def bootstrap(self) -> list[str]:
        done: list[str] = []
        headers = json.dumps([c.header for c in self.schema.columns], ensure_ascii=False)
        with self.db.connect(write=True) as conn:
            existing = {k: (t, h) for k, t, h in conn.execute("SELECT key, title, headers FROM tabs")}
            for position, opd in enumerate(self.schema.opds):
                if opd.key not in existing:
                    conn.execute(
                        "INSERT INTO tabs (key, title, position, headers) VALUES (?, ?, ?, ?)",
                        (opd.key, opd.title, position, headers),
                    )
                    done.append(f"tab {opd.key} ({opd.title}) dibuat")
                else:
                    title, old_headers = existing[opd.key]
                    conn.execute("UPDATE tabs SET position = ? WHERE key = ?", (position, opd.key))
                    if old_headers != headers or title != opd.title:
                        conn.execute(
                            "UPDATE tabs SET title = ?, headers = ? WHERE key = ?", (opd.title, headers, opd.key)
                        )
                        done.append(f"tab {opd.key}: header diperbarui")
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (str(SCHEMA_VERSION),),
            )
        return done

    def remove_tabs(self, keys: Sequence[str]) -> int:
        """Drop tabs and their rows (the `selftest` scratch tabs); returns how many tabs went."""
        with self.db.connect(write=True) as conn:
            marks = ",".join("?" * len(keys))
            conn.execute(f"DELETE FROM rows WHERE tab IN ({marks})", tuple(keys))
            return conn.execute(f"DELETE FROM tabs WHERE key IN ({marks})", tuple(keys)).rowcount

    def tabs(self) -> list[tuple[str, str]]:
        with self.db.connect() as conn:
            return [(k, t) for k, t in conn.execute("SELECT key, title FROM tabs ORDER BY position")]

    def append(self, cases: Sequence[NewCase]) -> list[bool]:
        created: list[bool] = []
        with self.db.connect(write=True) as conn:
            known_tabs = {k for (k,) in conn.execute("SELECT key FROM tabs")}
            for case in cases:
                if case.tab not in known_tabs:
                    raise ValueError(f"unknown tab {case.tab!r}; run bootstrap")
                ticket = case.row["ticket_id"]
                if conn.execute("SELECT 1 FROM rows WHERE ticket_id = ?", (ticket,)).fetchone():
                    created.append(False)
                    continue
                (last,) = conn.execute("SELECT COALESCE(MAX(position), 0) FROM rows WHERE tab = ?", (case.tab,)).fetchone()
                row = {k: case.row.get(k, "") for k in self.schema.column_keys}
                conn.execute(
                    "INSERT INTO rows (tab, position, ticket_id, cells) VALUES (?, ?, ?, ?)",
                    (case.tab, last + 1, ticket, _encode(row)),
                )
                created.append(True)
        return created

    def find(self, ticket_id: str) -> StoredCase | None:
        with self.db.connect() as conn:
            hit = conn.execute("SELECT tab, cells FROM rows WHERE ticket_id = ?", (ticket_id,)).fetchone()
        return case_from_row(hit[0], self._decode(hit[1])) if hit else None

    def read_all(self) -> dict[str, list[Case]]:
        with self.db.connect() as conn:
            tabs = [k for (k,) in conn.execute("SELECT key FROM tabs ORDER BY position")]
            rows = conn.execute("SELECT tab, cells FROM rows ORDER BY tab, position").fetchall()
        out: dict[str, list[Row]] = {k: [] for k in tabs}
        for tab, cells in rows:
            out.setdefault(tab, []).append(case_from_row(tab, self._decode(cells)))
        return out

    def log_add(self, entry: LogEntry) -> bool:
        return self.commit(Changes(log=[entry])).logged == 1

    def log_add_many(self, entries: Sequence[LogEntry]) -> int:
        return self.commit(Changes(log=list(entries))).logged

    def commit(self, changes: Changes, *, staff: bool = False) -> CommitReport:
        """Everything in ONE IMMEDIATE transaction: all of it lands, or (on any error) none."""
        refuse_foreign_cells(changes, self.schema, staff=staff)
        report = CommitReport()
        with self.db.connect(write=True) as conn:
            for up in changes.updates:
                hit = conn.execute("SELECT id, cells FROM rows WHERE ticket_id = ?", (up.ticket_id,)).fetchone()
                if not hit:
                    report.missing.append(up.ticket_id)
                    continue
                cells = json.loads(hit[1])
                cells.update(json.loads(_encode(up.values)))
                conn.execute("UPDATE rows SET cells = ? WHERE id = ?", (json.dumps(cells, ensure_ascii=False), hit[0]))
                report.written += 1
            tabs = {k for (k,) in conn.execute("SELECT key FROM tabs")}
            for mv in changes.moves:
                if mv.to_tab not in tabs:
                    raise ValueError(f"unknown tab {mv.to_tab!r}")
                hit = conn.execute("SELECT id, cells, tab FROM rows WHERE ticket_id = ?", (mv.ticket_id,)).fetchone()
                report.moved[mv.ticket_id] = bool(hit)
                if not hit or hit[2] == mv.to_tab:
                    continue
                cells = json.loads(hit[1])
                cells.update(json.loads(_encode(mv.values)))
                (last,) = conn.execute("SELECT COALESCE(MAX(position), 0) FROM rows WHERE tab = ?",
                                       (mv.to_tab,)).fetchone()
                conn.execute("UPDATE rows SET tab = ?, position = ?, cells = ? WHERE id = ?",
                             (mv.to_tab, last + 1, json.dumps(cells, ensure_ascii=False), hit[0]))
            for ticket in changes.deletes:
                report.deleted += conn.execute("DELETE FROM rows WHERE ticket_id = ?", (ticket,)).rowcount
            _expire_log(conn, changes.log_expire)  # before the inserts: a re-recorded key is kept
            for entry in changes.log:
                report.logged += conn.execute(
                    "INSERT OR IGNORE INTO log (kind, key, at, detail) VALUES (?, ?, ?, ?)",
                    (entry.kind, entry.key, entry.at.isoformat(), entry.detail),
                ).rowcount
        return report

    def log_has(self, kind: str, key: str) -> bool:
        with self.db.connect() as conn:
            return conn.execute("SELECT 1 FROM log WHERE kind = ? AND key = ?", (kind, key)).fetchone() is not None

    def log_entries(self, kind: str | None = None) -> list[LogEntry]:
        with self.db.connect() as conn:
            q = "SELECT kind, key, at, detail FROM log" + (" WHERE kind = ?" if kind else "") + " ORDER BY at, rowid"
            rows = conn.execute(q, (kind,) if kind else ()).fetchall()
        return [LogEntry(k, key, datetime.fromisoformat(at), d) for k, key, at, d in rows]

    @contextmanager
    def job_lock(self, name: str) -> Iterator[bool]:
        """True while this caller alone runs job `name` (see services/lease.py): an exclusive,
        non-blocking `flock` on a file beside the database. It holds across threads (each call
        opens its own file description) and processes, and the kernel drops it when a process
        dies, so a crashed run never blocks the next one."""
        import fcntl

        path = self.db.path.with_name(f".job-{re.sub(r'[^A-Za-z0-9_-]', '_', name)}.lock")
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as e:
            raise StorageUnavailable(f"kunci job {name} tidak dapat dibuat: {e.strerror or e}") from e
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)  # closing the description releases the lock

    def cell_usage(self) -> tuple[int, int]:
        """(cells, 10,000,000) as the Google sheet would count them: rows + header x columns."""
        with self.db.connect() as conn:
            (rows,) = conn.execute("SELECT COUNT(*) FROM rows").fetchone()
            (tabs,) = conn.execute("SELECT COUNT(*) FROM tabs").fetchone()
        return (rows + tabs) * len(self.schema.columns), 10_000_000

    # -- the Rute tab ---------------------------------------------------------------------
    def read_rules(self) -> list[dict[str, str]]:
        with self.db.connect() as conn:
            rows = conn.execute("SELECT opd, topic, keywords, exclude FROM rules ORDER BY position").fetchall()
        return [dict(zip(RULE_KEYS, r)) for r in rows]

    def seed_rules(self, rows: Sequence[dict[str, str]]) -> bool:
        with self.db.connect(write=True) as conn:
            if conn.execute("SELECT 1 FROM rules LIMIT 1").fetchone():
                return False
            conn.executemany(
                "INSERT INTO rules (position, opd, topic, keywords, exclude) VALUES (?, ?, ?, ?, ?)",
                [(i, *(str(r.get(k, "")) for k in RULE_KEYS)) for i, r in enumerate(rows, start=2)],
            )
        return True

    def write_rule(self, position: int, row: dict[str, str]) -> None:
        """What a KMC admin does by hand in the Rute tab (tests and tools)."""
        with self.db.connect(write=True) as conn:
            conn.execute(
                "INSERT INTO rules (position, opd, topic, keywords, exclude) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT(position) DO UPDATE SET opd = excluded.opd, topic = excluded.topic,"
                " keywords = excluded.keywords, exclude = excluded.exclude",
                (position, *(str(row.get(k, "")) for k in RULE_KEYS)),
            )

    # -- the Kontak OPD tab (functions/directory.py) -----------------------------------------
    def read_directory(self) -> list[dict[str, str]] | None:
        """The directory rows in order, or None before bootstrap seeded them."""
        with self.db.connect() as conn:
            rows = conn.execute("SELECT cells FROM directory ORDER BY position").fetchall()
        return [json.loads(c) for (c,) in rows] if rows else None

    def seed_directory(self, rows: Sequence[dict[str, str]]) -> int:
        """Add the rows of OPD keys the directory lacks (all of them when it is empty: bootstrap;
        an OPD added to opds.toml later); never touches admins' edits. Returns rows added."""
        with self.db.connect(write=True) as conn:
            stored = conn.execute("SELECT position, cells FROM directory").fetchall()
            known = {str(json.loads(c).get("opd", "")).strip().upper() for _, c in stored}
            last = max((p for p, _ in stored), default=1)
            new = [r for r in rows if r["opd"] not in known]
            conn.executemany("INSERT INTO directory (position, cells) VALUES (?, ?)",
                             [(i, json.dumps(dict(r), ensure_ascii=False)) for i, r in enumerate(new, start=last + 1)])
        return len(new)

    def write_directory_row(self, row: dict[str, str]) -> None:
        """Replace the row of `row["opd"]` (or add it): what `opd set` does on the local store."""
        cells = json.dumps(dict(row), ensure_ascii=False)
        with self.db.connect(write=True) as conn:
            for position, old in conn.execute("SELECT position, cells FROM directory ORDER BY position"):
                if str(json.loads(old).get("opd", "")).strip().upper() == row["opd"]:
                    conn.execute("UPDATE directory SET cells = ? WHERE position = ?", (cells, position))
                    return
            (last,) = conn.execute("SELECT COALESCE(MAX(position), 1) FROM directory").fetchone()
            conn.execute("INSERT INTO directory (position, cells) VALUES (?, ?)", (last + 1, cells))

    # -- the learned routing model (routing_model.py; written by the daily job) -----------
    def read_routing_model(self) -> str | None:
        with self.db.connect() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'routing_model'").fetchone()
        return row[0] if row else None

    def write_routing_model(self, text: str) -> None:
        with self.db.connect(write=True) as conn:
            conn.execute("INSERT INTO meta (key, value) VALUES ('routing_model', ?)"
                         " ON CONFLICT(key) DO UPDATE SET value = excluded.value", (text,))

    # -- what staff do by hand (used by tests and the demo) -----------------------------
    def sort_tab(self, tab: str, key: str, reverse: bool = False) -> None:
        """Reorder a tab as a staff member sorting a column would."""
        with self.db.connect(write=True) as conn:
            rows = conn.execute("SELECT id, cells FROM rows WHERE tab = ?", (tab,)).fetchall()
            rows.sort(key=lambda r: str(json.loads(r[1]).get(key, "")), reverse=reverse)
            for position, (rid, _) in enumerate(rows, start=1):
                conn.execute("UPDATE rows SET position = ? WHERE id = ?", (position, rid))


CONTACTS_DDL = """
CREATE TABLE IF NOT EXISTS contacts (
  ticket_id TEXT PRIMARY KEY, channel TEXT NOT NULL, name TEXT NOT NULL DEFAULT '',
  phone TEXT NOT NULL DEFAULT '', channel_user_id TEXT NOT NULL DEFAULT '',
  email TEXT NOT NULL DEFAULT '', anonymous INTEGER NOT NULL DEFAULT 0, received_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS contacts_by_user ON contacts (channel_user_id, received_at);
CREATE INDEX IF NOT EXISTS contacts_by_phone ON contacts (phone);
CREATE TABLE IF NOT EXISTS full_texts (ticket_id TEXT PRIMARY KEY, text TEXT NOT NULL);
"""


class LocalContactBook:
    """The private contact store on its own SQLite file."""

    def __init__(self, path: Path):
        self.db = _Sqlite(path)
        self.db.init(CONTACTS_DDL)

    def put(self, record: ContactRecord) -> None:
        c = record.contact
        with self.db.connect(write=True) as conn:
            conn.execute(
                "INSERT INTO contacts (ticket_id, channel, name, phone, channel_user_id, email, anonymous, received_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(ticket_id) DO UPDATE SET"
                " name = excluded.name, phone = excluded.phone, channel_user_id = excluded.channel_user_id,"
                " email = excluded.email, anonymous = excluded.anonymous",
                (record.ticket_id, record.channel, c.name, c.phone, c.channel_user_id, c.email,
                 int(c.anonymous), record.received_at.isoformat()),
            )

    def keep_text(self, ticket_id: str, text: str) -> None:
        """The whole text of a complaint too long for a cell (the OPD row shows it cut)."""
        with self.db.connect(write=True) as conn:
            conn.execute("INSERT INTO full_texts (ticket_id, text) VALUES (?, ?) ON CONFLICT(ticket_id)"
                         " DO UPDATE SET text = excluded.text", (ticket_id, text))

    def full_text(self, ticket_id: str) -> str | None:
        with self.db.connect() as conn:
            row = conn.execute("SELECT text FROM full_texts WHERE ticket_id = ?", (ticket_id,)).fetchone()
        return row[0] if row else None

    @staticmethod
    def _record(row: tuple) -> ContactRecord:
        ticket, channel, name, phone, user, email, anon, at = row
        return ContactRecord(ticket, channel, Contact(name, phone, user, email, bool(anon)), datetime.fromisoformat(at))

    _COLS = "ticket_id, channel, name, phone, channel_user_id, email, anonymous, received_at"

    def get(self, ticket_id: str) -> ContactRecord | None:
        with self.db.connect() as conn:
            row = conn.execute(f"SELECT {self._COLS} FROM contacts WHERE ticket_id = ?", (ticket_id,)).fetchone()
        return self._record(row) if row else None

    def latest_for(self, channel_user_id: str, since: datetime) -> ContactRecord | None:
        if not channel_user_id:
            return None
        with self.db.connect() as conn:
            rows = conn.execute(
                f"SELECT {self._COLS} FROM contacts WHERE channel_user_id = ?", (channel_user_id,)
            ).fetchall()
        records = [r for r in map(self._record, rows) if r.received_at >= since]
        return max(records, key=lambda r: r.received_at) if records else None

    def forget(self, ticket_or_phone: str) -> list[str]:
        with self.db.connect(write=True) as conn:
            rows = conn.execute(
                "SELECT ticket_id FROM contacts WHERE ticket_id = ? OR (phone != '' AND phone = ?)"
                " OR (channel_user_id != '' AND channel_user_id = ?)",
                (ticket_or_phone, ticket_or_phone, ticket_or_phone),
            ).fetchall()
            tickets = [t for (t,) in rows]
            for t in tickets:
                conn.execute(
                    "UPDATE contacts SET name = '', phone = '', channel_user_id = '', email = '', anonymous = 1"
                    " WHERE ticket_id = ?", (t,))
        return tickets


def _parse_dt(value) -> datetime | None:
    if not value:
        return None
    if isinstance(value, datetime):
        return value
    try:
        return _fromiso(value)
    except (TypeError, ValueError):
        return None


@lru_cache(maxsize=65536)
def _fromiso(value: str) -> datetime:
    """Many rows share stamps (deadline = received + 48 h); datetimes are immutable, so share them."""
    return datetime.fromisoformat(value)
