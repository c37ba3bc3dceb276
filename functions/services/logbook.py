"""Writing many workbook `Log` entries at once (the kinds, keys and retention: journal.py).

A store with the `LogsInBatches` capability writes them in one request (the Google store's one
append); without it each entry is one `log_add`.
"""
from __future__ import annotations

from typing import Sequence

from ..stores.port import LogEntry, LogsInBatches, Workbook


def add_many(workbook: Workbook, entries: Sequence[LogEntry]) -> int:
    """Record entries (each (kind, key) once); returns how many were new."""
    if not entries:
        return 0
    if isinstance(workbook, LogsInBatches):
        return int(workbook.log_add_many(list(entries)))
    return sum(1 for entry in entries if workbook.log_add(entry))
