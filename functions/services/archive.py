"""Archive: move closed cases received before a date into a yearly archive workbook.

A spreadsheet holds 10 million cells; the live workbook stays small by moving what is done.
Closed = status `Selesai`, or SLA `Tepat Waktu` / `Terlambat Ditanggapi` with a response.
Cases are copied first and removed from the live workbook only after the archive confirmed
them, so an interrupted run loses nothing and a rerun finishes it (appending a ticket the
archive already holds is a no-op).

The use case takes the archive as a port: a workbook, or year -> workbook. Where the yearly
archives live and how they are opened or created is the composition side's (functions/archives.py);
the `archive` CLI command prints the report (functions/cli.py).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Callable

from ..logs import log
from ..case import Case, all_cases, case_from_row
from ..model import Sla, Status, StorageUnavailable
from ..stores.port import NewCase, Workbook

if TYPE_CHECKING:
    from .context import Services

CLOSED_SLA = frozenset({str(Sla.ON_TIME), str(Sla.LATE)})
CHUNK = 500

ArchiveTarget = Callable[[int], Workbook]  # year -> that year's archive workbook (functions/archives.py)


def is_closed(case: Case | dict) -> bool:
    """`Selesai`, or answered and judged (on time or late): ready for the archive."""
    case = case_from_row("", case) if not isinstance(case, Case) else case
    if case.status.strip() == Status.DONE:
        return True
    return case.sla.strip() in CLOSED_SLA and bool(case.response.strip())


@dataclass
class ArchiveReport:
    before: date
    dry_run: bool = False
    moved: Counter = field(default_factory=Counter)  # year -> cases
    by_tab: Counter = field(default_factory=Counter)
    already_archived: int = 0
    removed: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.moved.values())

    def lines(self) -> list[str]:
        verb = "akan dipindahkan" if self.dry_run else "dipindahkan"
        out = [f"Arsip kasus selesai yang diterima sebelum {self.before.isoformat()}: {self.total} kasus {verb}."]
        out += [f"  {year}: {n} kasus" for year, n in sorted(self.moved.items())]
        out += [f"  tab {tab}: {n}" for tab, n in sorted(self.by_tab.items())]
        if self.already_archived:
            out.append(f"  {self.already_archived} kasus sudah ada di arsip (lanjutan dari proses sebelumnya)")
        out += [f"  masalah: {p}" for p in self.problems]
        return out


def archive_closed(workbook: Workbook, archive_workbook: ArchiveTarget, before: date, *, tz,
                   dry_run: bool = False, relabel: Callable[[Case], dict] | None = None) -> ArchiveReport:
    """Move closed cases received before `before` (WIB date) into yearly archives. `relabel`
    gives a case's row just before it is copied (the attachments move with their case)."""
    report = ArchiveReport(before, dry_run)
    cutoff = datetime(before.year, before.month, before.day, tzinfo=tz)
    chosen: dict[int, list[Case]] = {}
    for case in all_cases(workbook.read_all()):
        if not is_closed(case):
            continue
        received = case.received_at
        if received is None:
            report.problems.append(f"tiket {case.ticket_id}: tanggal diterima kosong/tidak terbaca")
            continue
        if received.astimezone(tz) >= cutoff:
            continue
        chosen.setdefault(received.astimezone(tz).year, []).append(case)
    for year, cases in sorted(chosen.items()):
        report.moved[year] = len(cases)
        for c in cases:
            report.by_tab[c.tab] += 1
        if dry_run:
            continue
        target = archive_workbook(year)
        target.bootstrap()
        for i in range(0, len(cases), CHUNK):
            chunk = cases[i:i + CHUNK]
            rows = [NewCase(c.tab, relabel(c) if relabel is not None else c.row) for c in chunk]
            created = target.append(rows)  # raises before anything is removed if the archive fails
            report.already_archived += created.count(False)
            report.removed += workbook.delete([c.ticket_id for c in chunk])
        log("INFO", "cases archived", year=year, cases=len(cases))
    return report


def ticket_year(ticket: str) -> int | None:
    """The year a ticket was issued (`KMC-261102-…` -> 2026): the archive it would be in."""
    parts = ticket.split("-")
    return 2000 + int(parts[1][:2]) if len(parts) == 3 and parts[1][:2].isdigit() else None


def find_archived(svc: "Services", ticket: str):
    """A case moved to its year's archive (StoredCase) or None; a look-up never creates one.
    Cases are archived by the year they were received, which is the ticket's year."""
    from ..archives import existing_archives  # the opener; K's container may carry it instead

    year = ticket_year(ticket)
    if year is None:
        return None
    try:
        archive = existing_archives(svc)(year)
        return archive.find(ticket) if archive is not None else None
    except StorageUnavailable as e:
        log("WARNING", "archive unavailable for a look-up", year=year, error=str(e)[:200])
        return None
