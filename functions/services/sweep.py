"""The sweep (every 15 minutes): notice staff responses, stamp them, judge the SLA, move
forwarded cases.

One read of every tab, then ONE commit of everything the sweep writes: stamps, forwards, the
reminders' and replies' Log entries and `reply_sent_at` (see `Workbook.commit`). Rows are
located by ticket, never by a remembered position; the store checks where its write landed. What the sweep cannot understand (an unknown OPD key in
`Teruskan ke`, an erased answer) is written in the row's `note` and recorded in the Log (kind
`problem`) so the next daily digest reports it — once, not every 15 minutes.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Mapping

from .. import journal, sla
from ..case import Case, add_note, as_cases
from ..model import TRIAGE, Sla, Status
from ..stores.port import Changes, CommitReport, LogEntry, Move, Row, Workbook
from ..text import excerpt
from ..timefmt import list_wib, short_wib
from ..journal import PROBLEM
from .logbook import add_many

ERASED_NOTE = "Tanggapan dihapus petugas; waktu tanggapan pertama tetap dicatat."


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

def case_deadline(case: Case, sla_hours: float, deadline: sla.Deadline = sla.deadline) -> datetime | None:
    """The case's written deadline, or (when the cell is empty or unreadable) the computed one."""
    return case.due_at(sla_hours, deadline)


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

def judge_row(case: Case, now: datetime, sla_hours: float,
              deadline: sla.Deadline = sla.deadline) -> tuple[dict, str | None]:
    """The system cells that should change for one case, and what happened (or None)."""
    due = case.due_at(sla_hours, deadline)
    if due is None:
        return {}, None
    changes: dict = {}
    event = None
    responded_at = case.responded_at
    if case.response.strip() and responded_at is None:
        responded_at = now
        changes["responded_at"] = now
        event = "responded"
    elif not case.response.strip() and responded_at is not None and ERASED_NOTE not in case.note:
        changes["note"] = add_note(case.note, ERASED_NOTE)
        event = "erased"
    verdict = case.verdict(now, due, responded_at)
    if verdict != case.sla:
        changes["sla"] = str(verdict)
    if case.deadline != due:
        changes["deadline"] = due
    return changes, event


def forward_values(case: Case, from_tab: str, to_tab: str, now: datetime, sla_hours: float,
                   deadline: sla.Deadline, titles: Mapping[str, str]) -> Row:
    """The cells of a case moved to `to_tab`: fresh deadline and status, the move in its history.

    The previous OPD's answer (usually "bukan wewenang kami") is kept in the note, and the
    response cells are cleared so the receiving OPD answers afresh and the SLA judges its answer.
    `received_at` is untouched: the overall age of the case stays visible for the evaluation.
    """
    stamp = f"{now:%Y-%m-%d %H:%M}"
    history = case.forward_history.strip()
    entry = f"{stamp} {from_tab} → {to_tab}"
    due = case.due_at(sla_hours, deadline)
    if due is not None and now > due and case.responded_at is None:
        entry += " (lewat batas)"
    note = f"Diteruskan dari {titles.get(from_tab, from_tab)} pada {short_wib(now)}"
    previous_answer = case.response.strip()
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
        "note": add_note(case.note, note + "."),
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
    tabs: dict[str, list[Case]],
    *,
    now: datetime,
    sla_hours: float,
    dry_run: bool = False,
    deadline: sla.Deadline = sla.deadline,
    titles: Mapping[str, str] | None = None,
) -> SweepPlan:
    """Judge every case of one `read_all`. Unless `dry_run`, `tabs` is updated in place to what
    the commit will make of it (cells stamped, forwarded cases in their new tab), so the later
    steps of the same sweep need no second read."""
    plan = SweepPlan(SweepReport(), Changes(), [], now)
    titles = dict(titles) if titles else {k: k for k in tabs}
    moved: list[tuple[str, Case]] = []  # (from tab, the case in its new tab)
    for tab, cases in as_cases(tabs).items():
        for i, case in enumerate(cases):
            if not case.ticket_id:
                continue
            cells, target = _forward_step(plan, case, titles, tabs, sla_hours, deadline)
            if target is not None:
                if not dry_run:
                    cases[i] = case.moved_to(target, cells)
                    moved.append((tab, cases[i]))
                continue
            cells.update(_judge_step(plan, case.with_cells(cells) if cells else case, titles, sla_hours, deadline))
            if cells:
                plan.changes.update(case.ticket_id, cells, tab)
                if not dry_run:
                    cases[i] = case.with_cells(cells)
    if dry_run:
        plan.report.forwarded = [Forward(t, a, b, now) for t, a, b in plan.moves]
    for from_tab, case in moved:
        tabs[from_tab][:] = [c for c in tabs[from_tab] if c is not case]
        tabs[case.tab].append(case)
    return plan


