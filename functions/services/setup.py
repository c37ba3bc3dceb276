"""Create or upgrade the workbook: OPD tabs (the store's bootstrap) and the `Rute` tab."""
from __future__ import annotations

from ..stores.port import Workbook


def bootstrap_workbook(workbook: Workbook, contacts=None) -> list[str]:
    """Idempotent: returns what changed (nothing on a second run). The private contact store is
    set up too when it has a layout of its own (the contacts spreadsheet's `Kontak` tab)."""
    actions = list(workbook.bootstrap())
    if contacts is not None and hasattr(contacts, "bootstrap"):
        actions += [f"kontak: {a}" for a in contacts.bootstrap()]
    if hasattr(workbook, "seed_rules"):
        from ..routing import load_rules, rules_to_rows

        rows = rules_to_rows(load_rules())
        if workbook.seed_rules(rows):
            actions.append(f"tab Rute diisi {len(rows)} aturan bawaan (sheets_schema/routing.toml)")
    return actions
