"""Cell values <-> Python, and the A1 arithmetic the adapter needs (pure, no I/O).

Dates are written as real date serial numbers (days since 1899-12-30, WIB wall time) with a
date-time number format; every string goes in as a literal string (never parsed as a formula).
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any, Iterable
from zoneinfo import ZoneInfo

from .layout import col_letter, quote_title

EPOCH = datetime(1899, 12, 30)
DEFAULT_TZ = ZoneInfo("Asia/Jakarta")
A1_RANGE = re.compile(r"!([A-Z]+)(\d+):([A-Z]+)(\d+)$")


def to_serial(value: datetime, tz: ZoneInfo = DEFAULT_TZ) -> float:
    """A datetime as a Sheets date serial in WIB wall time."""
    wall = value.astimezone(tz).replace(tzinfo=None) if value.tzinfo else value
    return (wall - EPOCH) / timedelta(days=1)


def from_serial(value: float, tz: ZoneInfo = DEFAULT_TZ) -> datetime:
    ms = round(float(value) * 86_400_000)
    return (EPOCH + timedelta(milliseconds=ms)).replace(tzinfo=tz)


def read_datetime(value: Any, tz: ZoneInfo) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return from_serial(value, tz)
    text = str(value).strip()
    for parse in (datetime.fromisoformat, lambda t: datetime.strptime(t, "%Y-%m-%d %H:%M"),
                  lambda t: datetime.strptime(t, "%d/%m/%Y %H:%M"), lambda t: datetime.strptime(t, "%d/%m/%Y")):
        try:
            dt = parse(text)
        except ValueError:
            continue
        return dt if dt.tzinfo else dt.replace(tzinfo=tz)
    return None


def read_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def cell_data(value: Any, is_datetime: bool, tz: ZoneInfo, pattern: str) -> dict:
    """CellData for appendCells/updateCells: literal strings, date serials; never a formula."""
    if is_datetime:
        fmt = {"numberFormat": {"type": "DATE_TIME", "pattern": pattern}}
        if isinstance(value, datetime):
            return {"userEnteredValue": {"numberValue": to_serial(value, tz)}, "userEnteredFormat": fmt}
        return {"userEnteredFormat": fmt}
    text = "" if value is None else (value.isoformat() if isinstance(value, datetime) else str(value))
    out: dict[str, Any] = {"userEnteredFormat": {"numberFormat": {"type": "TEXT"}}}
    if text:
        out["userEnteredValue"] = {"stringValue": text}
    return out


CELL_FIELDS = "userEnteredValue,userEnteredFormat.numberFormat"

ROW_FIELDS = CELL_FIELDS + ",dataValidation"


def raw_value(value: Any, tz: ZoneInfo) -> Any:
    """A value for `valueInputOption=RAW`: dates as serials (the column is date-formatted), text as is."""
    if isinstance(value, datetime):
        return to_serial(value, tz)
    return "" if value is None else str(value)


def grid_rows(a1: str) -> int:
    """Last row of a whole-sheet range as the API reports it (`'PUTR'!A1:U200` -> 200); 0 if none."""
    m = A1_RANGE.search(a1)
    return int(m.group(4)) if m else 0


def grid_size(a1: str) -> tuple[int, int]:
    """(rows, columns) of a whole-sheet range as the API reports it (`'X'!A1:C50` -> (50, 3))."""
    m = A1_RANGE.search(a1)
    if not m:
        return (0, 0)
    col = 0
    for ch in m.group(3):
        col = col * 26 + ord(ch) - 64
    return int(m.group(4)), col


def grid_cells(a1: str) -> int:
    """Cells of a whole-sheet range as the API reports it (`'PUTR'!A1:U1000` -> 21,000)."""
    m = A1_RANGE.search(a1)
    if not m:
        return 0
    c0, r0, c1, r1 = m.groups()
    col = lambda letters: sum((ord(ch) - 64) * 26 ** i for i, ch in enumerate(reversed(letters)))  # noqa: E731
    return (int(r1) - int(r0) + 1) * (col(c1) - col(c0) + 1)


def appended_where_expected(reply: dict, rows: int, width: int) -> bool:
    """values.append reported whole new rows under the header, from column A over `width` columns."""
    updated = reply.get("updates", {}).get("updatedRange", "")
    cells = updated.rsplit("!", 1)[-1]
    if ":" not in cells:
        cells = f"{cells}:{cells}"
    a, b = cells.split(":", 1)
    la, da = a.rstrip("0123456789"), a[len(a.rstrip("0123456789")):]
    lb, db = b.rstrip("0123456789"), b[len(b.rstrip("0123456789")):]
    if not (da and db):
        return False
    return (la == "A" and lb == col_letter(width - 1) and int(da) >= 2
            and int(db) - int(da) + 1 == rows)


def contiguous_cells(cells: dict[int, dict]) -> Iterable[tuple[int, list[dict]]]:
    run_start, run = None, []
    for col in sorted(cells):
        if run and col == run_start + len(run):
            run.append(cells[col])
        else:
            if run:
                yield run_start, run
            run_start, run = col, [cells[col]]
    if run:
        yield run_start, run


def grid_values(sheet: dict) -> dict:
    """A Sheet resource with GridData (a batchUpdate reply's `updatedSpreadsheet`) as the value
    range a whole-sheet `values.batchGet` returns: raw values (dates as serials), and the grid."""
    rows: list[list[Any]] = []
    for data in sheet.get("data", []):
        for row in data.get("rowData", []):
            cells = [next(iter(c.get("effectiveValue", {"stringValue": ""}).values())) for c in row.get("values", [])]
            while cells and cells[-1] == "":
                cells.pop()
            rows.append(cells)
    grid = sheet.get("properties", {}).get("gridProperties", {})
    title = sheet.get("properties", {}).get("title", "")
    last = col_letter(max(grid.get("columnCount", 1), 1) - 1)
    return {"range": f"{quote_title(title)}!A1:{last}{grid.get('rowCount', 0)}", "values": rows}
