"""An in-memory Workbook (the port of functions/stores/port.py) that counts store requests.

Used by scripts/bench.py (the daily job without disk or network) and by tests that need the
optional store methods (`cell_usage`, `row_link`, `log_add_many`). Reads hand out copies, as a
real store does, so a job that forgets to write back is caught.
"""
from __future__ import annotations

import copy
import functools
import threading
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Sequence

from functions.case import case_from_row
from functions.schema import Schema
from functions.stores.port import (CellUpdate, Changes, CommitReport, LogEntry, Move, NewCase, Row, StoredCase,
                                  WriteReport, refuse_foreign_cells)


@dataclass
class MemoryWorkbook:
    schema: Schema
    tabs: dict[str, list[Row]] = field(default_factory=dict)
    log: dict[tuple[str, str], LogEntry] = field(default_factory=dict)
    requests: Counter = field(default_factory=Counter)
    usage: int | tuple[int, int] | None = None  # what cell_usage() answers; None = method absent
    sheet_id: str = "SHEET"
    with_links: bool = False
    routing_model: str | None = None  # what read_routing_model() answers
    _job_locks: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self):
        # The optional capabilities (stores/port.py ReportsCellUsage, LinksRows) exist only when
        # asked for, as on a real store: a class that has the method, not an attribute set to None.
        wanted = tuple(mixin for flag, mixin in ((self.usage is not None, _CellUsage), (self.with_links, _RowLinks))
                       if flag)
        if wanted:
            self.__class__ = _with_capabilities(wanted)

    # -- port ---------------------------------------------------------------------------
    def bootstrap(self) -> list[str]:
        self.requests["bootstrap"] += 1
        done = []
        for opd in self.schema.opds:
            if opd.key not in self.tabs:
                self.tabs[opd.key] = []
                done.append(f"tab {opd.key}")
        return done

    def _where(self, ticket: str) -> tuple[str, int] | None:
        for tab, rows in self.tabs.items():
            for i, row in enumerate(rows):
                if row.get("ticket_id") == ticket:
                    return tab, i
        return None

    def append(self, cases: Sequence[NewCase]) -> list[bool]:
        self.requests["append"] += 1
        out = []
        existing = {r.get("ticket_id") for rows in self.tabs.values() for r in rows}
        for case in cases:
            if case.row["ticket_id"] in existing:
                out.append(False)
                continue
            existing.add(case.row["ticket_id"])
            self.tabs[case.tab].append({k: case.row.get(k, "") for k in self.schema.column_keys})
            out.append(True)
        return out

    def find(self, ticket_id: str) -> StoredCase | None:
        self.requests["find"] += 1
        hit = self._where(ticket_id)
        return case_from_row(hit[0], copy.deepcopy(self.tabs[hit[0]][hit[1]])) if hit else None

    def read_all(self) -> dict[str, list[Row]]:
        self.requests["read_all"] += 1
        return {tab: [case_from_row(tab, dict(r)) for r in rows] for tab, rows in self.tabs.items()}

    def update(self, updates: Sequence[CellUpdate], *, staff: bool = False) -> WriteReport:
        return self._apply("update", Changes(updates=list(updates)), staff)

    def move(self, ticket_id: str, to_tab: str, values: Row) -> bool:
        return self._apply("move", Changes(moves=[Move(ticket_id, to_tab, values)])).moved[ticket_id]

    def delete(self, ticket_ids: Sequence[str]) -> int:
        return self._apply("delete", Changes(deletes=list(ticket_ids))).deleted

    def log_add(self, entry: LogEntry) -> bool:
        return self._apply("log_add", Changes(log=[entry])).logged == 1

    def _log(self, entry: LogEntry) -> bool:
        if (entry.kind, entry.key) in self.log:
            return False
        self.log[(entry.kind, entry.key)] = entry
        return True

    def log_add_many(self, entries: Sequence[LogEntry]) -> int:
        return self._apply("log_add_many", Changes(log=list(entries))).logged

    def commit(self, changes: Changes, *, staff: bool = False) -> CommitReport:
        """One request, as the real stores make one transaction / one batchUpdate of it."""
        return self._apply("commit", changes, staff)

    def _apply(self, counted_as: str, changes: Changes, staff: bool = False) -> CommitReport:
        self.requests[counted_as] += 1
        refuse_foreign_cells(changes, self.schema, staff=staff)
        for mv in changes.moves:
            if mv.to_tab not in self.tabs:
                raise ValueError(f"unknown tab {mv.to_tab!r}")
        report = CommitReport()
        index = {r["ticket_id"]: r for rows in self.tabs.values() for r in rows}
        for up in changes.updates:
            row = index.get(up.ticket_id)
            if row is None:
                report.missing.append(up.ticket_id)
                continue
            row.update(up.values)
            report.written += 1
        for mv in changes.moves:
            hit = self._where(mv.ticket_id)
            report.moved[mv.ticket_id] = hit is not None
            if hit and hit[0] != mv.to_tab:
                row = self.tabs[hit[0]].pop(hit[1])
                row.update(mv.values)
                self.tabs[mv.to_tab].append(row)
        gone = set(changes.deletes)
        if gone:
            count = sum(map(len, self.tabs.values()))
            for tab in self.tabs:
                self.tabs[tab] = [r for r in self.tabs[tab] if r.get("ticket_id") not in gone]
            report.deleted = count - sum(map(len, self.tabs.values()))
        for kind, cutoff in changes.log_expire.items():  # before the new entries, as the stores do
            for k in [k for k, e in self.log.items() if e.kind == kind and e.at < cutoff]:
                del self.log[k]
        report.logged = sum(self._log(e) for e in changes.log)
        return report

    def log_has(self, kind: str, key: str) -> bool:
        self.requests["log_has"] += 1
        return (kind, key) in self.log

    @contextmanager
    def job_lock(self, name: str):
        """The store's job lock (services/lease.py): this store lives in one process."""
        lock = self._job_locks.setdefault(name, threading.Lock())
        held = lock.acquire(blocking=False)
        try:
            yield held
        finally:
            if held:
                lock.release()

    def log_entries(self, kind: str | None = None) -> list[LogEntry]:
        self.requests["log_entries"] += 1
        return sorted((e for e in self.log.values() if kind is None or e.kind == kind), key=lambda e: e.at)

    # -- the Rute tab (port methods): none here, so the router uses the shipped rules -----------
    def read_rules(self) -> list[dict[str, str]]:
        return []

    def seed_rules(self, rows) -> bool:
        return False

    # -- the learned routing model ------------------------------------------------------
    def read_routing_model(self) -> str | None:
        self.requests["read_routing_model"] += 1
        return self.routing_model

    def write_routing_model(self, text: str) -> None:
        self.requests["write_routing_model"] += 1
        self.routing_model = text

    # -- staff by hand ------------------------------------------------------------------
    def staff(self, ticket_id: str, **values) -> None:
        self.update([CellUpdate(ticket_id, values)], staff=True)

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())


class _CellUsage:
    def cell_usage(self):
        self.requests["cell_usage"] += 1
        return self.usage


class _RowLinks:
    def row_link(self, tab: str, ticket_id: str) -> str | None:
        hit = self._where(ticket_id)
        if not hit or hit[0] != tab:
            return None
        gid = list(self.tabs).index(tab) + 1000
        return f"https://docs.google.com/spreadsheets/d/{self.sheet_id}/edit#gid={gid}&range=A{hit[1] + 2}"


@functools.cache
def _with_capabilities(mixins: tuple[type, ...]) -> type:
    return type("MemoryWorkbook", (*mixins, MemoryWorkbook), {"__module__": __name__})
