"""The daily job (07:00 WIB): mark overdue cases, then send the leadership digest, each OPD head's
overdue list and (on the 1st) the monthly evaluation — each once per day.

Store requests are constant whatever the number of tabs and rows: one `read_all`, one batched
`update` for the overdue marks, one Log read, one commit of the Log (what was sent, and the entries past their retention
(journal.cutoffs) deleted).
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
from ..case import Case, all_cases, as_cases
from ..model import Sla, Status
from ..text import excerpt
from ..stores.port import CellUpdate, Changes, LogEntry, ReportsCellUsage, Workbook
from ..journal import DIGEST, PROBLEM, PROBLEM_REPORTED, cutoffs, digest_key, overdue_list_key, overdue_notice
from .notify import LANGUAGE, Delivery, HeadNotifier, Notice, channels_summary, tickets_param

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


def overdue_updates(tabs: Mapping[str, list[Case]], now: datetime, sla_hours: float,
                    deadline: sla.Deadline = sla.deadline) -> list[CellUpdate]:
    """Cases owed an answer past their deadline that are not yet marked `Terlambat`."""
    updates = []
    for case in all_cases(tabs):
        due = case.due_at(sla_hours, deadline)
        if due is None or not case.owes_answer or case.sla == Sla.OVERDUE or not now > due:
            continue
        values = {"sla": str(Sla.OVERDUE)}
        if case.deadline != due:
            values["deadline"] = due
        updates.append(CellUpdate(case.ticket_id, values, case.tab))
    return updates


def unknown_statuses(tabs: Mapping[str, list[Case]], titles: Mapping[str, str]) -> list[str]:
    """Cases whose Status staff typed outside the dropdown (`Beres`): listed in every digest
    until fixed; they count as open (status page, Open311) meanwhile."""
    return [f"{c.ticket_id} ({titles.get(c.tab, c.tab)}): Status \"{excerpt(c.status_text, 40)}\" bukan pilihan baku "
            f"({', '.join(str(s) for s in Status)}); aduan dihitung masih berjalan."
            for c in all_cases(tabs) if c.free_text_status]


def capacity_of(workbook: Workbook) -> Capacity | None:
    if not isinstance(workbook, ReportsCellUsage):
        return None
    try:
        value = workbook.cell_usage()
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


@dataclass
class DailyRun:
    """What the steps of one daily share: the settings of the run, the one read, the Log."""

    workbook: Workbook
    now: datetime
    titles: Mapping[str, str]
    report: DailyReport
    dry_run: bool
    tabs: Mapping[str, list[Case]] = field(default_factory=dict)
    sent: dict[str, LogEntry] = field(default_factory=dict)  # digests already sent (Log `digest`)
    entries: list[LogEntry] = field(default_factory=list)  # Log entries written at the end

    @property
    def day(self) -> str:
        return self.report.day


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
    closing: Sequence[LogEntry] = (),
) -> DailyReport:
    """Read once; learn routes; mark overdue; build and send the digest (with the monthly
    evaluation on the 1st); send each OPD head its overdue list; write the Log once."""
    run = DailyRun(workbook, now, titles, DailyReport(now.date().isoformat(), dry_run=dry_run), dry_run)
    run.tabs = as_cases(workbook.read_all())
    started = time.process_time()
    learned = run_learning(learning, run.tabs)
    run.report.learning_cpu_s = time.process_time() - started
    mark_overdue(run, sla_hours, deadline)
    fresh = unreported_problems(run)
    digest = assemble_digest(run, fresh, notes, learned, locate)
    attachments = monthly_attachment(run, digest, now.day == 1 if monthly is None else monthly)
    send_digest(run, mailer, digest, fresh, digest_to=digest_to, sheet_url=sheet_url,
                mail_from=mail_from, attachments=attachments, chart=chart)
    if notify is not None:
        send_overdue_lists(run, notify, digest, sheet_url)
    if not dry_run:
        record_and_expire(run, closing)
    return run.report


def record_and_expire(run: DailyRun, closing: Sequence[LogEntry]) -> None:
    """The daily's last write, one commit: what it sent, `closing` (the job lease's release,
    jobs.py) and the Log's retention (journal.cutoffs: entries past it are deleted)."""
    run.workbook.commit(Changes(log=[*run.entries, *closing], log_expire=cutoffs(run.now)))


def mark_overdue(run: DailyRun, sla_hours: float, deadline: sla.Deadline) -> None:
    """Mark `Terlambat` in one batched write; the job's read is updated to match."""
    updates = overdue_updates(run.tabs, run.now, sla_hours, deadline)
    run.report.marked_overdue = [u.ticket_id for u in updates]
    if updates and not run.dry_run:
        written = run.workbook.update(updates)
        run.report.problems += [f"{t}: baris tidak ditemukan saat menandai Terlambat" for t in written.missing]
        run.report.problems += written.problems
    by_ticket = {u.ticket_id: u.values for u in updates}
    for cases in run.tabs.values():
        for i, case in enumerate(cases):
            if case.ticket_id in by_ticket:
                cases[i] = case.with_cells(by_ticket[case.ticket_id])


