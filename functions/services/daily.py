"""The daily job (07:00 WIB): mark overdue cases, then send the leadership digest once per day."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ..digest.data import Digest, build_digest
from ..digest.render import render_digest
from ..mail.port import Mailer, OutgoingMail
from ..model import Sla
from ..stores.port import CellUpdate, LogEntry, Workbook
from .sweep import case_deadline

DIGEST_LOG = "digest"


@dataclass
class DailyReport:
    day: str
    marked_overdue: list[str] = field(default_factory=list)
    sent_to: tuple[str, ...] = ()
    delivered: str = ""  # where the digest went (message id / outbox file)
    already_sent: bool = False
    problems: list[str] = field(default_factory=list)
    digest: Digest | None = None

    def summary(self) -> str:
        if self.already_sent:
            return f"daily {self.day}: rekap sudah dikirim sebelumnya; tidak ada yang dikirim ulang"
        return (
            f"daily {self.day}: {len(self.marked_overdue)} aduan ditandai Terlambat; "
            f"rekap dikirim ke {', '.join(self.sent_to) or '-'} ({self.delivered})"
        )


def overdue_updates(tabs: dict[str, list[dict]], now: datetime, sla_hours: float) -> list[CellUpdate]:
    """Unanswered cases past their deadline that are not yet marked `Terlambat`."""
    updates = []
    for tab, rows in tabs.items():
        for row in rows:
            ticket = str(row.get("ticket_id") or "").strip()
            due = case_deadline(row, sla_hours)
            if not ticket or due is None or str(row.get("response") or "").strip():
                continue
            if isinstance(row.get("responded_at"), datetime):
                continue
            if now > due and row.get("sla") != Sla.OVERDUE:
                updates.append(CellUpdate(ticket, {"sla": str(Sla.OVERDUE)}, tab))
    return updates


def run_daily(
    workbook: Workbook,
    mailer: Mailer,
    *,
    now: datetime,
    sla_hours: float,
    titles: dict[str, str],
    digest_to: tuple[str, ...],
    sheet_url: str,
    dry_run: bool = False,
) -> DailyReport:
    day = now.date().isoformat()
    report = DailyReport(day)
    tabs = workbook.read_all()
    updates = overdue_updates(tabs, now, sla_hours)
    report.marked_overdue = [u.ticket_id for u in updates]
    if updates and not dry_run:
        written = workbook.update(updates)
        report.problems += [f"{t}: baris tidak ditemukan saat menandai Terlambat" for t in written.missing]
        report.problems += written.problems
    marked = set(report.marked_overdue)
    for rows in tabs.values():
        for row in rows:
            if row.get("ticket_id") in marked:
                row["sla"] = str(Sla.OVERDUE)
    digest = build_digest(tabs, titles, now)
    digest.problems.extend(report.problems)
    report.digest = digest
    if workbook.log_has(DIGEST_LOG, day):
        report.already_sent = True
        return report
    subject, text, html = render_digest(digest, sheet_url=sheet_url)
    report.sent_to = digest_to
    if dry_run:
        report.delivered = "dry-run"
        return report
    report.delivered = mailer.send(OutgoingMail(digest_to, subject, text, html, tag=f"digest-{day}"))
    workbook.log_add(LogEntry(DIGEST_LOG, day, now, f"ke {len(digest_to)} penerima"))
    return report
