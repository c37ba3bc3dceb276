"""Writing many workbook `Log` entries at once (the kinds, keys and retention: journal.py).

A store may offer the optional `log_add_many(entries) -> int` (one request for many entries, as
the Google store does with one append); without it each entry is one `log_add`.
"""
from __future__ import annotations

from typing import Sequence

from ..stores.port import LogEntry, Workbook


def add_many(workbook: Workbook, entries: Sequence[LogEntry]) -> int:
    """Record entries (each (kind, key) once); returns how many were new."""
    if not entries:
        return 0
    batch = getattr(workbook, "log_add_many", None)
    if callable(batch):
        return int(batch(list(entries)))
    return sum(1 for entry in entries if workbook.log_add(entry))
