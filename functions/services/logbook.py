"""The workbook `Log` as the scheduled jobs use it: what was sent, what went wrong.

Kinds: `digest` (key = report date, or `DATE:OPD` for an OPD head's overdue list), `reminder`
(key = `OPD:TICKET`: a case is announced to one OPD head once), `problem` (what the sweep could
not understand; the next digest lists the problems recorded since the previous one).

A store may offer the optional `log_add_many(entries) -> int` (one request for many entries, as
the Google store does with one append); without it each entry is one `log_add`.
"""
from __future__ import annotations

from typing import Sequence

from ..stores.port import LogEntry, Workbook

DIGEST = "digest"
REMINDER = "reminder"
PROBLEM = "problem"


def add_many(workbook: Workbook, entries: Sequence[LogEntry]) -> int:
    """Record entries (each (kind, key) once); returns how many were new."""
    if not entries:
        return 0
    batch = getattr(workbook, "log_add_many", None)
    if callable(batch):
        return int(batch(list(entries)))
    return sum(1 for entry in entries if workbook.log_add(entry))
