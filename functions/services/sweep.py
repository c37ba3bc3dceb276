"""The sweep (every 15 minutes): notice staff responses, stamp them, judge the SLA.

One read of every tab, one batch of writes; rows are located by ticket at write time.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from .. import sla
from ..model import Sla
from ..stores.port import CellUpdate, Row, Workbook

ERASED_NOTE = "Tanggapan dihapus petugas; waktu tanggapan pertama tetap dicatat."


@dataclass
class SweepReport:
    responded: list[str] = field(default_factory=list)  # tickets whose first response was found now
    erased: list[str] = field(default_factory=list)  # response cleared after it was stamped
    problems: list[str] = field(default_factory=list)
    writes: int = 0

    def summary(self) -> str:
        return (
            f"sweep: {len(self.responded)} tanggapan baru, {len(self.erased)} tanggapan dihapus, "
            f"{len(self.problems)} masalah, {self.writes} baris diperbarui"
        )


def case_deadline(row: Row, sla_hours: float) -> datetime | None:
    if isinstance(row.get("deadline"), datetime):
        return row["deadline"]
    if isinstance(row.get("received_at"), datetime):
        return sla.deadline(row["received_at"], sla_hours)
    return None


def judge_row(row: Row, now: datetime, sla_hours: float) -> tuple[dict, str | None]:
    """The system cells that should change for one row, and what happened (or None)."""
    response = str(row.get("response") or "").strip()
    responded_at = row.get("responded_at") if isinstance(row.get("responded_at"), datetime) else None
    due = case_deadline(row, sla_hours)
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
            changes["note"] = ERASED_NOTE
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


def run_sweep(workbook: Workbook, *, now: datetime, sla_hours: float, dry_run: bool = False) -> SweepReport:
    report = SweepReport()
    updates: list[CellUpdate] = []
    for tab, rows in workbook.read_all().items():
        for row in rows:
            ticket = str(row.get("ticket_id") or "").strip()
            if not ticket:
                continue
            changes, event = judge_row(row, now, sla_hours)
            if event == "responded":
                report.responded.append(ticket)
            elif event == "erased":
                report.erased.append(ticket)
            if changes:
                updates.append(CellUpdate(ticket, changes, tab))
    if updates and not dry_run:
        written = workbook.update(updates)
        report.writes = written.written
        report.problems.extend(f"{t}: baris tidak ditemukan saat menulis" for t in written.missing)
        report.problems.extend(written.problems)
    return report
