"""The scheduled jobs as the entry points and the CLI call them: one function per job."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ..stores.port import LinksRows
from .daily import DailyReport, run_daily
from .lease import exclusive
from .notify import channels_summary, directory_of, notifier, send_late_fallbacks
from .reminders import send_reminders
from .setup import ensure_ready
from .sweep import SweepReport, plan_sweep, settle_sweep

if TYPE_CHECKING:
    from .context import Services


def deadline_of(svc: "Services"):
    """The deadline rule of the settings (clock hours, or working days: KMC_SLA_WORKING_HOURS)."""
    return svc.policy.deadline


def locator(svc: "Services"):
    """(tab, ticket) -> (row URL or "", hint): the store's optional `row_link`, else a fallback."""
    titles, workbook = svc.titles, svc.workbook
    if isinstance(workbook, LinksRows):
        return lambda tab, ticket: (workbook.row_link(tab, ticket) or svc.sheet_url, f"tab {titles.get(tab, tab)}")
    if svc.settings.backend == "google":
        return lambda tab, ticket: (svc.sheet_url, f"tab {titles.get(tab, tab)}, cari {ticket}")
    return lambda tab, ticket: ("", f"python main.py sheet show {tab}")


# How long a run holds its lease on a store without a lock of its own (Google Sheets); a run
# that crashed is overtaken after this (services/lease.py).
SWEEP_LEASE = timedelta(minutes=20)
DAILY_LEASE = timedelta(minutes=60)
MEDIA_LEASE = timedelta(minutes=30)


def sweep_job(svc: "Services", now: datetime | None = None, *, dry_run: bool = False) -> SweepReport:
    """read_all, judge, remind, answer citizens, then ONE commit of everything written; one
    sweep at a time (an overlapping one does nothing, so no citizen is answered twice)."""
    now = now or svc.now()
    if dry_run:
        return _sweep(svc, now, dry_run=True)
    with exclusive(svc.workbook, "sweep", now=now, ttl=SWEEP_LEASE) as held:
        return _sweep(svc, now, lease=held) if held else SweepReport(busy=True)


def _sweep(svc: "Services", now: datetime, *, dry_run: bool = False, lease=None) -> SweepReport:
    if not dry_run:
        ensure_ready(svc)
    tabs = svc.workbook.read_all()  # one read serves the sweep, the reminders and the replies
    plan = plan_sweep(tabs, now=now, sla_hours=svc.settings.sla_hours, dry_run=dry_run,
                      deadline=deadline_of(svc), titles=svc.titles)
    reminders = send_reminders(
        svc.workbook, notifier(svc, now), tabs=tabs, now=now, hours=svc.settings.reminder_hours,
        titles=svc.titles, sheet_url=svc.sheet_url, locate=locator(svc),
        dry_run=dry_run, changes=plan.changes,
    )
    late = send_late_fallbacks(svc, now) if not dry_run else None  # WhatsApp Meta failed after accepting
    if late is not None:
        plan.changes.log += late.log
    from .replies import send_responses  # OPD answers to citizens on WhatsApp / Messenger / Instagram

    replies = send_responses(svc, now, dry_run=dry_run, tabs=tabs, changes=plan.changes)
    if lease is not None:
        lease.ride(plan.changes.log)  # the commit is the sweep's last write: the release rides in it
    report = plan.report if dry_run else settle_sweep(svc.workbook, plan, svc.workbook.commit(plan.changes))
    report.reminded = reminders.sent
    report.reminded_how = channels_summary(reminders.deliveries)
    report.problems += reminders.problems + (late.problems if late is not None else [])
    report.replies = replies
    report.dry_run = dry_run
    return report


def daily_job(svc: "Services", now: datetime | None = None, *, dry_run: bool = False) -> DailyReport:
    """The daily; one at a time, so overlapping runs send one digest per date."""
    now = now or svc.now()
    if dry_run:
        return _daily(svc, now, dry_run=True)
    with exclusive(svc.workbook, "daily", now=now, ttl=DAILY_LEASE) as held:
        return _daily(svc, now, lease=held) if held else DailyReport(now.date().isoformat(), busy=True)


def _daily(svc: "Services", now: datetime, *, dry_run: bool = False, lease=None) -> DailyReport:
    if not dry_run:
        ensure_ready(svc)
    to = svc.settings.digest_to or ("pimpinan@localhost",)
    directory = directory_of(svc, fresh=True)  # the digest lists the tab's broken rows every day
    closing: list = []
    if lease is not None:
        lease.ride(closing)  # the digest's Log write is the daily's last: the release rides in it
    return run_daily(
        svc.workbook, svc.mailer, now=now, sla_hours=svc.settings.sla_hours, titles=svc.titles,
        digest_to=to, sheet_url=svc.sheet_url, dry_run=dry_run, notify=notifier(svc, now),
        notes=[*directory.problems, *intake_notes(svc, now)], locate=locator(svc), deadline=deadline_of(svc),
        mail_from=svc.settings.mail_from,
        learning=lambda tabs: learn_routing_step(svc, tabs, now, dry_run=dry_run), closing=closing,
    )


def media_job(svc: "Services", now: datetime | None = None, *, dry_run: bool = False):
    """The hourly media run (services/media.py), one at a time: overlapping runs alerted an OPD
    head about the same news item once per run."""
    from .media import media_job as run

    now = now or svc.now()
    if dry_run:
        return run(svc, now, dry_run=True)
    with exclusive(svc.workbook, "media", now=now, ttl=MEDIA_LEASE) as held:
        return run(svc, now) if held else Busy("media")


class Busy:
    """What a job that found another run of itself in progress reports: it did nothing."""

    busy = True

    def __init__(self, job: str):
        self.job = job
        self.problems: list[str] = []

    def summary(self) -> str:
        return f"{self.job}: {self.job} lain sedang berjalan; yang ini tidak melakukan apa pun"


def learn_routing_step(svc: "Services", tabs: dict, now: datetime, *, dry_run: bool = False) -> str:
    """Learn routing from the settled cases of the daily job's read; the digest's line."""
    from ..routing_model import load_thresholds
    from .route_explain import current_rules
    from .route_learning import learn_routing

    rules, _ = current_rules(svc.workbook)
    known = frozenset(o.key for o in svc.schema.opds)
    report = learn_routing(svc.workbook, tabs, rules, load_thresholds(), now=now, known_opds=known,
                           dry_run=dry_run)
    return report.summary()


def intake_notes(svc: "Services", now: datetime) -> list[str]:
    """The intake queue's "catatan sistem": messages waiting > 15 min, dead letters."""
    from .intake_worker import queue_notes

    return queue_notes(svc.queue, now)
