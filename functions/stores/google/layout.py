"""How the workbook looks in Google Sheets, built from `sheets_schema/` as batchUpdate requests.

Pure: takes the spreadsheet metadata and header rows, returns the requests to send and a line
per change for the operator. Idempotent: a tab whose layout fingerprint (developer metadata
`kmc_layout`) matches the schema gets no request at all, so a second bootstrap changes nothing.

Tabs are identified by developer metadata `kmc_tab=<OPD key>` (survives staff renaming a tab),
falling back to the title. Columns are identified by header text, falling back to position
(`map_header`), so a renamed header is understood and restored.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Sequence

from ...schema import Column, Schema

TAB_KEY = "kmc_tab"
LAYOUT_KEY = "kmc_layout"
LOG_TAB = "_LOG"
LOG_TITLE = "Log Sistem"
LOG_COLUMNS = ("kind", "key", "at", "detail")
LOG_HEADERS = {"kind": "Jenis", "key": "Kunci", "at": "Waktu", "detail": "Keterangan"}
PROTECTION_PREFIX = "KMC:"
OVERDUE = "Terlambat"
INITIAL_ROWS = 200  # rows grow on append; small grids keep the 10M-cell budget for data


def col_letter(index: int) -> str:
    out, index = "", index + 1
    while index:
        index, rem = divmod(index - 1, 26)
        out = chr(65 + rem) + out
    return out


def quote_title(title: str) -> str:
    return "'" + title.replace("'", "''") + "'"


def _norm(text: Any) -> str:
    return " ".join(str(text or "").split()).casefold()


@dataclass
class HeaderMap:
    columns: dict[str, int]  # key -> 0-based column
    width: int  # cells in the header row
    problems: list[str] = field(default_factory=list)
    renamed: dict[str, int] = field(default_factory=dict)  # keys found by position, header differs


def map_header(cells: Sequence[Any], keys_headers: Sequence[tuple[str, str]], previous: dict[str, int] | None,
               tab: str) -> HeaderMap:
    """Header row -> column of each key: by header text, else by the position last seen/written."""
    normed = [_norm(c) for c in cells]
    columns: dict[str, int] = {}
    claimed: set[int] = set()
    for key, header in keys_headers:
        for i, h in enumerate(normed):
            if i not in claimed and h and h in (_norm(header), _norm(key)):
                columns[key] = i
                claimed.add(i)
                break
    known = {_norm(h) for _, h in keys_headers} | {_norm(k) for k, _ in keys_headers}
    out = HeaderMap(columns, len(cells))
    for pos, (key, header) in enumerate(keys_headers):
        if key in columns:
            continue
        guess = (previous or {}).get(key, pos)
        if guess < len(cells) and guess not in claimed and normed[guess] not in known:
            columns[key] = guess
            claimed.add(guess)
            out.renamed[key] = guess
            if normed[guess]:
                out.problems.append(
                    f"Tab {tab}: judul kolom {col_letter(guess)} '{cells[guess]}' diubah; dianggap '{header}' menurut posisinya"
                )
        else:
            out.problems.append(f"Tab {tab}: kolom '{header}' tidak ditemukan")
    return out


def rgb(hex_color: str) -> dict:
    h = hex_color.lstrip("#")
    return {"red": int(h[0:2], 16) / 255, "green": int(h[2:4], 16) / 255, "blue": int(h[4:6], 16) / 255}


def _grid(sheet_id: int, r0: int | None = None, r1: int | None = None, c0: int | None = None,
          c1: int | None = None) -> dict:
    g: dict[str, int] = {"sheetId": sheet_id}
    for name, v in (("startRowIndex", r0), ("endRowIndex", r1), ("startColumnIndex", c0), ("endColumnIndex", c1)):
        if v is not None:
            g[name] = v
    return g


@dataclass
class ExistingSheet:
    sheet_id: int
    title: str
    index: int
    columns: int
    tab_key: str = ""
    tab_key_id: int | None = None
    layout: str = ""
    layout_id: int | None = None
    hidden: bool = False
    frozen: int = 0
    protected: list[dict] = field(default_factory=list)
    conditional: list[dict] = field(default_factory=list)


def parse_metadata(meta: dict) -> list[ExistingSheet]:
    out = []
    for s in meta.get("sheets", []):
        p = s["properties"]
        grid = p.get("gridProperties", {})
        es = ExistingSheet(p["sheetId"], p["title"], p.get("index", 0), grid.get("columnCount", 26),
                           hidden=p.get("hidden", False), frozen=grid.get("frozenRowCount", 0),
                           protected=s.get("protectedRanges", []), conditional=s.get("conditionalFormats", []))
        for md in s.get("developerMetadata", []):
            if md.get("metadataKey") == TAB_KEY:
                es.tab_key, es.tab_key_id = md.get("metadataValue", ""), md.get("metadataId")
            elif md.get("metadataKey") == LAYOUT_KEY:
                es.layout, es.layout_id = md.get("metadataValue", ""), md.get("metadataId")
        out.append(es)
    return out


def identify(sheets: list[ExistingSheet], key: str, title: str) -> ExistingSheet | None:
    """The sheet of a tab key: by developer metadata, else by title (schema title or key)."""
    for s in sheets:
        if s.tab_key == key:
            return s
    for s in sheets:
        if not s.tab_key and s.title in (title, key):
            return s
    return None


@dataclass(frozen=True)
class TabSpec:
    key: str
    title: str
    columns: tuple[Column, ...]
    hidden: bool = False
    staff_editable: bool = True


def tab_specs(schema: Schema) -> list[TabSpec]:
    specs = [TabSpec(o.key, o.title, schema.columns) for o in schema.opds]
    log_cols = tuple(Column(k, LOG_HEADERS[k], "system", "datetime" if k == "at" else "text", 160) for k in LOG_COLUMNS)
    specs.append(TabSpec(LOG_TAB, LOG_TITLE, log_cols, hidden=True, staff_editable=False))
    return specs


DIRECTORY_TAB = "_KONTAK_OPD"


def directory_spec() -> TabSpec:
    """The `Kontak OPD` tab (functions/directory.py): all text cells (numbers stay strings),
    protected whole so OPD staff who share the spreadsheet cannot edit it; the spreadsheet's
    owners (KMC admins) and the service account can. Laid out by bootstrap only (not one of
    `tab_specs`: the jobs read it through `read_directory`, never with the OPD tabs)."""
    from ...directory import DIRECTORY_COLUMNS, DIRECTORY_TITLE

    widths = {"opd": 110, "opd_name": 260, "head_name": 200, "head_title": 220, "email": 260,
              "whatsapp": 200, "cc": 260}
    columns = tuple(Column(k, h, "system", "text", widths.get(k, 160)) for k, h in DIRECTORY_COLUMNS)
    return TabSpec(DIRECTORY_TAB, DIRECTORY_TITLE, columns, staff_editable=False)


class LayoutPlan:
    """Collects requests and operator messages for one bootstrap run."""

    def __init__(self, schema: Schema, editors: Sequence[str] = ()):
        self.schema = schema
        self.editors = [e for e in editors if e]
        self.requests: list[dict] = []
        self.groups: list[list[dict]] = []  # the requests of each tab, in order
        self.done: list[str] = []
        fmts = schema.values.get("formats", {})
        self.datetime_pattern = fmts.get("datetime", "yyyy-mm-dd hh:mm")
        self.overdue_fill = fmts.get("overdue_fill", "#F4CCCC")
        self.header_fill = fmts.get("header_fill", "#D9EAD3")

    def fingerprint(self, spec: TabSpec, columns: dict[str, int], width: int) -> str:
        blob = json.dumps([
            spec.key, spec.title, spec.hidden, [(c.key, c.header, c.editor, c.type, c.width, c.choices) for c in spec.columns],
            sorted(columns.items()), width, self.editors, self.datetime_pattern, self.overdue_fill, self.header_fill,
            [self.schema.choices(c.key) for c in spec.columns if c.type == "choice" and c.choices],
        ], ensure_ascii=False, sort_keys=True)
        return hashlib.sha1(blob.encode()).hexdigest()[:16]

    def add(self, request: dict) -> None:
        self.requests.append(request)

    def batches(self, limit: int) -> list[list[dict]]:
        """The requests in batches of whole tabs, at most `limit` sub-requests unless one tab has more."""
        out: list[list[dict]] = []
        covered = {id(r) for g in self.groups for r in g}
        rest = [r for r in self.requests if id(r) not in covered]  # added outside a tab's plan
        for group in [*self.groups, rest]:
            if not group:
                continue
            if out and len(out[-1]) + len(group) <= limit:
                out[-1] = out[-1] + group
            else:
                out.append(list(group))
        return out

    def plan_tab(self, spec: TabSpec, sheet: ExistingSheet | None, header: Sequence[Any], new_id: int,
                 index: int, taken_titles: set[str]) -> tuple[int, dict[str, int]]:
        """Requests for one tab; returns (sheetId, column map)."""
        keys_headers = [(c.key, c.header) for c in spec.columns]
        if sheet is None:
            title = spec.title if spec.title not in taken_titles else f"{spec.title} ({spec.key})"
            self.add({"addSheet": {"properties": {
                "sheetId": new_id, "title": title, "index": index, "hidden": spec.hidden,
                "gridProperties": {"rowCount": INITIAL_ROWS, "columnCount": len(spec.columns), "frozenRowCount": 1}}}})
            self.add({"createDeveloperMetadata": {"developerMetadata": {
                "metadataKey": TAB_KEY, "metadataValue": spec.key, "location": {"sheetId": new_id},
                "visibility": "DOCUMENT"}}})
            self.done.append(f"tab {spec.key} ({title}) dibuat")
            sheet_id, width, col_count, layout, layout_id = new_id, 0, len(spec.columns), "", None
            hmap = HeaderMap({}, 0)
            existing_protected: list[dict] = []
            existing_conditional: list[dict] = []
        else:
            sheet_id, col_count, layout, layout_id = sheet.sheet_id, sheet.columns, sheet.layout, sheet.layout_id
            existing_protected, existing_conditional = sheet.protected, sheet.conditional
            if not sheet.tab_key:
                self.add({"createDeveloperMetadata": {"developerMetadata": {
                    "metadataKey": TAB_KEY, "metadataValue": spec.key, "location": {"sheetId": sheet_id},
                    "visibility": "DOCUMENT"}}})
            if sheet.title != spec.title:
                if spec.title in taken_titles:
                    self.done.append(f"tab {spec.key}: nama '{sheet.title}' dipertahankan ('{spec.title}' sudah dipakai tab lain)")
                else:
                    self.add({"updateSheetProperties": {"properties": {"sheetId": sheet_id, "title": spec.title},
                                                        "fields": "title"}})
                    self.done.append(f"tab {spec.key}: nama '{sheet.title}' dikembalikan menjadi '{spec.title}'")
            if spec.hidden and not sheet.hidden:
                self.add({"updateSheetProperties": {"properties": {"sheetId": sheet_id, "hidden": True}, "fields": "hidden"}})
            width = len(header)
            hmap = map_header(header, keys_headers, None, spec.key)
        columns, full_width = self._fix_header(spec, sheet, sheet_id, hmap, width, col_count)
        self._refresh_format(spec, sheet, sheet_id, columns, full_width, layout, layout_id,
                             existing_protected, existing_conditional)
        return sheet_id, columns

    def _fix_header(self, spec: TabSpec, sheet: ExistingSheet | None, sheet_id: int, hmap: HeaderMap, width: int,
                    col_count: int) -> tuple[dict[str, int], int]:
        """Restore renamed headers, add missing columns after the last one in use; returns the
        column map and the width of the header row."""
        columns = dict(hmap.columns)
        fixes: dict[int, str] = {}
        next_col = max([width - 1, *columns.values()], default=-1) + 1
        for c in spec.columns:
            if c.key not in columns:
                columns[c.key] = next_col
                next_col += 1
                fixes[columns[c.key]] = c.header
                if sheet is not None:
                    self.done.append(f"tab {spec.key}: kolom '{c.header}' ditambahkan")
            elif c.key in hmap.renamed:
                fixes[columns[c.key]] = c.header
                self.done.append(f"tab {spec.key}: judul kolom '{c.header}' dipulihkan")
        needed = max(columns.values()) + 1
        if needed > col_count:
            self.add({"appendDimension": {"sheetId": sheet_id, "dimension": "COLUMNS", "length": needed - col_count}})
        for col, text in sorted(fixes.items()):
            self.add({"updateCells": {"start": {"sheetId": sheet_id, "rowIndex": 0, "columnIndex": col},
                                      "rows": [{"values": [{"userEnteredValue": {"stringValue": text}}]}],
                                      "fields": "userEnteredValue"}})
        return columns, max(needed, width)

    def _refresh_format(self, spec: TabSpec, sheet: ExistingSheet | None, sheet_id: int, columns: dict[str, int],
                        full_width: int, layout: str, layout_id: int | None, protected: list[dict],
                        conditional: list[dict]) -> None:
        """Formats, validation and protection again when the layout fingerprint changed."""
        fp = self.fingerprint(spec, columns, full_width)
        if fp == layout:
            return
        self._format(spec, sheet_id, columns, full_width, protected, conditional)
        if layout_id is not None:
            self.add({"deleteDeveloperMetadata": {"dataFilter": {"developerMetadataLookup": {"metadataId": layout_id}}}})
        self.add({"createDeveloperMetadata": {"developerMetadata": {
            "metadataKey": LAYOUT_KEY, "metadataValue": fp, "location": {"sheetId": sheet_id},
            "visibility": "DOCUMENT"}}})
        if sheet is not None:
            self.done.append(f"tab {spec.key}: format, validasi dan proteksi diperbarui")

    def _format(self, spec: TabSpec, sheet_id: int, columns: dict[str, int], width: int,
                protected: list[dict], conditional: list[dict]) -> None:
        add = self.add
        add({"updateSheetProperties": {"properties": {"sheetId": sheet_id, "gridProperties": {"frozenRowCount": 1}},
                                       "fields": "gridProperties.frozenRowCount"}})
        add({"repeatCell": {"range": _grid(sheet_id, 0, 1, 0, width), "cell": {"userEnteredFormat": {
            "textFormat": {"bold": True}, "backgroundColor": rgb(self.header_fill), "wrapStrategy": "WRAP"}},
            "fields": "userEnteredFormat(textFormat,backgroundColor,wrapStrategy)"}})
        for c in spec.columns:
            col = columns[c.key]
            add({"updateDimensionProperties": {
                "range": {"sheetId": sheet_id, "dimension": "COLUMNS", "startIndex": col, "endIndex": col + 1},
                "properties": {"pixelSize": c.width}, "fields": "pixelSize"}})
            number = ({"type": "DATE_TIME", "pattern": self.datetime_pattern} if c.type == "datetime"
                      else {"type": "TEXT"})
            add({"repeatCell": {"range": _grid(sheet_id, 1, None, col, col + 1),
                                "cell": {"userEnteredFormat": {"numberFormat": number}},
                                "fields": "userEnteredFormat.numberFormat"}})
            rule = validation_rule(self.schema, c) if spec.staff_editable else None
            if rule is not None:
                add({"setDataValidation": {"range": _grid(sheet_id, 1, None, col, col + 1), "rule": rule}})
        # Overdue rows: replace our rule (found by its formula), never pile up copies.
        ours = [i for i, rule in enumerate(conditional)
                if any(f'="{OVERDUE}"' in v.get("userEnteredValue", "")
                       for v in rule.get("booleanRule", {}).get("condition", {}).get("values", []))]
        for i in sorted(ours, reverse=True):
            add({"deleteConditionalFormatRule": {"sheetId": sheet_id, "index": i}})
        if "sla" in columns:
            letter = col_letter(columns["sla"])
            add({"addConditionalFormatRule": {"index": 0, "rule": {
                "ranges": [_grid(sheet_id, 1, None, 0, width)],
                "booleanRule": {"condition": {"type": "CUSTOM_FORMULA",
                                              "values": [{"userEnteredValue": f'=${letter}2="{OVERDUE}"'}]},
                                "format": {"backgroundColor": rgb(self.overdue_fill)}}}}})
        # Protection: staff edit only staff columns; the service account (and owners) edit all.
        for pr in protected:
            if str(pr.get("description", "")).startswith(PROTECTION_PREFIX):
                add({"deleteProtectedRange": {"protectedRangeId": pr["protectedRangeId"]}})
        editors = {"users": self.editors} if self.editors else {}

        def protect(grid: dict, what: str) -> None:
            pr: dict[str, Any] = {"range": grid, "description": f"{PROTECTION_PREFIX} {what}", "warningOnly": False}
            if editors:
                pr["editors"] = editors
            add({"addProtectedRange": {"protectedRange": pr}})

        if not spec.staff_editable:
            protect(_grid(sheet_id), "tab sistem")
            return
        protect(_grid(sheet_id, 0, 1, 0, width), "baris judul")
        system = sorted(columns[c.key] for c in spec.columns if not c.staff_editable)
        for start, end in column_runs(system):
            protect(_grid(sheet_id, 1, None, start, end + 1), f"kolom sistem {col_letter(start)}-{col_letter(end)}")


def validation_rule(schema: Schema, column: Column) -> dict | None:
    """The dropdown of a staff choice column (free text allowed, flagged by Sheets); None if none."""
    if column.key not in ("status", "forward_to"):
        return None
    return {"condition": {"type": "ONE_OF_LIST", "values": [{"userEnteredValue": v} for v in schema.choices(column.key)]},
            "inputMessage": f"Pilih {column.header} dari daftar (teks lain akan ditandai).",
            "strict": False, "showCustomUi": True}


def column_runs(cols: list[int]) -> list[tuple[int, int]]:
    """(first, last) of each run of consecutive column indexes (sorted input)."""
    runs: list[tuple[int, int]] = []
    for c in cols:
        if runs and c == runs[-1][1]:
            continue
        if runs and c == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], c)
        else:
            runs.append((c, c))
    return runs


def plan_bootstrap(schema: Schema, meta: dict, headers: dict[int, list[Any]], editors: Sequence[str] = (),
                   specs: list[TabSpec] | None = None) -> LayoutPlan:
    """Everything bootstrap must send, given metadata and the current header row of each sheet."""
    plan = LayoutPlan(schema, editors)
    sheets = parse_metadata(meta)
    taken = {s.title for s in sheets}
    next_id = max([s.sheet_id for s in sheets] + [1000]) + 1
    for index, spec in enumerate(specs or tab_specs(schema)):
        sheet = identify(sheets, spec.key, spec.title)
        if sheet is not None:
            taken.discard(sheet.title)
        start = len(plan.requests)
        plan.plan_tab(spec, sheet, headers.get(sheet.sheet_id, []) if sheet else [], next_id, index, taken)
        plan.groups.append(plan.requests[start:])
        if sheet is None:
            next_id += 1
        taken.add(spec.title)
    return plan


METADATA_FIELDS = ("sheets(properties(sheetId,title,index,hidden,gridProperties),developerMetadata,"
                   "protectedRanges,conditionalFormats)")