def _forward_step(plan: SweepPlan, case: Case, titles: Mapping[str, str], tabs: Mapping[str, list],
                  sla_hours: float, deadline: sla.Deadline) -> tuple[Row, str | None]:
    """What `Teruskan ke` asks: (the cells of the move, its target tab), or (a note, None) when
    the cell cannot be followed, or ({}, None) when it is empty."""
    typed = case.forward_to.strip()
    if not typed:
        return {}, None
    tab, now = case.tab, plan.now
    target = resolve_opd(typed, titles)
    if target is not None and target != tab and target in tabs:
        values = forward_values(case, tab, target, now, sla_hours, deadline, titles)
        plan.changes.moves.append(Move(case.ticket_id, target, values))
        plan.moves.append((case.ticket_id, tab, target))
        return values, target
    if target is None:
        message = unknown_forward_note(typed)
    elif target == tab:
        message = f"Teruskan ke {target}: aduan sudah berada di tab ini; kolom diabaikan."
    else:  # a known OPD whose tab was never created
        message = f"Teruskan ke {target}: tab belum dibuat; jalankan bootstrap. Aduan tetap di tab ini."
    if message in case.note:
        return {}, None
    text = f"{case.ticket_id} ({titles.get(tab, tab)}): {message}"
    plan.report.problems.append(text)
    plan.changes.log.append(LogEntry(PROBLEM, journal.forward_problem_key(case.ticket_id, typed), now, text))
    return {"note": add_note(case.note, message)}, None


def _judge_step(plan: SweepPlan, case: Case, titles: Mapping[str, str], sla_hours: float,
                deadline: sla.Deadline) -> Row:
    """The SLA cells of one case; a first response or an erased one goes into the report."""
    judged, event = judge_row(case, plan.now, sla_hours, deadline)
    ticket, report = case.ticket_id, plan.report
    if event == "responded":
        report.responded.append(ticket)
    elif event == "erased":
        report.erased.append(ticket)
        text = (f"{ticket} ({titles.get(case.tab, case.tab)}): tanggapan dihapus petugas setelah tercatat "
                f"pada {list_wib(case.responded_at)}; waktu tanggapan pertama tetap dipakai.")
        report.problems.append(text)
        plan.changes.log.append(LogEntry(PROBLEM, journal.erased_problem_key(ticket), plan.now, text))
    return judged


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
            problems.append(LogEntry(PROBLEM, journal.move_problem_key(ticket, to_tab, now), now, text))
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
        problems.append(LogEntry(PROBLEM, journal.missing_problem_key(t, now), now, text))
    for text in [*result.problems, *result.repaired]:
        report.problems.append(text)
        # Keyed by day and text: every sweep that writes sees a renamed header again, and the
        # digest should say so once a day, not once per sweep (it shows only 20 notes).
        problems.append(LogEntry(PROBLEM, journal.write_problem_key(now, text), now, text))
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
    tabs: dict[str, list[Case]] | None = None,
    on_forward: Callable[[Forward], None] | None = None,
) -> SweepReport:
    """One pass over every tab, written in one commit (`sweep_job` adds reminders and replies
    to the same commit)."""
    tabs = workbook.read_all() if tabs is None else tabs
    plan = plan_sweep(tabs, now=now, sla_hours=sla_hours, dry_run=dry_run, deadline=deadline, titles=titles)
    if dry_run:
        return plan.report
    return settle_sweep(workbook, plan, workbook.commit(plan.changes), on_forward)
