"""The workbook's metadata cache (sheet ids, titles, column maps) and the ticket index.

Jobs address tabs by title (the schema's, or the last seen), so they need no metadata read;
appends, moves and deletes need sheet ids, loaded once per instance (or taken from the Log's
`tab_ids` entry). A range that no longer parses (a tab renamed by staff) reloads the metadata once.

Redelivery (same ticket appended twice) is caught by the instance-local ticket index. A `find`
that misses the index refreshes it (ticket columns only) unless the index is younger than
`index_max_age`; concurrent refreshes share one read (docs/sheets.md "Redelivery").

One role of `GoogleWorkbook` (workbook.py), whose `__init__` holds the state.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterable

from ... import journal
from ...journal import LogEntry
from ...logs import log
from . import layout
from .codec import read_text
from .http import SheetsApiError
from .log import TAB_IDS_LOG

CELL_LIMIT = 10_000_000
SETTLE_SECONDS = 5.0  # a timed-out write may still be applied server-side for a moment


@dataclass
class Tab:
    key: str
    sheet_id: int | None  # None until metadata is loaded (jobs never need it)
    title: str
    columns: dict[str, int]
    width: int
    verified: bool = False  # columns confirmed against the header row in the sheet

    @property
    def quoted(self) -> str:
        return layout.quote_title(self.title)


@dataclass
class Located:
    tab: Tab
    row: int  # 0-based row index in the sheet


class IndexRole:
    """Metadata and the ticket index (mixed into GoogleWorkbook)."""

    # -- metadata (cached per instance, loaded only when needed) -------------------------
    # Jobs address tabs by title (the schema's, or the last seen), so they need no metadata read;
    # appends, moves and deletes need sheet ids, loaded once per instance. A range that no longer
    # parses (a tab renamed by staff) reloads the metadata once.
    def _provisional(self) -> dict[str, Tab]:
        return {spec.key: Tab(spec.key, None, spec.title, {c.key: i for i, c in enumerate(spec.columns)},
                              len(spec.columns))
                for spec in layout.tab_specs(self.schema)}

    def _load_metadata(self, meta: dict | None = None) -> None:
        meta = meta or self.client.get_metadata(
            self.spreadsheet_id, "sheets(properties(sheetId,title,index,gridProperties),developerMetadata)")
        sheets = layout.parse_metadata(meta)
        grid = sum(s["properties"].get("gridProperties", {}).get("rowCount", 0)
                   * s["properties"].get("gridProperties", {}).get("columnCount", 0) for s in meta.get("sheets", []))
        with self.lock:
            previous = self._tabs or self._provisional()
            tabs: dict[str, Tab] = {}
            for spec in layout.tab_specs(self.schema):
                sheet = layout.identify(sheets, spec.key, spec.title)
                if sheet is None:
                    continue
                old = previous.get(spec.key) or self._provisional()[spec.key]
                tabs[spec.key] = Tab(spec.key, sheet.sheet_id, sheet.title, old.columns, old.width,
                                     old.verified and old.title == sheet.title)
            self._tabs, self._meta_at, self._grid_cells = tabs, self.clock(), grid

    def _have_ids(self) -> bool:
        return all(t.sheet_id is not None for t in self._tabs.values())

    def _need_ids(self) -> None:
        """Sheet ids for batchUpdate: from metadata loaded by this instance, else from the Log
        (bootstrap and every metadata reload record them there), else one metadata read. A
        recorded id that no longer exists fails the request and reloads (`_with_fresh_metadata`)."""
        if self._meta_at != float("-inf") or self._have_ids():
            return
        logged = self._logged_ids
        if logged and all(k in logged for k in self._tabs):
            with self.lock:
                self._tabs = {k: Tab(t.key, logged[k], t.title, t.columns, t.width, t.verified)
                              for k, t in self._tabs.items()}
            return
        self._load_metadata()

    def _ids_entry(self) -> list[LogEntry]:
        """A Log entry with the sheet ids this instance loaded, when the Log does not have them."""
        if self._meta_at == float("-inf") or not self._have_ids():
            return []
        ids = {k: t.sheet_id for k, t in sorted(self._tabs.items())}
        if ids == self._logged_ids:
            return []
        detail = json.dumps(ids, sort_keys=True)
        return [LogEntry(TAB_IDS_LOG, journal.tab_ids_key(detail), datetime.now(self.tz), detail)]

    def _verify_headers(self, keys: Iterable[str]) -> None:
        """Read the header row of tabs whose columns were never confirmed (once per instance)."""
        tabs = [self._tabs[k] for k in keys if k in self._tabs and not self._tabs[k].verified]
        if not tabs:
            return
        vr = self.client.batch_get(self.spreadsheet_id, [f"{t.quoted}!1:1" for t in tabs])
        for tab, r in zip(tabs, vr):
            self._check_header(tab, (r.get("values") or [[]])[0], [])

    @staticmethod
    def _log_keys() -> list[tuple[str, str]]:
        return [(k, layout.LOG_HEADERS[k]) for k in layout.LOG_COLUMNS]

    def tabs(self) -> dict[str, Tab]:
        return self._tabs

    def forget_metadata(self) -> None:
        with self.lock:
            self._tabs, self._meta_at, self._seen = self._provisional(), float("-inf"), None

    def _tab(self, key: str) -> Tab:
        tab = self._tabs.get(key)
        if tab is None or tab.sheet_id is None:
            self._need_ids()
            tab = self._tabs.get(key)
        if tab is None:
            raise ValueError(f"unknown tab {key!r}; run bootstrap")
        return tab

    def _opd_tabs(self) -> list[Tab]:
        tabs = self._tabs
        return [tabs[o.key] for o in self.schema.opds if o.key in tabs]

    def _with_fresh_metadata(self, fn: Callable[[], Any]) -> Any:
        """Run `fn`; if a tab was renamed or removed behind our back, reload metadata once."""
        try:
            return fn()
        except SheetsApiError as e:
            if not (e.bad_range or "No grid with id" in str(e)):
                raise
            log("WARNING", "sheets metadata changed; reloading", kind=e.kind)
            self._load_metadata()
            return fn()

    def _check_header(self, tab: Tab, header: list[Any], problems: list[str]) -> Tab:
        hmap = layout.map_header(header, self._keys_headers if tab.key != layout.LOG_TAB else self._log_keys(),
                                 tab.columns, tab.key)
        problems.extend(hmap.problems)
        if hmap.columns != tab.columns or hmap.width != tab.width or not tab.verified:
            with self.lock:
                current = self._tabs.get(tab.key, tab)
                tab = Tab(tab.key, current.sheet_id, tab.title, hmap.columns, hmap.width, True)
                self._tabs[tab.key] = tab
        return tab

    def row_link(self, tab: str, ticket_id: str) -> str | None:
        """A link to the case's row from what this instance already knows (no request)."""
        hit = self._index.get(ticket_id)
        t = self._tabs.get(tab)
        if hit is None or hit[1] is None or hit[0] != tab or t is None or t.sheet_id is None:
            return None
        return (f"https://docs.google.com/spreadsheets/d/{self.spreadsheet_id}/edit"
                f"#gid={t.sheet_id}&range=A{hit[1] + 1}")

    # -- the ticket index ----------------------------------------------------------------------
    def _flush_refresh(self, items: list) -> list:
        self._with_fresh_metadata(self._refresh_index)
        return [None] * len(items)

    def _refresh_index(self) -> None:
        self._locate_all(update_index=True)

    def _locate_all(self, update_index: bool = True) -> tuple[dict[str, list[Located]], list[str]]:
        """Fresh header rows + ticket columns of every tab: where each ticket is now."""
        tabs = self._opd_tabs()
        ranges = []
        for t in tabs:
            col = layout.col_letter(t.columns.get("ticket_id", 0))
            ranges += [f"{t.quoted}!1:1", f"{t.quoted}!{col}:{col}"]
        started = self.clock()
        result = self.client.batch_get(self.spreadsheet_id, ranges)
        problems: list[str] = []
        where: dict[str, list[Located]] = {}
        for i, tab in enumerate(tabs):
            header = (result[2 * i].get("values") or [[]])[0]
            column = result[2 * i + 1].get("values", [])
            before = tab.columns.get("ticket_id")
            tab = self._check_header(tab, header, problems)
            if tab.columns.get("ticket_id") != before:  # the ticket column moved: read it again
                col = layout.col_letter(tab.columns.get("ticket_id", 0))
                column = self.client.batch_get(self.spreadsheet_id, [f"{tab.quoted}!{col}:{col}"])[0].get("values", [])
            for r, cells in enumerate(column[1:], start=1):
                ticket = read_text(cells[0]).strip() if cells else ""
                if ticket:
                    where.setdefault(ticket, []).append(Located(tab, r))
        if update_index:
            self._replace_index({t: (locs[0].tab.key, locs[0].row) for t, locs in where.items()}, started)
        return where, problems

    def _settle(self, attempt: int) -> None:
        """After a lost reply, give Google time to finish applying it before we look."""
        self.sleep(max(SETTLE_SECONDS, self.client.retry.backoff(attempt, self.client.rng)))

    def _replace_index(self, index: dict[str, tuple[str, int | None]], started: float) -> None:
        """A fresh read replaces the index, keeping what this instance appended while it ran."""
        with self.lock:
            for ticket, (tab, when) in list(self._appended.items()):
                if when >= started - 5.0:
                    index.setdefault(ticket, (tab, None))
                elif when < started - 600:
                    del self._appended[ticket]
            self._index, self._index_at = index, started

    def _index_fresh(self) -> bool:
        return self.clock() - self._index_at <= self.index_max_age

    def known(self, ticket_id: str) -> bool:
        with self.lock:
            return ticket_id in self._index

    # -- capacity --------------------------------------------------------------------------------
    def cell_usage(self) -> tuple[int, int]:
        """(cells in use, 10,000,000): Sheets counts every cell of every grid, empty or not.

        From metadata this instance loaded within the hour; else from the grid extents a
        `read_all` of the last 10 minutes reported for the KMC tabs (sheets staff added
        themselves are then not counted); else one metadata read."""
        now = self.clock()
        if now - self._meta_at <= 3600:
            return self._grid_cells, CELL_LIMIT
        cells, at = self._read_grid
        if now - at <= 600 and cells:
            return cells, CELL_LIMIT
        self._load_metadata()
        return self._grid_cells, CELL_LIMIT
