"""The workbook as an .xlsx file (openpyxl is imported here only, never on the intake path)."""
from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from ..case import case_to_row
from ..schema import Schema
from ..text import thousands
from ..stores.port import Workbook

FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


XLSX_CELL_MAX = 32_767  # Excel's limit per cell (a longer text is cut by Excel with a repair warning)


def cell_value(value: str) -> str:
    """What an .xlsx cell may hold: XML 1.0 has no room for most control characters (openpyxl
    raises IllegalCharacterError on them, so the export wrote no file); staff can type anything
    into a sheet cell, so they are removed here whatever intake did. A text over Excel's cell
    limit is cut visibly, as the sheet does (the whole text stays in the private store)."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    value = ILLEGAL_CHARACTERS_RE.sub("", value)
    if len(value) > XLSX_CELL_MAX:
        cut = re.search(r"…\[dipotong, ([\d.]+) karakter\]$", value)  # already cut for the sheet
        total = cut.group(1) if cut else thousands(len(value))
        value = value[:XLSX_CELL_MAX - 60].rstrip() + f"…[dipotong, {total} karakter]"
    return value


def export_xlsx(workbook: Workbook, schema: Schema, path: Path) -> dict[str, int]:
    from openpyxl import Workbook as XlsxBook
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    book = XlsxBook()
    book.remove(book.active)
    counts: dict[str, int] = {}
    titles = {o.key: o.title for o in schema.opds}
    header_fill = PatternFill("solid", fgColor=schema.values["formats"]["header_fill"].lstrip("#"))
    for key, rows in workbook.read_all().items():
        sheet = book.create_sheet(title=_sheet_title(titles.get(key, key)))
        sheet.append([c.header for c in schema.columns])
        for cell in sheet[1]:
            cell.font = Font(bold=True)
            cell.fill = header_fill
        for case in rows:
            cells = case_to_row(case)  # every column as stored, through the one codec
            values = []
            for column in schema.columns:
                v = cells.get(column.key)
                if isinstance(v, datetime):
                    values.append(v.replace(tzinfo=None))
                else:
                    values.append(cell_value("" if v is None else str(v)))
            sheet.append(values)
            for cell in sheet[sheet.max_row]:
                if isinstance(cell.value, str):
                    cell.data_type = "s"  # never a formula, whatever the text
                    if cell.value.startswith(FORMULA_LEADS):
                        # Excel's own "this is text" mark: shown and copied as typed (`+62…`,
                        # no visible apostrophe), and not turned into a formula when edited
                        cell.quotePrefix = True
                elif isinstance(cell.value, datetime):
                    cell.number_format = "yyyy-mm-dd hh:mm"
        for i, column in enumerate(schema.columns, start=1):
            sheet.column_dimensions[get_column_letter(i)].width = max(10, column.width // 7)
        sheet.freeze_panes = "A2"
        counts[key] = len(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return counts


def _sheet_title(title: str) -> str:
    for ch in "[]:*?/\\":
        title = title.replace(ch, " ")
    return title[:31]
