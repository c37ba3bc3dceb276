"""Reading cases: the whole-workbook read (`read_all`, `read_for_job`) and one case (`find`).

`read_all` is ONE `values.batchGet` over every OPD tab and the Log (which also records the sheet
ids, so a cold job needs no metadata read). A scheduled job reads the side tabs (Kontak OPD,
Rute, Model Rute) in the same request (`read_for_job`).

One role of `GoogleWorkbook` (workbook.py), whose `__init__` holds the state.
"""
from __future__ import annotations

from typing import Any, Sequence

from ...case import case_from_row
from ...logs import log
from ..port import Row, StoredCase
from . import layout
from .codec import grid_cells, grid_size, read_datetime, read_text
from .config_tabs import ABSENT, MODEL_TITLE, RULES_TITLE
from .http import SheetsApiError
from .index import Tab
from .repair import Snapshot

JOB_READ_MAX_AGE = 60.0  # seconds a job's whole-workbook read serves its reads (read_for_job)


class ReadRole:
    """Reads of the OPD tabs (mixed into GoogleWorkbook)."""

    # -- reading -----------------------------------------------------------------------------
    def _decode(self, tab: Tab, cells: list[Any]) -> Row:
        row: Row = {}
        for c in self.schema.columns:
            i = tab.columns.get(c.key)
            raw = cells[i] if i is not None and i < len(cells) else ""
            row[c.key] = read_datetime(raw, self.tz) if c.type == "datetime" else read_text(raw)
        return row

    def _scan(self, tab: Tab, values: list[list[Any]], problems: list[str], start_row: int = 1) -> list[tuple[int, Row]]:
        """Rows with a ticket, in sheet order (0-based row index, row); blank rows skipped."""
        out = []
        ti = tab.columns.get("ticket_id")
        for offset, cells in enumerate(values):
            r = start_row + offset
            if not any(str(c).strip() for c in cells):
                continue
            ticket = read_text(cells[ti]).strip() if ti is not None and ti < len(cells) else ""
            if not ticket:
                problems.append(f"Tab {tab.key}: baris {r + 1} berisi data tanpa nomor tiket (dilewati)")
                continue
            out.append((r, self._decode(tab, cells)))
        return out

    def read_all(self) -> dict[str, list[Row]]:
        job = self._job_read
        if job is not None and job[1] is not None and self.clock() - job[0] <= JOB_READ_MAX_AGE:
            self._job_read = (job[0], None, job[2])
            return job[1]
        return self._with_fresh_metadata(self._read_all)

    # -- one read for a whole job (services/lease.py) ---------------------------------------------
    # A scheduled job reads every OPD tab, the Log, and the side tabs (Kontak OPD, Rute, Model
    # Rute) in ONE batchGet right after its lease claim: that read is the claim's read-back, and
    # the job's read_all / read_directory / read_rules / read_routing_model are served from it,
    # once each, within JOB_READ_MAX_AGE. A side tab that does not exist yet (a 400 for the whole
    # request) is left out and read on its own as before.
    def read_for_job(self) -> None:
        titles = [layout.directory_spec().title, RULES_TITLE, MODEL_TITLE]
        absent: list[str] = []
        while True:
            started = self.clock()
            try:
                tabs = self._read_all(titles)
                break
            except SheetsApiError as e:
                if not e.bad_range:
                    raise
                bad = str(e).rsplit("range: ", 1)[-1].strip()
                missing = [t for t in titles if layout.quote_title(t) == bad or t == bad]
                if not missing:  # an OPD tab renamed: reload metadata once
                    tabs = self._with_fresh_metadata(lambda: self._read_all(titles))
                    break
                titles = [t for t in titles if t not in missing]  # not created yet
                absent += missing
        self._job_read = (started, tabs, {**self._job_side, **{t: ABSENT for t in absent}})
        model = self._job_side.get(MODEL_TITLE)
        self._model_grid = grid_size(model.get("range", "")) if model is not None else None

    def drop_job_read(self) -> None:
        """Forget what read_for_job read (the job is over; the next job reads afresh)."""
        self._job_read = None

    def _job_side_range(self, title: str) -> dict | None:
        job = self._job_read
        if job is None or title not in job[2] or self.clock() - job[0] > JOB_READ_MAX_AGE:
            return None
        return job[2].pop(title)

    def _read_all(self, side: Sequence[str] = ()) -> dict[str, list[Row]]:
        tabs = self._opd_tabs()
        log_tab = self.tabs().get(layout.LOG_TAB)
        ranges = [t.quoted for t in tabs] + ([log_tab.quoted] if log_tab else [])
        started = self.clock()
        result = self.client.batch_get(self.spreadsheet_id, ranges + [layout.quote_title(t) for t in side])
        self._job_side = dict(zip(side, result[len(ranges):]))
        problems: list[str] = []
        out: dict[str, list[Row]] = {}
        index: dict[str, tuple[str, int | None]] = {}
        choices = {k: set(self.schema.choices(k)) for k in ("status", "forward_to")}
        grid = sum(grid_cells(vr.get("range", "")) for vr in result)
        self._read_grid = (grid, started)
        seen = Snapshot(tabs={t.key for t in tabs})
        for tab, vr in zip(tabs, result):
            values = vr.get("values", [])
            self._note_grid(tab.key, vr)
            tab = self._check_header(tab, values[0] if values else [], problems)
            if "ticket_id" not in tab.columns:
                problems.append(f"Tab {tab.key}: kolom No. Tiket tidak ditemukan; tab dilewati")
                out[tab.key] = []
                continue
            rows = []
            for r, row in self._scan(tab, values[1:], problems):
                ticket = row["ticket_id"]
                seen.add(tab.key, r, row)
                if ticket in index:
                    problems.append(f"Tiket {ticket} muncul lebih dari sekali (tab {index[ticket][0]} dan {tab.key})")
                    continue
                index[ticket] = (tab.key, r)
                for key, allowed in choices.items():
                    if row.get(key) and row[key] not in allowed:
                        problems.append(f"Tab {tab.key}, tiket {ticket}: isi '{row[key]}' di kolom "
                                        f"{self.schema.column(key).header} tidak ada di daftar")
                rows.append(row)
            out[tab.key] = [case_from_row(tab.key, r) for r in rows]
        if log_tab is not None:
            self._set_log(log_tab, result[len(tabs)], started)
        self._replace_index(index, started)
        self._seen = (started, seen)
        self.last_problems = problems
        for p in problems:
            log("WARNING", "sheet problem", detail=p)
        return out

    # -- Workbook port: find / append -----------------------------------------------------------
    def find(self, ticket_id: str) -> StoredCase | None:
        with self.lock:
            hit = self._index.get(ticket_id)
        if hit is not None and hit[1] is not None:
            case = self._read_row(ticket_id, hit[0], hit[1])
            if case is not None:
                return case
        if hit is None and self._index_fresh():
            return None
        self.refreshes.submit([ticket_id])
        with self.lock:
            hit = self._index.get(ticket_id)
        if hit is None or hit[1] is None:
            return None
        return self._read_row(ticket_id, hit[0], hit[1])

    def _read_row(self, ticket_id: str, key: str, row: int) -> StoredCase | None:
        tab = self.tabs().get(key)
        if tab is None:
            return None
        try:
            vr = self.client.batch_get(self.spreadsheet_id, [f"{tab.quoted}!1:1", f"{tab.quoted}!{row + 1}:{row + 1}"])
        except SheetsApiError as e:
            if e.bad_range:
                self.forget_metadata()
                return None
            if e.beyond_grid:  # rows were deleted since: the caller locates afresh
                return None
            raise
        tab = self._check_header(tab, (vr[0].get("values") or [[]])[0], [])
        cells = (vr[1].get("values") or [[]])[0]
        ti = tab.columns.get("ticket_id")
        if ti is None or ti >= len(cells) or read_text(cells[ti]).strip() != ticket_id:
            return None  # moved since we saw it (sort, insert): caller locates afresh
        return case_from_row(key, self._decode(tab, cells))
