"""Where did a positional write land? Compare the sheet after a commit with what was meant.

The Sheets API addresses rows by position and has no conditional write. A commit computes
positions from a read; if staff sort, insert or delete rows before the write arrives, cells land
in another case's row and a `deleteDimension` removes another case. This module is the pure half
of the answer: given the rows before (`before`), the rows read back after the write (`after`),
and what the commit meant (`Intent`), it plans the repair — rewrite what is missing, put back
cells written into the wrong row, delete what should be gone, re-add a row deleted by mistake.
The adapter applies the plan and reads again until nothing is left to repair.

Only cells this commit wrote are ever put back: a value that differs from `before` but is not
one the commit wrote was changed by someone else (staff, another job) and is left alone.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable

from ..port import Row


def norm(value: Any) -> Any:
    """A comparable form of a cell: datetimes to the millisecond, blanks as '', text stripped.

    Milliseconds, because that is what the sheet keeps (a date serial read back to the ms) and
    what the adapter's intent holds (`GoogleWorkbook._as_stored`). Coarser would make two
    different stamps one value: 09:00:00.000 and 09:00:00.500 both rounded (half to even) to
    09:00:00, so a check could not tell two cases' stamps apart when a staff sort swapped the
    rows they landed in, and left them swapped."""
    if isinstance(value, datetime):
        return round(value.timestamp() * 1000)
    if value is None:
        return ""
    return str(value).strip()


@dataclass(frozen=True)
class Place:
    tab: str
    row: int  # 0-based row index in the sheet


@dataclass
class Snapshot:
    """Rows of the tabs in `tabs`, by ticket: every place a ticket was seen (first = the one used)."""

    tabs: set[str] = field(default_factory=set)
    rows: dict[str, list[tuple[Place, Row]]] = field(default_factory=dict)
    orphans: list[tuple[Place, Row]] = field(default_factory=list)  # rows with data but no ticket

    def add(self, tab: str, row_index: int, row: Row) -> None:
        self.rows.setdefault(str(row["ticket_id"]), []).append((Place(tab, row_index), row))

    def first(self, ticket: str) -> tuple[Place, Row] | None:
        hits = self.rows.get(ticket)
        return hits[0] if hits else None

    def places(self, ticket: str) -> list[Place]:
        return [p for p, _ in self.rows.get(ticket, [])]

    def in_tab(self, tab: str) -> Iterable[tuple[str, Place, Row]]:
        for ticket, hits in self.rows.items():
            for place, row in hits:
                if place.tab == tab:
                    yield ticket, place, row


@dataclass
class Intent:
    """What one commit means, by ticket (never by position)."""

    updates: dict[str, Row] = field(default_factory=dict)  # ticket -> cells
    moves: dict[str, tuple[str, Row]] = field(default_factory=dict)  # ticket -> (to tab, cells)
    deletes: set[str] = field(default_factory=set)
    written: dict[tuple[str, str], set] = field(default_factory=dict)  # (tab, column) -> norm values
    shrunk: set[str] = field(default_factory=set)  # tabs where rows were deleted
    # Whole rows of the tabs that lose rows, as read right before the deletes were sent: a row a
    # delete removes by mistake comes back from here (a case that arrived after the job's read too).
    fresh: dict[str, tuple[Place, Row]] = field(default_factory=dict)

    def wrote(self, tab: str, values: Row) -> None:
        for key, value in values.items():
            self.written.setdefault((tab, key), set()).add(norm(value))


@dataclass
class Plan:
    cells: dict[Place, Row] = field(default_factory=dict)
    deletes: set[Place] = field(default_factory=set)
    appends: list[tuple[str, Row]] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)  # tickets whose row the write had removed
    put_back: list[str] = field(default_factory=list)  # tickets whose cells the write had overwritten
    missing: list[str] = field(default_factory=list)  # meant to update, not found anywhere
    moved: dict[str, bool] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.cells or self.deletes or self.appends)

    def set_cells(self, place: Place, values: Row) -> None:
        self.cells[place] = {**self.cells.get(place, {}), **values}


def plan_repair(before: Snapshot, after: Snapshot, intent: Intent) -> Plan:
    """What to write so that `after` becomes what `intent` meant, touching only its own damage."""
    plan = Plan()
    _rewrite_missing_cells(plan, before, after, intent)
    _finish_moves(plan, before, after, intent)
    for ticket in intent.deletes:
        plan.deletes.update(after.places(ticket))
    _put_back_displaced_cells(plan, before, after, intent)
    _restore_deleted_rows(plan, before, after, intent)
    return plan


def _rewrite_missing_cells(plan: Plan, before: Snapshot, after: Snapshot, intent: Intent) -> None:
    for ticket, values in intent.updates.items():
        hit = after.first(ticket)
        if hit is None:
            if not (before.first(ticket) and before.first(ticket)[0].tab in intent.shrunk):
                plan.missing.append(ticket)
            continue  # a row the write removed by mistake comes back below, with these cells
        place, row = hit
        differ = {k: v for k, v in values.items() if norm(row.get(k)) != norm(v)}
        if differ:
            plan.set_cells(place, differ)


def _finish_moves(plan: Plan, before: Snapshot, after: Snapshot, intent: Intent) -> None:
    """Each forwarded case once in its new tab, nowhere else."""
    for ticket, (to_tab, values) in intent.moves.items():
        if to_tab not in after.tabs:
            continue  # its tab was not read: the move was done before this commit (nothing written there)
        places = after.places(ticket)
        there = [p for p in places if p.tab == to_tab]
        if not there:
            seen = before.first(ticket)
            if seen is None:
                plan.moved[ticket] = False
                continue
            plan.appends.append((to_tab, {**seen[1], **values}))
        plan.deletes.update(there[1:])
        plan.deletes.update(p for p in places if p.tab != to_tab)
        plan.moved[ticket] = True


def _put_back_displaced_cells(plan: Plan, before: Snapshot, after: Snapshot, intent: Intent) -> None:
    """Cells of this commit that landed in another case's row go back to what that row held."""
    columns_of: dict[str, list[str]] = {}
    for tab, key in intent.written:
        columns_of.setdefault(tab, []).append(key)
    for tab, keys in columns_of.items():
        if tab not in after.tabs:
            continue
        for ticket, place, row in after.in_tab(tab):
            seen = before.first(ticket)
            if seen is None or ticket in intent.deletes:
                continue
            base = seen[1]
            if ticket in intent.moves:  # its row in the new tab is what was read plus the move's cells
                to_tab, moved = intent.moves[ticket]
                if place.tab != to_tab:
                    continue  # a leftover row, deleted above
                base = {**base, **moved}
            meant = intent.updates.get(ticket, {})
            expected = {**base, **meant}
            back = {k: expected.get(k) for k in keys
                    if k not in meant and norm(row.get(k)) != norm(expected.get(k))
                    and norm(row.get(k)) in intent.written[(tab, k)]}
            if back:
                plan.set_cells(place, back)
                plan.put_back.append(ticket)
        # A row without a ticket (a blank row staff inserted, which the write then hit) holds
        # nothing of ours: what this commit wrote there is cleared.
        for place, row in after.orphans:
            if place.tab == tab:
                stray = {k: None for k in keys if norm(row.get(k)) != "" and norm(row.get(k)) in intent.written[(tab, k)]}
                if stray:
                    plan.set_cells(place, stray)


def _restore_deleted_rows(plan: Plan, before: Snapshot, after: Snapshot, intent: Intent) -> None:
    """A row deleted by mistake (its place was taken by another case when the delete arrived)
    comes back whole: as read right before the deletes, with this commit's own cells as meant."""
    gone = set(intent.moves) | intent.deletes
    candidates = {t: hits[0] for t, hits in before.rows.items() if hits[0][0].tab in intent.shrunk}
    candidates.update({t: hit for t, hit in intent.fresh.items() if hit[0].tab in intent.shrunk})
    for ticket, (place, row) in candidates.items():
        if ticket in gone or after.rows.get(ticket):
            continue
        seen = before.first(ticket)
        ours = {k: v for (tab, k) in intent.written if tab == place.tab
                for v in [{**(seen[1] if seen else row), **intent.updates.get(ticket, {})}.get(k)]}
        plan.appends.append((place.tab, {**row, **ours, **intent.updates.get(ticket, {})}))
        plan.restored.append(ticket)
