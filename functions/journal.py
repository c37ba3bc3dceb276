"""The workbook `Log`'s entry: what a job or a door recorded once, by (kind, key).

Issue 17 part B makes this module the one owner of the Log's kinds (key types, retention).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class LogEntry:
    kind: str  # "digest", "reminder", "problem", ...
    key: str  # idempotency key, e.g. "2026-11-27" or a ticket id
    at: datetime
    detail: str = ""