def unreported_problems(run: DailyRun) -> list[LogEntry]:
    """Problems not yet in a digest (one Log read, which also tells what was sent today).

    A sweep running alongside the previous digest (both fire at 07:00) may have written its
    problems, stamped a moment before that digest's time, after the digest read the Log: each
    digest marks what it listed (kind `problem-reported`), and the window reaches back an hour
    before the previous digest to pick such problems up once."""
    logged = run.workbook.log_entries()
    run.sent = {e.key: e for e in logged if e.kind == DIGEST}
    previous = [e.at for k, e in run.sent.items() if ":" not in k and k < run.day]
    since = (max(previous) - PROBLEM_OVERLAP) if previous else run.now - timedelta(days=1)
    reported = {e.key for e in logged if e.kind == PROBLEM_REPORTED}
    return [e for e in logged if e.kind == PROBLEM and since < e.at <= run.now and e.key not in reported]


def assemble_digest(run: DailyRun, fresh: list[LogEntry], notes: Sequence[str], learned: str,
                    locate: Locator) -> Digest:
    """The digest's numbers, with every note once: the Log's problems, this run's, the caller's
    and the Status values staff typed outside the dropdown."""
    digest = build_digest(run.tabs, run.titles, run.now, locate=locate)
    statuses = unknown_statuses(run.tabs, run.titles)
    recorded = [e.detail for e in fresh]
    digest.problems.extend(dict.fromkeys(recorded + run.report.problems + list(notes) + statuses))
    digest.capacity = capacity_of(run.workbook)
    digest.routing = learned
    run.report.learning = learned
    run.report.digest = digest
    return digest


def monthly_attachment(run: DailyRun, digest: Digest, monthly: bool) -> tuple[Attachment, ...]:
    """On the 1st: the previous month's evaluation, in the digest and as an .xlsx attachment."""
    if not monthly:
        return ()
    from .monthly import evaluate_month, previous_month, to_xlsx

    month, _ = previous_month(run.now.date())
    evaluation = evaluate_month(run.tabs, run.titles, month, run.now.tzinfo, now=run.now)
    digest.monthly = evaluation
    run.report.monthly = evaluation.filename
    return (Attachment(evaluation.filename, to_xlsx(evaluation), "application",
                       "vnd.openxmlformats-officedocument.spreadsheetml.sheet"),)


def send_digest(run: DailyRun, mailer: Mailer, digest: Digest, fresh: list[LogEntry], *,
                digest_to: tuple[str, ...], sheet_url: str, mail_from: str,
                attachments: tuple[Attachment, ...], chart: bool) -> None:
    """The leadership email, once per date (Log `digest`, key DATE)."""
    report = run.report
    report.already_sent = run.day in run.sent
    if report.already_sent:
        return
    mail, report.email_bytes = _digest_mail(digest, digest_to, sheet_url, mail_from, attachments, chart=chart)
    report.sent_to = digest_to
    if run.dry_run:
        report.delivered = "dry-run"
        return
    report.delivered = mailer.send(mail)  # a failure raises: the scheduler retries the job
    run.entries.append(LogEntry(DIGEST, digest_key(run.day), run.now, f"ke {len(digest_to)} penerima"
                                + (f"; evaluasi {report.monthly}" if report.monthly else "")))
    run.entries += [LogEntry(PROBLEM_REPORTED, e.key, run.now, run.day) for e in fresh]


def send_overdue_lists(run: DailyRun, notify: HeadNotifier, digest: Digest, sheet_url: str) -> None:
    """Each OPD head's list of its overdue cases, once per date (Log `digest`, key DATE:OPD)."""
    overdue: dict[str, list] = {}
    for ref in digest.overdue:
        overdue.setdefault(ref.opd, []).append(ref)
    for tab, refs in overdue.items():
        contact = notify.directory.get(tab)
        if overdue_list_key(run.day, tab) in run.sent or contact is None or not contact.reachable:
            continue
        run.report.opd_sent[tab] = len(refs)
        if not run.dry_run:
            _send_overdue_list(run, notify, contact, tab, refs, sheet_url)


def _send_overdue_list(run: DailyRun, notify: HeadNotifier, contact, tab: str, refs: list, sheet_url: str) -> None:
    day, now, report = run.day, run.now, run.report
    key = overdue_list_key(day, tab)
    title = run.titles.get(tab, tab)
    subject, text, html = render_opd_overdue(title, refs, day=now.date(), sheet_url=sheet_url)
    tickets = tuple(c.ticket_id for c in refs)
    sent_now = notify.send(Notice(
        tab, overdue_notice(day, tab),
        lambda to, own, s=subject, t=text, h=html, k=tab: OutgoingMail(to, s, t, h, tag=f"terlambat-{k}-{day}"),
        Template("kmc_daftar_terlambat", LANGUAGE, (contact.addressee, f"{now:%d/%m/%Y}", str(len(refs)),
                                                    contact.opd_name or title, tickets_param(list(tickets)))),
        tickets))
    report.problems += [f"Daftar terlambat: {p}" for p in sent_now.problems]
    report.deliveries += sent_now.deliveries
    run.entries += sent_now.log
    if not sent_now.delivered and not sent_now.already:  # reported; a rerun of the day sends it
        del report.opd_sent[tab]
        log("ERROR", "overdue list not sent", opd=tab)
        return
    run.entries.append(LogEntry(DIGEST, key, now, f"{len(refs)} aduan terlambat"))


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
