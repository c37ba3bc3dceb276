"""The tabs KMC admins (and the daily job) keep configuration in: Rute, Kontak OPD, Model Rute.

Read whole (an explicit bound past a trimmed grid is a 400), served from the job's one read
when there was one (`read_for_job`).

One role of `GoogleWorkbook` (workbook.py), whose `__init__` holds the state.
"""
from __future__ import annotations

import hashlib
from typing import Sequence

from . import layout
from .codec import read_text
from .http import SheetsApiError

RULES_TITLE = "Rute"
RULES_SHEET_ID = 7_100_000  # chosen by us so the protection can name it in the same request
MODEL_TITLE = "Model Rute"  # hidden tab holding the learned routing model (issue 18)
MODEL_SHEET_ID = 7_200_000
MODEL_MARKER = "kmc-routing-model"
MODEL_CHUNK = 45_000  # characters per cell; Sheets allows 50,000
ABSENT: dict = {"absent": True}  # read_for_job found no such side tab: its reader needs no request


def _corrupt(reason: str):
    raise ValueError(reason)


class ConfigTabsRole:
    """Rute, Kontak OPD, Model Rute and the selftest's scratch tabs (mixed into GoogleWorkbook)."""

    # -- the Rute tab ------------------------------------------------------------------------------
    # KMC admins edit routing rules here; intake reads it through routing.RuleSource's 5-minute
    # cache (one values.get per instance per 5 minutes). Columns are found by header text.
    def read_rules(self) -> list[dict[str, str]]:
        from ...routing import RULE_COLUMNS

        try:
            # The whole tab, never `A1:Z`: an admin may trim the grid to the columns in use, and
            # an explicit bound past it is a 400 "exceeds grid limits", not a missing tab.
            vr = self._job_side_range(RULES_TITLE)
            if vr is ABSENT:
                return []
            if vr is None:
                (vr,) = self.client.batch_get(self.spreadsheet_id, [layout.quote_title(RULES_TITLE)])
        except SheetsApiError as e:
            if e.bad_range:
                return []  # no Rute tab yet: the shipped rules stand in
            raise
        values = vr.get("values") or []
        if not values:
            return []
        header = [read_text(h).strip().lower() for h in values[0]]
        where = {key: header.index(title.lower()) for key, title in RULE_COLUMNS if title.lower() in header}
        if "opd" not in where:
            where = {key: i for i, (key, _) in enumerate(RULE_COLUMNS)}
        return [{key: read_text(row[i]) if i < len(row) else "" for key, i in where.items()}
                for row in values[1:]]

    def seed_rules(self, rows: Sequence[dict[str, str]]) -> bool:
        """Create and fill the Rute tab when it is missing or empty; never touches admins' edits."""
        from ...routing import RULE_COLUMNS

        meta = self.client.get_metadata(self.spreadsheet_id, "sheets(properties(sheetId,title))")
        titles = {s["properties"]["title"] for s in meta.get("sheets", [])}
        ids = {s["properties"].get("sheetId") for s in meta.get("sheets", [])}
        if RULES_TITLE in titles:
            if self.read_rules():
                return False
        else:
            sheet_id = next(i for i in range(RULES_SHEET_ID, RULES_SHEET_ID + 1000) if i not in ids)
            self.client.spreadsheet_batch_update(self.spreadsheet_id, [
                {"addSheet": {"properties": {"sheetId": sheet_id, "title": RULES_TITLE,
                                             "gridProperties": {"frozenRowCount": 1}}}},
                # OPD staff share this spreadsheet: editing routing rules asks them to confirm first
                {"addProtectedRange": {"protectedRange": {
                    "range": {"sheetId": sheet_id}, "warningOnly": True,
                    "description": "Aturan rute aduan: hanya admin KMC yang mengubah"}}},
            ], idempotent=False)
        values = [[title for _, title in RULE_COLUMNS]] + [[r.get(k, "") for k, _ in RULE_COLUMNS] for r in rows]
        self.client.values_batch_update_raw(self.spreadsheet_id, [{
            "range": f"{layout.quote_title(RULES_TITLE)}!A1", "values": values, "majorDimension": "ROWS"}])
        return True

    def remove_tabs(self, keys: Sequence[str]) -> int:
        """Delete the sheets of these tab keys (the `selftest` scratch tabs) in one request."""
        meta = self.client.get_metadata(self.spreadsheet_id, "sheets(properties(sheetId,title),developerMetadata)")
        sheets = layout.parse_metadata(meta)
        titles = {spec.key: spec.title for spec in layout.tab_specs(self.schema)}
        found = [s for k in keys if (s := layout.identify(sheets, k, titles.get(k, k))) is not None]
        if found:
            self.client.spreadsheet_batch_update(self.spreadsheet_id, [
                {"deleteSheet": {"sheetId": s.sheet_id}} for s in found], idempotent=False)
        self.forget_metadata()
        return len(found)

    # -- the Kontak OPD tab (functions/directory.py) -------------------------------------------------
    # Created and protected by bootstrap (layout.directory_spec); KMC admins edit it; jobs
    # read it through directory.DirectorySource's cache. Columns are found by header text.
    @staticmethod
    def _directory_range() -> str:
        """The table for appends: exactly the tab's columns (a bound past the grid is a 400)."""
        spec = layout.directory_spec()
        return f"{layout.quote_title(spec.title)}!A1:{layout.col_letter(len(spec.columns) - 1)}"

    def read_directory(self) -> list[dict[str, str]] | None:
        """The tab's rows as {column key: text}, or None when the tab does not exist yet."""
        from ...directory import DIRECTORY_COLUMNS, DIRECTORY_TITLE

        try:
            vr = self._job_side_range(layout.directory_spec().title)
            if vr is ABSENT:
                return None
            if vr is None:
                (vr,) = self.client.batch_get(self.spreadsheet_id, [layout.quote_title(layout.directory_spec().title)])
        except SheetsApiError as e:
            if e.bad_range:
                return None
            raise
        values = vr.get("values") or []
        if not values:
            return []
        hmap = layout.map_header(values[0], DIRECTORY_COLUMNS, None, DIRECTORY_TITLE)
        return [{key: read_text(row[i]) if i < len(row) else "" for key, i in hmap.columns.items()}
                for row in values[1:]]

    def seed_directory(self, rows: Sequence[dict[str, str]]) -> int:
        """Add the rows of OPD keys the tab lacks (all of them under the header when it is empty:
        bootstrap; an OPD added to opds.toml later, appended); never touches admins' edits."""
        from ...directory import DIRECTORY_COLUMNS

        existing = self.read_directory()
        if existing is None:
            return 0
        known = {r.get("opd", "").strip().upper() for r in existing}
        new = [[r.get(k, "") for k, _ in DIRECTORY_COLUMNS] for r in rows if r["opd"] not in known]
        if not new:
            return 0
        if any(any(v.strip() for v in r.values()) for r in existing):
            self.client.values_append_raw(self.spreadsheet_id, self._directory_range(), new)
        else:
            header = [title for _, title in DIRECTORY_COLUMNS]
            self.client.values_batch_update_raw(self.spreadsheet_id, [{
                "range": self._directory_range().split(":", 1)[0], "values": [header, *new],
                "majorDimension": "ROWS"}])
        return len(new)

    # -- the learned routing model (issue 18) ----------------------------------------------------
    # The instance's disk is ephemeral, so the model the daily job learns lives in a hidden tab:
    # A1 = format marker, B1 = number of chunks, C1 = sha256 of the whole text; A2.. = the JSON
    # text in chunks under Sheets' 50,000-characters-per-cell limit. One values.batchUpdate
    # writes it whole; a reader that finds a wrong chunk count or checksum raises ValueError
    # (corrupt: routing falls back to the rules). Intake reads it once an hour per instance.
    def read_routing_model(self) -> str | None:
        try:
            # the whole tab: `A1:C` would be "exceeds grid limits" should someone shrink it
            vr = self._job_side_range(MODEL_TITLE)
            if vr is ABSENT:
                return None
            if vr is None:
                (vr,) = self.client.batch_get(self.spreadsheet_id, [layout.quote_title(MODEL_TITLE)])
        except SheetsApiError as e:
            if e.bad_range:
                return None  # no model tab yet: no model
            raise
        values = vr.get("values") or []
        if not values or not values[0] or read_text(values[0][0]) != MODEL_MARKER:
            return None if not values else _corrupt("penanda tab Model Rute hilang")
        head = values[0] + ["", ""]
        try:
            count = int(float(head[1]))
        except (TypeError, ValueError):
            return _corrupt("jumlah potongan tidak terbaca")
        chunks = [read_text(r[0]) if r else "" for r in values[1 : count + 1]]
        text = "".join(chunks)
        if len(chunks) != count or hashlib.sha256(text.encode("utf-8")).hexdigest() != read_text(head[2]):
            return _corrupt("isi tab Model Rute tidak cocok dengan checksum")
        return text

    def _make_model_room(self, need: int) -> None:
        """Create the Model Rute tab, or grow its grid to `need` rows x 3 columns (a metadata read)."""
        meta = self.client.get_metadata(self.spreadsheet_id, "sheets(properties(sheetId,title,gridProperties))")
        props = {s["properties"]["title"]: s["properties"] for s in meta.get("sheets", [])}
        if MODEL_TITLE not in props:
            ids = {p.get("sheetId") for p in props.values()}
            sheet_id = next(i for i in range(MODEL_SHEET_ID, MODEL_SHEET_ID + 1000) if i not in ids)
            self.client.spreadsheet_batch_update(self.spreadsheet_id, [
                {"addSheet": {"properties": {"sheetId": sheet_id, "title": MODEL_TITLE, "hidden": True,
                                             "gridProperties": {"rowCount": max(need, 50), "columnCount": 3}}}},
                {"addProtectedRange": {"protectedRange": {
                    "range": {"sheetId": sheet_id}, "warningOnly": True,
                    "description": "Model rute yang dipelajari sistem: jangan diubah"}}},
            ], idempotent=False)
        else:  # grow the grid if the model got longer (or someone shrank the tab)
            grid, sid = props[MODEL_TITLE].get("gridProperties", {}), props[MODEL_TITLE]["sheetId"]
            grow = [{"appendDimension": {"sheetId": sid, "dimension": dim, "length": want - have}}
                    for dim, want, have in (("ROWS", need, grid.get("rowCount", 0)),
                                            ("COLUMNS", 3, grid.get("columnCount", 0))) if have < want]
            if grow:
                self.client.spreadsheet_batch_update(self.spreadsheet_id, grow, idempotent=False)

    def write_routing_model(self, text: str) -> None:
        chunks = [text[i : i + MODEL_CHUNK] for i in range(0, len(text), MODEL_CHUNK)] or [""]
        need = len(chunks) + 1
        seen = self._model_grid if self._job_read is not None else None
        if seen is None or seen[0] < need or seen[1] < 3:  # else the job's read saw room enough
            self._make_model_room(need)
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        values = [[MODEL_MARKER, len(chunks), digest]] + [[c] for c in chunks]
        data = [{"range": f"{layout.quote_title(MODEL_TITLE)}!A1:C{need}", "values": values, "majorDimension": "ROWS"}]
        try:
            self.client.values_batch_update_raw(self.spreadsheet_id, data)
        except SheetsApiError as e:  # the tab was shrunk or removed since the job's read
            if seen is None or not (e.beyond_grid or e.bad_range):
                raise
            self._make_model_room(need)
            self.client.values_batch_update_raw(self.spreadsheet_id, data)
