"""Intake's write: new case rows, coalesced with concurrent complaints into ONE batchUpdate.

A write whose outcome is unknown (timeout, 5xx) is resolved by re-reading the ticket columns and
retrying only what is missing, so a lost reply never duplicates a row.

One role of `GoogleWorkbook` (workbook.py), whose `__init__` holds the state.
"""
from __future__ import annotations

from typing import Sequence

from ...model import StorageUnavailable
from ..port import NewCase, Row
from .codec import ROW_FIELDS, cell_data
from .http import AmbiguousWrite
from .index import Tab


class AppendRole:
    """Appending new cases (mixed into GoogleWorkbook)."""

    def append(self, cases: Sequence[NewCase]) -> list[bool]:
        for case in cases:
            if case.tab not in self.schema.opd_keys:
                raise ValueError(f"unknown tab {case.tab!r}; run bootstrap")
        return self.appends.submit(list(cases))

    def _flush_appends(self, cases: list[NewCase]) -> list[bool]:
        results = [False] * len(cases)
        pending: dict[str, int] = {}
        with self.lock:
            for i, case in enumerate(cases):
                ticket = case.row["ticket_id"]
                if ticket not in self._index and ticket not in pending:
                    pending[ticket] = i
        for attempt in range(self.client.retry.attempts):
            if not pending:
                break
            try:
                self._with_fresh_metadata(lambda: self._append_rows([cases[i] for i in pending.values()]))
            except AmbiguousWrite:
                # The reply was lost: look at the sheet and retry only what did not land.
                self._settle(attempt)
                self._with_fresh_metadata(self._refresh_index)
                with self.lock:
                    landed = [t for t in pending if t in self._index]
                for t in landed:
                    results[pending.pop(t)] = True
                continue
            now = self.clock()
            with self.lock:
                for t, i in pending.items():
                    self._index[t] = (cases[i].tab, None)
                    self._appended[t] = (cases[i].tab, now)
                    results[i] = True
            pending = {}
        if pending:
            raise StorageUnavailable(f"append not confirmed for {len(pending)} case(s) after retries")
        return results

    def _row_cells(self, tab: Tab, row: Row) -> list[dict]:
        missing = [c.header for c in self.schema.columns if c.key not in tab.columns]
        if missing:
            raise StorageUnavailable(f"tab {tab.key} lacks column(s) {missing}; run `python main.py bootstrap`")
        width = max(tab.columns.values()) + 1
        cells: list[dict] = [{} for _ in range(width)]
        for c in self.schema.columns:
            cells[tab.columns[c.key]] = cell_data(row.get(c.key, ""), c.type == "datetime", self.tz, self.pattern)
            rule = self._rules.get(c.key)
            if rule is not None:
                cells[tab.columns[c.key]]["dataValidation"] = rule
        return cells

    def _append_rows(self, cases: list[NewCase]) -> None:
        self._need_ids()
        self._verify_headers(o.key for o in self.schema.opds)
        by_tab: dict[str, list[dict]] = {}
        for case in cases:
            tab = self._tab(case.tab)
            by_tab.setdefault(case.tab, []).append({"values": self._row_cells(tab, case.row)})
        requests = [{"appendCells": {"sheetId": self._tab(k).sheet_id, "rows": rows, "fields": ROW_FIELDS}}
                    for k, rows in by_tab.items()]
        self.client.spreadsheet_batch_update(self.spreadsheet_id, requests, idempotent=False)
