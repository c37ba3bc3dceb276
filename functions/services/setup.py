"""Create or upgrade the workbook: OPD tabs (the store's bootstrap), the `Rute` and `Kontak OPD` tabs."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..stores.port import ContactBook, HasLayout, HoldsDirectory, ListsTabs, Workbook

if TYPE_CHECKING:
    from ..schema import Schema
    from .context import Services


def bootstrap_workbook(workbook: Workbook, contacts: ContactBook | None = None,
                       schema: "Schema | None" = None) -> list[str]:
    """Idempotent: returns what changed (nothing on a second run). The private contact store is
    set up too when it has a layout of its own (the contacts spreadsheet's `Kontak` tab)."""
    actions = list(workbook.bootstrap())
    if isinstance(contacts, HasLayout):
        actions += [f"kontak: {a}" for a in contacts.bootstrap()]
    from ..routing import load_rules, rules_to_rows

    rows = rules_to_rows(load_rules())
    if workbook.seed_rules(rows):
        actions.append(f"tab Rute diisi {len(rows)} aturan bawaan (sheets_schema/routing.toml)")
    if isinstance(workbook, HoldsDirectory):
        schema = schema or workbook.schema
        from ..directory import seed_rows

        rows = seed_rows(schema.opds)
        added = workbook.seed_directory(rows)
        if added == len(rows):
            actions.append(f"tab Kontak OPD diisi {len(rows)} OPD (sheets_schema/opds.toml); "
                           f"isi nama, email dan nomor WhatsApp kepala OPD")
        elif added:
            actions.append(f"tab Kontak OPD: {added} OPD baru ditambahkan; isi kontak kepalanya")
    return actions


def ensure_ready(svc: "Services") -> list[str]:
    """Jobs on a fresh local data dir work as after `bootstrap` (the local store is created on
    first use; a job must not lose what it read because a tab is missing). Google Sheets is
    bootstrapped by the operator once (deploy), never implicitly by a job."""
    wb = svc.workbook
    # (a test double's `tabs` data attribute is not the capability: it is not callable)
    if svc.settings.backend != "local" or not isinstance(wb, ListsTabs) or not callable(wb.tabs) or wb.tabs():
        return []
    return bootstrap_workbook(svc.workbook, svc.contacts, svc.schema)
