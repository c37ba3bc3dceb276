"""The sweep (every 15 minutes): notice staff responses, stamp them, judge the SLA, move
forwarded cases.

One read of every tab, then ONE commit of everything the sweep writes: stamps, forwards, the
reminders' and replies' Log entries and `reply_sent_at` (see `Workbook.commit`). Rows are
located by ticket, never by a remembered position; the store checks where its write landed. What the sweep cannot understand (an unknown OPD key in
`Teruskan ke`, an erased answer) is written in the row's `note` and recorded in the Log (kind
`problem`) so the next daily digest reports it — once, not every 15 minutes.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Mapping

from .. import sla
from ..digest.data import FORWARD_ENTRY
from ..model import TRIAGE, Sla, Status
from ..stores.port import Changes, CommitReport, LogEntry, Move, Row, Workbook
from ..text import excerpt
from ..timefmt import list_wib, short_wib
from .logbook import PROBLEM, add_many

ERASED_NOTE = "Tanggapan dihapus petugas; waktu tanggapan pertama tetap dicatat."
NOTE_MAX = 600  # characters kept in the note cell; older notes are dropped first


@dataclass(frozen=True)
class Forward:
    ticket_id: str
    from_tab: str
    to_tab: str
    at: datetime


@dataclass
class SweepReport:
    responded: list[str] = field(default_factory=list)  # tickets whose first response was found now
    erased: list[str] = field(default_factory=list)  # response cleared after it was stamped
    forwarded: list[Forward] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    writes: int = 0
    reminded: dict[str, list[str]] = field(default_factory=dict)  # OPD key -> tickets in its reminder
    reminded_how: str = ""  # how the reminders went (email / WhatsApp / fallback), notify.channels_summary
    replies: Any = None  # ReplyReport of the answers sent to citizens after the sweep
    busy: bool = False  # another sweep was running: this one did nothing (services/lease.py)
    dry_run: bool = False

    def summary(self) -> str:
        if self.busy:
            return "sweep: sweep lain sedang berjalan; yang ini tidak melakukan apa pun"
        text = ("sweep (uji coba, tidak ada yang ditulis atau dikirim): " if self.dry_run else "") + (
            f"sweep: {len(self.responded)} tanggapan baru, {len(self.erased)} tanggapan dihapus, "
            f"{len(self.forwarded)} diteruskan, {len(self.problems)} masalah, {self.writes} baris diperbarui"
        )
        if self.reminded:
            text += f", pengingat ke {len(self.reminded)} OPD ({sum(map(len, self.reminded.values()))} aduan)"
            text += f" [{self.reminded_how}]" if self.reminded_how else ""
        if self.replies is not None:
            text += f"; {self.replies.summary()}"
        return text


# -- small helpers shared with the daily job and the digest ---------------------------------------

def _digest_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def add_note(existing: str, message: str) -> str:
    """Append `message` to a note cell (once), keeping the newest text within NOTE_MAX."""
    existing = str(existing or "").strip()
    if message in existing:
        return existing
    text = f"{existing} | {message}" if existing else message
    return text if len(text) <= NOTE_MAX else "…" + text[-(NOTE_MAX - 1):]


def case_deadline(row: Row, sla_hours: float, deadline: sla.Deadline = sla.deadline) -> datetime | None:
    """The row's written deadline, or (when the cell is empty or unreadable) the computed one."""
    if isinstance(row.get("deadline"), datetime):
        return row["deadline"]
    start = row.get("forwarded_at") if isinstance(row.get("forwarded_at"), datetime) else row.get("received_at")
    if isinstance(start, datetime):
        return deadline(start, sla_hours)
    return None


def forward_history(row: Row) -> list[tuple[str, str, str]]:
    """[(time 'YYYY-MM-DD HH:MM', from, to)] parsed from the `forward_history` cell."""
    return FORWARD_ENTRY.findall(str(row.get("forward_history") or ""))


def resolve_opd(value: str, titles: Mapping[str, str]) -> str | None:
    """An OPD key from what staff typed: the key (any case, spaces ignored) or the tab title."""
    typed = re.sub(r"\s+", "", str(value or "")).upper()
    if not typed:
        return None
    for key, title in titles.items():
        if typed == key.upper() or typed == re.sub(r"\s+", "", title).upper():
            return key
    if typed in {"KMC", "TRIASEKMC"} and TRIAGE in titles:
        return TRIAGE
    return None


