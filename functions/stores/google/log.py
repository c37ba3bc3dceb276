"""The Log tab: a hidden, protected tab of (kind, key, at, detail) rows.

`read_all` brings it along in its one request, so the jobs' Log look-ups cost nothing; writes
outside a commit are ONE values.append (RAW, INSERT_ROWS) for many entries; inside a commit the
entries ride in its batchUpdate as appendCells.

One role of `GoogleWorkbook` (workbook.py), whose `__init__` holds the state.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from ... import journal
from ...journal import LogEntry
from ...logs import log
from ...model import StorageUnavailable
from . import layout
from .codec import appended_where_expected, cell_data, raw_value, read_datetime, read_text
from .http import AmbiguousWrite
from .repair import norm

if TYPE_CHECKING:
    from .index import Tab

TAB_IDS_LOG = journal.TAB_IDS  # Log entries recording sheet ids, so a cold job needs no metadata read


class LogRole:
    """The Log tab (mixed into GoogleWorkbook)."""

    def _log_cells(self, tab: Tab, entry: LogEntry) -> list[dict]:
        width = max(tab.columns.values()) + 1
        cells: list[dict] = [{} for _ in range(width)]
        for k, v in (("kind", entry.kind), ("key", entry.key), ("at", entry.at), ("detail", entry.detail)):
            if k in tab.columns:
                cells[tab.columns[k]] = cell_data(v, k == "at", self.tz, self.pattern)
        return cells

    # -- the Log ---------------------------------------------------------------------------------
    # A hidden, protected tab. `read_all` brings it along in its one request, so the jobs' Log
    # look-ups cost nothing; writes are ONE values.append (RAW, INSERT_ROWS) for many entries.
    def _set_log(self, tab: Tab, value_range: dict, started: float) -> None:
        """Take in a whole-tab read of the Log: entries by (kind, key), and every row's position
        (what a commit's `log_expire` deletes, and its check compares)."""
        values = value_range.get("values", [])
        self._note_grid(layout.LOG_TAB, value_range)
        tab = self._check_header(tab, values[0] if values else [], [])
        entries: dict[tuple[str, str], LogEntry] = {}
        rows: list[tuple[int, LogEntry]] = []
        c = tab.columns
        for r, cells in enumerate(values[1:], start=1):
            def get(k):
                i = c.get(k)
                return cells[i] if i is not None and i < len(cells) else ""
            kind, key = read_text(get("kind")), read_text(get("key"))
            if not kind:
                continue
            at = read_datetime(get("at"), self.tz) or datetime.fromtimestamp(0, self.tz)
            rows.append((r, LogEntry(kind, key, at, read_text(get("detail")))))
            entries.setdefault((kind, key), rows[-1][1])
        ids = [e for e in entries.values() if e.kind == TAB_IDS_LOG]
        with self.lock:
            self._log, self._log_at, self._log_rows = entries, started, rows
            if ids:
                self._logged_ids = _parse_ids(max(ids, key=lambda e: e.at).detail)

    def _log_tab(self) -> Tab:
        tab = self._tabs.get(layout.LOG_TAB)
        if tab is None:
            raise StorageUnavailable("the Log tab is missing; run `python main.py bootstrap`")
        return tab

    def _fresh_log(self, force: bool = False) -> dict[tuple[str, str], LogEntry]:
        if force or self.clock() - self._log_at > self.log_max_age:
            def read():
                started = self.clock()
                vr = self.client.batch_get(self.spreadsheet_id, [self._log_tab().quoted])
                self._set_log(self._log_tab(), vr[0], started)
            self._with_fresh_metadata(read)
        return self._log

    def log_add(self, entry: LogEntry, *, new_key: bool = False) -> bool:
        return self.log_add_many([entry], new_key=new_key) == 1

    def log_add_many(self, entries: Sequence[LogEntry], *, new_key: bool = False) -> int:
        """Record each (kind, key) once, all in one request; returns how many were new.
        `new_key`: the caller's keys are random (a lease claim), so no Log read to deduplicate."""
        known = self._log if new_key else self._fresh_log()
        new: dict[tuple[str, str], LogEntry] = {}
        for e in entries:
            if (e.kind, e.key) not in known:
                new.setdefault((e.kind, e.key), e)
        if not new:
            return 0
        count = len(new)
        for attempt in range(self.client.retry.attempts):
            tab = self._log_tab()
            width = max(tab.columns.values()) + 1
            rows = []
            for e in new.values():
                row: list[Any] = [""] * width
                for k, v in (("kind", e.kind), ("key", e.key), ("at", e.at), ("detail", e.detail)):
                    if k in tab.columns:
                        row[tab.columns[k]] = raw_value(v, self.tz)
                rows.append(row)
            table = f"{tab.quoted}!A1:{layout.col_letter(width - 1)}"
            try:
                reply = self._with_fresh_metadata(lambda: self.client.values_append_raw(self.spreadsheet_id, table, rows))
            except AmbiguousWrite:
                self._settle(attempt)
                landed = self._fresh_log(force=True)
                new = {k: e for k, e in new.items() if k not in landed}
                if not new:
                    return count
                continue
            if not appended_where_expected(reply, len(rows), width):
                log("ERROR", "log append landed in an unexpected range",
                    updated_range=reply.get("updates", {}).get("updatedRange", ""))
            with self.lock:
                self._log.update(new)
            return count
        raise StorageUnavailable("log append not confirmed after retries")

    def log_has(self, kind: str, key: str) -> bool:
        return (kind, key) in self._fresh_log()

    def log_entries(self, kind: str | None = None, *, fresh: bool = False,
                    as_written: bool = False) -> list[LogEntry]:
        """`fresh`: read the Log now, not from the instance cache. `as_written`: in sheet order
        (a job lease's walk), not by time."""
        entries = [e for e in self._fresh_log(force=fresh).values()
                   if (e.kind == kind if kind is not None else e.kind != TAB_IDS_LOG)]
        return entries if as_written else sorted(entries, key=lambda e: e.at)


def _parse_ids(detail: str) -> dict[str, int]:
    try:
        ids = json.loads(detail)
        return {str(k): int(v) for k, v in ids.items()} if isinstance(ids, dict) else {}
    except (ValueError, TypeError, AttributeError):
        return {}


# -- expiry (Changes.log_expire) ----------------------------------------------------------------
# Log rows are deleted by position inside the commit's one batchUpdate, at the positions of the
# job's own read of the Log; a row is known by its kind, key and time as read, never by where it
# was. The commit's check reads the Log back: an expired row still there (staff sorted the Log
# in between, so the delete hit another row) is deleted at its new position, and a row the
# delete removed by mistake is written back whole. Only rows this commit meant to delete go.
def identity(entry: LogEntry) -> tuple[str, str, Any]:
    """A Log row as read: its kind, key and time (to the millisecond the sheet keeps)."""
    return entry.kind, entry.key, norm(entry.at)


@dataclass
class LogExpiry:
    """What one commit's `log_expire` means on the Log as read: which rows go, which stay."""

    gone: Counter = field(default_factory=Counter)  # identities of expired rows
    kept: dict[tuple, list[LogEntry]] = field(default_factory=dict)  # identity -> its rows' entries
    deletes: list[int] = field(default_factory=list)  # 0-based rows to delete in the next write
    restore: list[LogEntry] = field(default_factory=list)  # entries to write back in the next write

    def __bool__(self) -> bool:
        return bool(self.deletes or self.restore)


def plan_expiry(rows: Sequence[tuple[int, LogEntry]], cutoffs: dict[str, datetime]) -> LogExpiry:
    """The rows of kinds named in `cutoffs` recorded before their kind's cutoff."""
    plan = LogExpiry()
    for r, entry in rows:
        cutoff = cutoffs.get(entry.kind)
        if cutoff is not None and entry.at < cutoff:
            plan.gone[identity(entry)] += 1
            plan.deletes.append(r)
        else:
            plan.kept.setdefault(identity(entry), []).append(entry)
    return plan


def recheck_expiry(plan: LogExpiry, rows: Sequence[tuple[int, LogEntry]]) -> LogExpiry:
    """After a write, from the Log read back: expired rows still present, kept rows now missing."""
    seen: Counter = Counter(identity(e) for _, e in rows)
    deletes = [r for r, e in rows if identity(e) in plan.gone]
    restore = [e for ident, entries in plan.kept.items() for e in entries[seen[ident]:]]
    return LogExpiry(plan.gone, plan.kept, deletes, restore)


def delete_runs(rows: Iterable[int]) -> list[tuple[int, int]]:
    """[start, end) runs of row indexes, bottom-up, so each delete leaves the next one's rows in place."""
    runs: list[tuple[int, int]] = []
    for r in sorted(set(rows), reverse=True):
        if runs and runs[-1][0] == r + 1:
            runs[-1] = (r, runs[-1][1])
        else:
            runs.append((r, r + 1))
    return runs
