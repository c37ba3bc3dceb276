"""A stored complaint as the services see it: a frozen `Case` with typed cells and the business
rules as methods, and the ONE codec between a store's row and a case. Pure core: no I/O.

A store hands over a *row* (column key -> cell: text as `str`, datetimes aware or `None`, see
`stores/port.py`); `case_from_row` reads it once, here, into a `Case`, and every service asks
the case (`overdue_at`, `due_within`, `verdict`, `withdrawn` ...) instead of re-deriving the
rules from cells. `Case` is also a read-only mapping of its cells (`case["sla"]`) so tools,
tests and the adapters that print or compare rows keep working; services use the attributes.

Withdrawal: when the citizen sends `BATAL`, the system writes `WITHDRAWN_MARK` into the note
(with `add_note`, like every system note) and records a `batal` Log entry. The codec decodes
the mark once into `Case.withdrawn`; workbooks written before this module read the same way.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Iterator

from .model import Sla, Status

WITHDRAWN_MARK = "Dibatalkan oleh pelapor"  # in the note when the citizen sent BATAL
NOTE_MAX = 600  # characters kept in the note cell; older notes are dropped first
# one move in the `forward_history` cell, as the sweep writes it: `2026-11-27 10:15 PUTR → DINKES`
FORWARD_ENTRY = re.compile(r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}) (\S+) → (\S+)")
KNOWN_STATUSES = frozenset(str(s).lower() for s in Status)
CLOSED_STATUSES = frozenset({str(Status.DONE), str(Status.NOT_OURS)})

DeadlineRule = Callable[[datetime, float], datetime]


def add_note(existing: Any, message: str) -> str:
    """THE way to add to a note cell: once, separated by " | ", the newest text kept within
    NOTE_MAX (the oldest is dropped first, marked with "…")."""
    existing = str(existing or "").strip()
    message = message.strip()
    if not message or message in existing:
        return existing
    text = f"{existing} | {message}" if existing else message
    return text if len(text) <= NOTE_MAX else "…" + text[-(NOTE_MAX - 1):]


def _dt(value: Any) -> datetime | None:
    return value if isinstance(value, datetime) and value.tzinfo is not None else None


def _text(value: Any) -> str:
    return "" if value is None else str(value)


@dataclass(frozen=True, eq=False)
class Case(Mapping):
    """One stored complaint in the tab (`tab`, an OPD key) where it lives now."""

    tab: str
    ticket_id: str
    received_at: datetime | None = None
    channel: str = ""
    reporter: str = ""
    contact: str = ""
    text: str = ""
    location: str = ""
    link: str = ""
    category: str = ""
    sentiment: str = ""
    status: str = ""  # as staff typed it (dropdown value or free text such as `Beres`)
    response: str = ""
    responder: str = ""
    forward_to: str = ""
    deadline: datetime | None = None
    responded_at: datetime | None = None
    sla: str = ""
    reply_sent_at: datetime | None = None
    note: str = ""
    forwarded_at: datetime | None = None
    forward_history: str = ""
    withdrawn: bool = False  # the citizen withdrew it (BATAL): owed no answer, never overdue
    cells: Mapping[str, Any] = field(default_factory=dict, repr=False)  # the row as read

    # -- the read-only mapping view of the cells (tools, tests, adapters) ------------------------
    def __getitem__(self, key: str) -> Any:
        return self.cells[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.cells)

    def __len__(self) -> int:
        return len(self.cells)

    @property
    def row(self) -> dict[str, Any]:
        """A copy of the cells (for the adapters and channels that show a row)."""
        return dict(self.cells)

    # -- status ---------------------------------------------------------------------------------
    @property
    def status_text(self) -> str:
        """The Status as typed, whitespace collapsed."""
        return " ".join(self.status.split())

    @property
    def free_text_status(self) -> bool:
        """Staff typed a Status outside the dropdown (`Beres`): reported, counted as open."""
        return bool(self.status_text) and self.status_text.lower() not in KNOWN_STATUSES

    @property
    def closed(self) -> bool:
        """`Selesai` or `Bukan Wewenang` exactly (free text never closes a case)."""
        return self.status_text in CLOSED_STATUSES

    # -- answers and the SLA clock ----------------------------------------------------------------
    @property
    def answered(self) -> bool:
        """A response is in the cell, or one was stamped (an erased answer still counts)."""
        return bool(self.response.strip()) or self.responded_at is not None

    @property
    def owes_answer(self) -> bool:
        return not self.answered and not self.withdrawn

    @property
    def reply_sent(self) -> bool:
        """The answer reached the citizen (any value in the cell counts: never send twice)."""
        return self.reply_sent_at is not None or bool(_text(self.cells.get("reply_sent_at")).strip())

    @property
    def forwarded(self) -> bool:
        return bool(self.forward_history.strip())

    def forward_moves(self) -> list[tuple[str, str, str]]:
        """[(time 'YYYY-MM-DD HH:MM', from, to)] of every move, oldest first."""
        return FORWARD_ENTRY.findall(self.forward_history)

    def due_at(self, sla_hours: float, rule: DeadlineRule) -> datetime | None:
        """The written deadline, or (cell empty or unreadable) the one computed from the last
        arrival (forwarding restarts the clock)."""
        if self.deadline is not None:
            return self.deadline
        start = self.forwarded_at or self.received_at
        return rule(start, sla_hours) if start is not None else None

    def overdue_at(self, now: datetime, due: datetime | None = None) -> bool:
        """Owed an answer and past its deadline (or already marked `Terlambat`)."""
        due = self.deadline if due is None else due
        return self.owes_answer and (self.sla == Sla.OVERDUE or (due is not None and now > due))

    def due_within(self, now: datetime, hours: float) -> bool:
        """Owed an answer, not yet late, not being forwarded, deadline in (now, now + hours]."""
        if not self.owes_answer or self.deadline is None or self.sla == Sla.OVERDUE:
            return False
        if self.forward_to.strip():
            return False
        return now < self.deadline <= now + timedelta(hours=hours)

    def verdict(self, now: datetime, due: datetime, responded_at: datetime | None = None) -> Sla:
        """The SLA state: an answer at or before the deadline is on time; a case marked
        `Terlambat` stays late after a late answer; an unanswered case keeps what the daily
        marked (the daily marks `Terlambat`, the sweep never does)."""
        responded = responded_at or self.responded_at
        if responded is not None:
            return Sla.ON_TIME if responded <= due else Sla.LATE
        return Sla(self.sla) if self.sla in set(Sla) else Sla.RUNNING

    def answered_late(self) -> bool:
        """Answered after the deadline (or judged so)."""
        if self.responded_at is None:
            return False
        return self.sla == Sla.LATE or (self.deadline is not None and self.responded_at > self.deadline)

    def age_hours(self, now: datetime) -> int:
        received = self.received_at or now
        return max(0, int((now - received).total_seconds() // 3600))

    def with_cells(self, values: Mapping[str, Any]) -> Case:
        """The case after `values` were written into its cells."""
        return case_from_row(self.tab, {**self.cells, **values})

    def moved_to(self, tab: str, values: Mapping[str, Any]) -> Case:
        return case_from_row(tab, {**self.cells, **values})


# -- the codec ------------------------------------------------------------------------------------

_TEXT = ("channel", "reporter", "contact", "text", "location", "link", "category", "sentiment",
         "status", "response", "responder", "forward_to", "sla", "note", "forward_history")
_TIMES = ("received_at", "deadline", "responded_at", "reply_sent_at", "forwarded_at")


def case_from_row(tab: str, row: Mapping[str, Any]) -> Case:
    """Read a store's row once into a Case (the only place cells are interpreted)."""
    if isinstance(row, Case):
        return row if row.tab == tab else case_from_row(tab, row.cells)
    cells = dict(row)  # a private copy; a Case never changes
    note = _text(row.get("note"))
    return Case(
        tab=tab,
        ticket_id=_text(row.get("ticket_id")).strip(),
        **{k: _text(row.get(k)) for k in _TEXT},
        **{k: _dt(row.get(k)) for k in _TIMES},
        withdrawn=WITHDRAWN_MARK in note,
        cells=cells,
    )


def case_to_row(case: Case) -> dict[str, Any]:
    """The cells of a case (what a store writes back)."""
    return dict(case.cells)


def as_cases(tabs: Mapping[str, list]) -> Mapping[str, list[Case]]:
    """Every row of `tabs` as a Case, in place (the lists stay the same objects, so the steps of
    one job share what earlier steps wrote). Cases pass through unchanged."""
    for tab, rows in tabs.items():
        for i, row in enumerate(rows):
            if not isinstance(row, Case) or row.tab != tab:
                rows[i] = case_from_row(tab, row)
    return tabs


def all_cases(tabs: Mapping[str, list]) -> Iterator[Case]:
    """Every case with a ticket number, tab by tab in sheet order."""
    for rows in as_cases(tabs).values():
        yield from (c for c in rows if c.ticket_id)