# -- judging one row --------------------------------------------------------------------------------

def judge_row(row: Row, now: datetime, sla_hours: float,
              deadline: sla.Deadline = sla.deadline) -> tuple[dict, str | None]:
    """The system cells that should change for one row, and what happened (or None)."""
    response = str(row.get("response") or "").strip()
    responded_at = row.get("responded_at") if isinstance(row.get("responded_at"), datetime) else None
    due = case_deadline(row, sla_hours, deadline)
    if due is None:
        return {}, None
    changes: dict = {}
    event = None
    if response and responded_at is None:
        responded_at = now
        changes["responded_at"] = now
        event = "responded"
    elif not response and responded_at is not None:
        if ERASED_NOTE not in str(row.get("note") or ""):
            changes["note"] = add_note(row.get("note"), ERASED_NOTE)
            event = "erased"
    previous = str(row.get("sla") or "")
    if responded_at is not None:
        verdict = sla.judge(due, responded_at, now, previous)
    else:
        verdict = Sla(previous) if previous in set(Sla) else Sla.RUNNING
    if verdict != previous:
        changes["sla"] = str(verdict)
    if row.get("deadline") != due:
        changes["deadline"] = due
    return changes, event


def forward_values(row: Row, from_tab: str, to_tab: str, now: datetime, sla_hours: float,
                   deadline: sla.Deadline, titles: Mapping[str, str]) -> Row:
    """The cells of a case moved to `to_tab`: fresh deadline and status, the move in its history.

    The previous OPD's answer (usually "bukan wewenang kami") is kept in the note, and the
    response cells are cleared so the receiving OPD answers afresh and the SLA judges its answer.
    `received_at` is untouched: the overall age of the case stays visible for the evaluation.
    """
    stamp = f"{now:%Y-%m-%d %H:%M}"
    history = str(row.get("forward_history") or "").strip()
    entry = f"{stamp} {from_tab} → {to_tab}"
    due = case_deadline(row, sla_hours, deadline)
    if due is not None and now > due and not row.get("responded_at"):
        entry += " (lewat batas)"
    note = f"Diteruskan dari {titles.get(from_tab, from_tab)} pada {short_wib(now)}"
    previous_answer = str(row.get("response") or "").strip()
    if previous_answer:
        note += f"; tanggapan sebelumnya: \"{excerpt(previous_answer, 120)}\""
    return {
        "forward_to": "",
        "status": str(Status.NEW),
        "response": "",
        "responder": "",
        "responded_at": None,
        "reply_sent_at": None,
        "deadline": deadline(now, sla_hours),
        "sla": str(Sla.RUNNING),
        "forwarded_at": now,
        "forward_history": f"{history}; {entry}" if history else entry,
        "note": add_note(row.get("note"), note + "."),
    }


def unknown_forward_note(value: str) -> str:
    return (f"Teruskan ke \"{excerpt(str(value), 40)}\" tidak dikenal; isi dengan kode OPD "
            f"(mis. PUTR, DINKES, TRIASE). Aduan tetap di tab ini.")


# -- the sweep --------------------------------------------------------------------------------------

@dataclass
class SweepPlan:
    """What one sweep wants written; later steps of the same sweep (reminders, replies to
    citizens) add to `changes`, and the job commits it all at once."""

    report: SweepReport
    changes: Changes
    moves: list[tuple[str, str, str]]  # (ticket, from tab, to tab)
    now: datetime


