"""`opd list` / `opd set`: the Kontak OPD directory on the local store (in production KMC admins
edit the tab in the spreadsheet; the same validation applies to both, functions/directory.py)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..directory import (DIRECTORY_KEYS, Directory, InvalidContact, apply_assignments, parse_directory,
                         parse_row, seed_rows)
from ..stores.port import EditsDirectory, HoldsDirectory

if TYPE_CHECKING:
    from .context import Services


def directory_rows(svc: "Services") -> list[dict[str, str]]:
    """The rows as stored (seeded from opds.toml first on a store that has none yet)."""
    from .setup import ensure_ready

    ensure_ready(svc)
    wb = svc.workbook
    rows = wb.read_directory() if isinstance(wb, HoldsDirectory) else None
    if rows is None:
        rows = seed_rows(svc.schema.opds)
        if isinstance(wb, HoldsDirectory):
            wb.seed_directory(rows)
    return rows


def list_directory(svc: "Services") -> tuple[list[dict[str, str]], Directory]:
    rows = directory_rows(svc)
    return rows, parse_directory(rows, {o.key: o.name for o in svc.schema.opds})


def set_contact(svc: "Services", key: str, assignments: list[str]) -> dict[str, str]:
    """Validate and write one OPD's row; InvalidContact (Indonesian) when anything is wrong,
    and then nothing is written."""
    wb = svc.workbook
    if not isinstance(wb, EditsDirectory):
        raise InvalidContact("di produksi kontak OPD diubah langsung di tab Kontak OPD pada "
                             "spreadsheet (hanya admin KMC yang bisa mengeditnya)")
    key = key.strip().upper()
    known = {o.key: o.name for o in svc.schema.opds}
    if key not in known:
        raise InvalidContact(f"kode OPD '{key}' tidak dikenal; lihat `python main.py opd list`")
    rows = directory_rows(svc)
    current = next((r for r in rows if str(r.get("opd", "")).strip().upper() == key),
                   {"opd": key, "opd_name": known[key]})
    row = apply_assignments(current, assignments)
    row["opd"] = key
    parse_row(row, known)  # the whole row must be usable (copies too), else nothing is written
    wb.write_directory_row({k: row.get(k, "") for k in DIRECTORY_KEYS})
    return row
