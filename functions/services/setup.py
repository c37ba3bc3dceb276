"""Create or upgrade the workbook: OPD tabs (the store's bootstrap) and the `Rute` tab."""
from __future__ import annotations

from ..stores.port import Workbook


def bootstrap_workbook(workbook: Workbook) -> list[str]:
    """Idempotent: returns what changed (nothing on a second run)."""
    actions = list(workbook.bootstrap())
    if hasattr(workbook, "seed_rules"):
        from ..routing import load_rules, rules_to_rows

        rows = rules_to_rows(load_rules())
        if workbook.seed_rules(rows):
            actions.append(f"tab Rute diisi {len(rows)} aturan bawaan (sheets_schema/routing.toml)")
    return actions