def plan_sweep(
    tabs: dict[str, list[Row]],
    *,
    now: datetime,
    sla_hours: float,
    dry_run: bool = False,
    deadline: sla.Deadline = sla.deadline,
    titles: Mapping[str, str] | None = None,
) -> SweepPlan:
    """Judge every row of one `read_all`. Unless `dry_run`, `tabs` is updated in place to what
    the commit will make of it (cells stamped, forwarded rows in their new tab), so the later
    steps of the same sweep need no second read."""
    report = SweepReport()
    titles = dict(titles) if titles else {k: k for k in tabs}
    changes = Changes()
    moves: list[tuple[str, str, str]] = []
    moved_rows: list[tuple[str, str, Row]] = []

    for tab, rows in tabs.items():
        for row in rows:
            ticket = str(row.get("ticket_id") or "").strip()
            if not ticket:
                continue
            cells: Row = {}
            typed = str(row.get("forward_to") or "").strip()
            if typed:
                target = resolve_opd(typed, titles)
                if target is not None and target != tab and target in tabs:
                    values = forward_values(row, tab, target, now, sla_hours, deadline, titles)
                    changes.moves.append(Move(ticket, target, values))
                    moves.append((ticket, tab, target))
                    moved_rows.append((tab, target, row))
                    if not dry_run:
                        row.update(values)
                    continue
                if target is None:
                    message = unknown_forward_note(typed)
                elif target == tab:
                    message = f"Teruskan ke {target}: aduan sudah berada di tab ini; kolom diabaikan."
                else:  # a known OPD whose tab was never created
                    message = f"Teruskan ke {target}: tab belum dibuat; jalankan bootstrap. Aduan tetap di tab ini."
                if message not in str(row.get("note") or ""):
                    cells["note"] = add_note(row.get("note"), message)
                    text = f"{ticket} ({titles.get(tab, tab)}): {message}"
                    report.problems.append(text)
                    changes.log.append(LogEntry(PROBLEM, f"{ticket}:forward:{typed[:40]}", now, text))
            judged, event = judge_row({**row, **cells}, now, sla_hours, deadline)
            cells.update(judged)
            if event == "responded":
                report.responded.append(ticket)
            elif event == "erased":
                report.erased.append(ticket)
                text = (f"{ticket} ({titles.get(tab, tab)}): tanggapan dihapus petugas setelah tercatat "
                        f"pada {list_wib(row['responded_at'])}; waktu tanggapan pertama tetap dipakai.")
                report.problems.append(text)
                changes.log.append(LogEntry(PROBLEM, f"{ticket}:erased", now, text))
            if cells:
                changes.update(ticket, cells, tab)
                if not dry_run:
                    row.update(cells)

    if dry_run:
        report.forwarded = [Forward(t, a, b, now) for t, a, b in moves]
    else:
        for from_tab, to_tab, row in moved_rows:
            tabs[from_tab].remove(row)
            tabs[to_tab].append(row)
    return SweepPlan(report, changes, moves, now)


def settle_sweep(workbook: Workbook, plan: SweepPlan, result: CommitReport,
                 on_forward: Callable[[Forward], None] | None = None) -> SweepReport:
    """Read the commit's outcome into the report; what went wrong goes to the Log (one more
    request, only then) so the next digest reports it."""
    report, now = plan.report, plan.now
    problems: list[LogEntry] = []
    for ticket, from_tab, to_tab in plan.moves:
        if not result.moved.get(ticket, False):
            text = f"{ticket}: baris tidak ditemukan saat diteruskan ke {to_tab}."
            report.problems.append(text)
            problems.append(LogEntry(PROBLEM, f"{ticket}:move:{to_tab}:{now:%Y%m%d}", now, text))
            continue
        forward = Forward(ticket, from_tab, to_tab, now)
        report.forwarded.append(forward)
        if on_forward:
            on_forward(forward)
    for t in result.missing:
        if t in {m[0] for m in plan.moves}:
            continue
        text = f"{t}: baris tidak ditemukan saat menulis (dihapus atau diubah petugas?)"
        report.problems.append(text)
        problems.append(LogEntry(PROBLEM, f"{t}:missing:{now:%Y%m%d}", now, text))
    for text in [*result.problems, *result.repaired]:
        report.problems.append(text)
        # Keyed by day and text: every sweep that writes sees a renamed header again, and the
        # digest should say so once a day, not once per sweep (it shows only 20 notes).
        problems.append(LogEntry(PROBLEM, f"write:{now:%Y%m%d}:{_digest_key(text)}", now, text))
    report.writes = result.written + len(report.forwarded)
    if problems:
        add_many(workbook, problems)
    return report


def run_sweep(
    workbook: Workbook,
    *,
    now: datetime,
    sla_hours: float,
    dry_run: bool = False,
    deadline: sla.Deadline = sla.deadline,
    titles: Mapping[str, str] | None = None,
    tabs: dict[str, list[Row]] | None = None,
    on_forward: Callable[[Forward], None] | None = None,
) -> SweepReport:
    """One pass over every tab, written in one commit (`sweep_job` adds reminders and replies
    to the same commit)."""
    tabs = workbook.read_all() if tabs is None else tabs
    plan = plan_sweep(tabs, now=now, sla_hours=sla_hours, dry_run=dry_run, deadline=deadline, titles=titles)
    if dry_run:
        return plan.report
    return settle_sweep(workbook, plan, workbook.commit(plan.changes), on_forward)
