"""The Log tab: a hidden, protected tab of (kind, key, at, detail) rows.

`read_all` brings it along in its one request, so the jobs' Log look-ups cost nothing; writes
outside a commit are ONE values.append (RAW, INSERT_ROWS) for many entries; inside a commit the
entries ride in its batchUpdate as appendCells.

One role of `GoogleWorkbook` (workbook.py), whose `__init__` holds the state.
"""
from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any, Sequence

from ...journal import LogEntry
from ...logs import log
from ...model import StorageUnavailable
from . import layout
from .codec import appended_where_expected, cell_data, raw_value, read_datetime, read_text
from .http import AmbiguousWrite

if TYPE_CHECKING:
    from .index import Tab

TAB_IDS_LOG = "tab_ids"  # Log entries recording sheet ids, so a cold job needs no metadata read


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
    def _set_log(self, tab: Tab, values: list[list[Any]], started: float) -> None:
        tab = self._check_header(tab, values[0] if values else [], [])
        entries: dict[tuple[str, str], LogEntry] = {}
        c = tab.columns
        for cells in values[1:]:
            def get(k):
                i = c.get(k)
                return cells[i] if i is not None and i < len(cells) else ""
            kind, key = read_text(get("kind")), read_text(get("key"))
            if not kind:
                continue
            at = read_datetime(get("at"), self.tz) or datetime.fromtimestamp(0, self.tz)
            entries.setdefault((kind, key), LogEntry(kind, key, at, read_text(get("detail"))))
        ids = [e for e in entries.values() if e.kind == TAB_IDS_LOG]
        with self.lock:
            self._log, self._log_at = entries, started
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
                self._set_log(self._log_tab(), vr[0].get("values", []), started)
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
