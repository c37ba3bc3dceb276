"""The daily job (07:00 WIB): mark overdue cases, then send the leadership digest, each OPD head's
overdue list and (on the 1st) the monthly evaluation — each once per day.

Store requests are constant whatever the number of tabs and rows: one `read_all`, one batched
`update` for the overdue marks, one Log read, one batched Log write.
Idempotency: every email sent is recorded in the Log (kind `digest`, key `DATE` for leadership,
`DATE:OPD` for an OPD head); a Cloud Scheduler retry or a second run for the same date finds them
and sends nothing new, while an email that failed the first time is sent by the retry.

Optional store methods (used when the store offers them, with a fallback otherwise):
- `cell_usage() -> int | (used, limit)`: cells used in the spreadsheet; the digest warns at 80 %
  of the 10 million cell limit;
- `row_link(tab, ticket_id) -> str | None`: a URL to the case's row
  (`https://docs.google.com/spreadsheets/d/ID/edit#gid=GID&range=A{row}`), answered from what
  the store already knows (no extra request); `log_add_many(entries) -> int` (see logbook.py).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable, Mapping, Sequence

from .. import sla
from ..digest.data import Capacity, Digest, Locator, build_digest, no_locator
from ..digest.render import render_digest, render_opd_overdue
from ..logs import log
from ..mail.port import Attachment, InlineImage, Mailer, OutgoingMail, compose
from ..messaging.port import Template
from ..model import Sla, Status, is_withdrawn
from ..text import excerpt
from ..stores.port import CellUpdate, LogEntry, Workbook
from .logbook import DIGEST, PROBLEM, add_many
from .notify import LANGUAGE, Delivery, HeadNotifier, Notice, channels_summary, tickets_param
from .sweep import case_deadline

DIGEST_LOG = DIGEST  # kept for callers of the first version
PROBLEM_REPORTED = "problem-reported"  # key: a `problem` entry's key, once a digest listed it
PROBLEM_OVERLAP = timedelta(hours=1)
MAX_EMAIL_BYTES = 1_000_000
CHART_CID = "grafik-30-hari"


@dataclass
class DailyReport:
    day: str
    marked_overdue: list[str] = field(default_factory=list)
    sent_to: tuple[str, ...] = ()
    delivered: str = ""  # where the digest went (message id / outbox file)
    already_sent: bool = False
    problems: list[str] = field(default_factory=list)
    digest: Digest | None = None
    opd_sent: dict[str, int] = field(default_factory=dict)  # OPD -> overdue cases listed in its email
    monthly: str = ""  # the attachment's file name on the 1st of a month
    deliveries: list[Delivery] = field(default_factory=list)  # overdue lists to OPD heads
    email_bytes: int = 0
    busy: bool = False  # another daily was running: this one did nothing (services/lease.py)
    dry_run: bool = False
    learning: str = ""  # the routing-learning step's line (digest)
    learning_cpu_s: float = 0.0

    def summary(self) -> str:
        if self.busy:
            return f"daily {self.day}: daily lain sedang berjalan; yang ini tidak mengirim apa pun"
        if self.dry_run:
            return (f"daily {self.day} (uji coba, tidak ada yang dikirim atau ditulis): "
                    f"{len(self.marked_overdue)} aduan akan ditandai Terlambat; "
                    + ("rekap sudah dikirim sebelumnya" if self.already_sent else
                       f"rekap akan dikirim ke {', '.join(self.sent_to) or '-'}")
                    + (f"; daftar terlambat akan dikirim ke {len(self.opd_sent)} kepala OPD" if self.opd_sent else ""))
        if self.already_sent and not self.opd_sent:
            return (f"daily {self.day}: {len(self.marked_overdue)} aduan ditandai Terlambat; "
                    "rekap sudah dikirim sebelumnya; tidak ada yang dikirim ulang")
        text = (
            f"daily {self.day}: {len(self.marked_overdue)} aduan ditandai Terlambat; "
            + ("rekap sudah dikirim sebelumnya" if self.already_sent else
               f"rekap dikirim ke {', '.join(self.sent_to) or '-'} ({self.delivered})")
        )
        if self.opd_sent:
            how = channels_summary(self.deliveries)
            text += f"; daftar terlambat untuk {len(self.opd_sent)} OPD" + (f" ({how})" if how else "")
        if self.monthly:
            text += f"; evaluasi bulanan {self.monthly}"
        return text


def overdue_updates(tabs: dict[str, list[dict]], now: datetime, sla_hours: float,
                    deadline: sla.Deadline = sla.deadline) -> list[CellUpdate]:
    """Unanswered cases past their deadline that are not yet marked `Terlambat`."""
    updates = []
    for tab, rows in tabs.items():
        for row in rows:
            ticket = str(row.get("ticket_id") or "").strip()
            if not ticket or str(row.get("response") or "").strip() or isinstance(row.get("responded_at"), datetime):
                continue
            if is_withdrawn(row):
                continue
            due = case_deadline(row, sla_hours, deadline)
            if due is not None and now > due and row.get("sla") != Sla.OVERDUE:
                values = {"sla": str(Sla.OVERDUE)}
                if row.get("deadline") != due:
                    values["deadline"] = due
                updates.append(CellUpdate(ticket, values, tab))
    return updates


KNOWN_STATUSES = frozenset(str(s).lower() for s in Status)


def unknown_statuses(tabs: dict[str, list[dict]], titles: Mapping[str, str]) -> list[str]:
    """Cases whose Status staff typed outside the dropdown (`Beres`): listed in every digest
    until fixed; they count as open (status page, Open311) meanwhile."""
    out = []
    for tab, rows in tabs.items():
        for row in rows:
            status = " ".join(str(row.get("status") or "").split())
            ticket = str(row.get("ticket_id") or "").strip()
            if ticket and status and status.lower() not in KNOWN_STATUSES:
                out.append(f"{ticket} ({titles.get(tab, tab)}): Status \"{excerpt(status, 40)}\" bukan pilihan baku "
                           f"({', '.join(str(s) for s in Status)}); aduan dihitung masih berjalan.")
    return out


def capacity_of(workbook: Workbook) -> Capacity | None:
    usage = getattr(workbook, "cell_usage", None)
    if not callable(usage):
        return None
    try:
        value = usage()
    except Exception as e:  # a capacity probe must never stop the digest
        log("WARNING", "cell usage unavailable", error=type(e).__name__)
        return None
    if value is None:
        return None
    if isinstance(value, tuple):
        return Capacity(int(value[0]), int(value[1]))
    return Capacity(int(value))


def run_learning(learning: Callable[[dict], str] | None, tabs: dict) -> str:
    """The routing-learning step (route_learning.py) on the job's one read; it must never stop
    the digest, so a failure becomes the line the digest shows."""
    if learning is None:
        return ""
    try:
        return learning(tabs)
    except Exception as e:  # noqa: BLE001 - report, keep the previous model, send the digest
        log("ERROR", "routing model training failed", error=type(e).__name__)
        return (f"Rute otomatis: pelatihan model gagal ({type(e).__name__}); model sebelumnya "
                "(atau aturan saja) tetap dipakai.")


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
    notify: HeadNotifier | None = None,
    notes: Sequence[str] = (),
    locate: Locator = no_locator,
    deadline: sla.Deadline = sla.deadline,
    mail_from: str = "KMC Aduan <kmc@localhost>",
    chart: bool = True,
    monthly: bool | None = None,
    learning: Callable[[dict], str] | None = None,
) -> DailyReport:
    day = now.date().isoformat()
    report = DailyReport(day, dry_run=dry_run)
    tabs = workbook.read_all()
    started = time.process_time()
    learned = run_learning(learning, tabs)
    report.learning_cpu_s = time.process_time() - started
    updates = overdue_updates(tabs, now, sla_hours, deadline)
    report.marked_overdue = [u.ticket_id for u in updates]
    if updates and not dry_run:
        written = workbook.update(updates)
        report.problems += [f"{t}: baris tidak ditemukan saat menandai Terlambat" for t in written.missing]
        report.problems += written.problems
    by_ticket = {u.ticket_id: u.values for u in updates}
    for rows in tabs.values():
        for row in rows:
            values = by_ticket.get(row.get("ticket_id"))
            if values:
                row.update(values)

    logged = workbook.log_entries()
    sent = {e.key: e for e in logged if e.kind == DIGEST}
    previous = [e.at for k, e in sent.items() if ":" not in k and k < day]
    # Problems not yet in a digest. A sweep running alongside the previous digest (both fire at
    # 07:00) may have written its problems, stamped a moment before that digest's time, after the
    # digest read the Log: each digest marks what it listed (kind `problem-reported`), and the
    # window reaches back an hour before the previous digest to pick such problems up once.
    since = (max(previous) - PROBLEM_OVERLAP) if previous else now - timedelta(days=1)
    reported = {e.key for e in logged if e.kind == PROBLEM_REPORTED}
    fresh = [e for e in logged if e.kind == PROBLEM and since < e.at <= now and e.key not in reported]
    recorded = [e.detail for e in fresh]

    digest = build_digest(tabs, titles, now, locate=locate)
    statuses = unknown_statuses(tabs, titles)
    digest.problems.extend(dict.fromkeys(recorded + report.problems + list(notes) + statuses))  # the same note once
    digest.capacity = capacity_of(workbook)
    digest.routing = learned
    report.learning = learned
    report.digest = digest

    if monthly is None:
        monthly = now.day == 1
    attachments: tuple[Attachment, ...] = ()
    if monthly:
        from .monthly import evaluate_month, previous_month, to_xlsx

        month, _ = previous_month(now.date())
        evaluation = evaluate_month(tabs, titles, month, now.tzinfo, now=now)
        digest.monthly = evaluation
        report.monthly = evaluation.filename
        attachments = (Attachment(evaluation.filename, to_xlsx(evaluation), "application",
                                  "vnd.openxmlformats-officedocument.spreadsheetml.sheet"),)

    entries: list[LogEntry] = []
    report.already_sent = day in sent
    if not report.already_sent:
        mail = _digest_mail(digest, digest_to, sheet_url, mail_from, attachments, chart=chart)
        report.sent_to = digest_to
        report.email_bytes = mail[1]
        if dry_run:
            report.delivered = "dry-run"
        else:
            report.delivered = mailer.send(mail[0])  # a failure raises: the scheduler retries the job
            entries.append(LogEntry(DIGEST, day, now, f"ke {len(digest_to)} penerima"
                                    + (f"; evaluasi {report.monthly}" if report.monthly else "")))
            entries += [LogEntry(PROBLEM_REPORTED, e.key, now, day) for e in fresh]

    overdue: dict[str, list] = {}
    for case in digest.overdue:
        overdue.setdefault(case.opd, []).append(case)
    for tab, cases in overdue.items() if notify is not None else ():
        key = f"{day}:{tab}"
        contact = notify.directory.get(tab)
        if key in sent or contact is None or not contact.reachable:
            continue
        title = titles.get(tab, tab)
        subject, text, html = render_opd_overdue(title, cases, day=now.date(), sheet_url=sheet_url)
        report.opd_sent[tab] = len(cases)
        if dry_run:
            continue
        tickets = tuple(c.ticket_id for c in cases)
        sent_now = notify.send(Notice(
            tab, f"overdue:{key}",
            lambda to, own, s=subject, t=text, h=html, k=tab: OutgoingMail(to, s, t, h, tag=f"terlambat-{k}-{day}"),
            Template("kmc_daftar_terlambat", LANGUAGE, (contact.addressee, f"{now:%d/%m/%Y}", str(len(cases)),
                                                        contact.opd_name or title, tickets_param(list(tickets)))),
            tickets))
        report.problems += [f"Daftar terlambat: {p}" for p in sent_now.problems]
        report.deliveries += sent_now.deliveries
        entries += sent_now.log
        if not sent_now.delivered and not sent_now.already:  # reported; a rerun of the day sends it
            del report.opd_sent[tab]
            log("ERROR", "overdue list not sent", opd=tab)
            continue
        entries.append(LogEntry(DIGEST, key, now, f"{len(cases)} aduan terlambat"))
    if entries and not dry_run:
        add_many(workbook, entries)
    return report


def _digest_mail(digest: Digest, to: tuple[str, ...], sheet_url: str, mail_from: str,
                 attachments: tuple[Attachment, ...], *, chart: bool) -> tuple[OutgoingMail, int]:
    """The leadership email, kept under MAX_EMAIL_BYTES (the chart goes first, then list lengths)."""
    images: tuple[InlineImage, ...] = ()
    if chart and digest.series:
        from ..digest.chart import render_chart

        images = (InlineImage(CHART_CID, render_chart(digest.series)),)
    while True:
        cid = images[0].cid if images else ""
        subject, text, html = render_digest(digest, sheet_url=sheet_url, chart_cid=cid)
        mail = OutgoingMail(to, subject, text, html, images, attachments, tag=f"digest-{digest.day}")  # outbox file name: *digest*.eml
        size = len(bytes(compose(mail, mail_from)))
        if size <= MAX_EMAIL_BYTES:
            return mail, size
        if images:
            images = ()
            digest.problems.append("Grafik tidak disertakan agar email tetap di bawah 1 MB.")
        elif len(digest.problems) > 20:
            extra = len(digest.problems) - 20
            digest.problems[:] = digest.problems[:20] + [f"... dan {extra} catatan lainnya (lihat tab Log)."]
        elif len(digest.media) > 5:
            digest.media = digest.media[:5]
        else:
            return mail, size  # cannot shrink further; send it rather than nothing
