"""The scheduled jobs as the entry points and the CLI call them: one function per job."""
from __future__ import annotations

from datetime import datetime

from .daily import DailyReport, run_daily
from .notify import channels_summary, directory_of, notifier, send_late_fallbacks
from .reminders import send_reminders
from .setup import ensure_ready
from .sweep import SweepReport, plan_sweep, settle_sweep


def deadline_of(svc):
    """The deadline rule of the settings (clock hours, or working days: KMC_SLA_WORKING_HOURS)."""
    return svc.policy.deadline


def locator(svc):
    """(tab, ticket) -> (row URL or "", hint): the store's optional `row_link`, else a fallback."""
    row_link = getattr(svc.workbook, "row_link", None)
    titles = svc.titles
    if callable(row_link):
        return lambda tab, ticket: (row_link(tab, ticket) or svc.sheet_url, f"tab {titles.get(tab, tab)}")
    if svc.settings.backend == "google":
        return lambda tab, ticket: (svc.sheet_url, f"tab {titles.get(tab, tab)}, cari {ticket}")
    return lambda tab, ticket: ("", f"python main.py sheet show {tab}")


def sweep_job(svc, now: datetime | None = None, *, dry_run: bool = False) -> SweepReport:
    """read_all, judge, remind, answer citizens, then ONE commit of everything written."""
    now = now or svc.now()
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
    report = plan.report if dry_run else settle_sweep(svc.workbook, plan, svc.workbook.commit(plan.changes))
    report.reminded = reminders.sent
    report.reminded_how = channels_summary(reminders.deliveries)
    report.problems += reminders.problems + (late.problems if late is not None else [])
    report.replies = replies
    return report


def daily_job(svc, now: datetime | None = None, *, dry_run: bool = False) -> DailyReport:
    now = now or svc.now()
    if not dry_run:
        ensure_ready(svc)
    to = svc.settings.digest_to or ("pimpinan@localhost",)
    directory = directory_of(svc, fresh=True)  # the digest lists the tab's broken rows every day
    return run_daily(
        svc.workbook, svc.mailer, now=now, sla_hours=svc.settings.sla_hours, titles=svc.titles,
        digest_to=to, sheet_url=svc.sheet_url, dry_run=dry_run, notify=notifier(svc, now),
        notes=[*directory.problems, *intake_notes(svc, now)], locate=locator(svc), deadline=deadline_of(svc),
        mail_from=svc.settings.mail_from,
    )


def intake_notes(svc, now: datetime) -> list[str]:
    """The intake queue's "catatan sistem": messages waiting > 15 min, dead letters."""
    from .intake_worker import queue_notes

    return queue_notes(svc.queue, now) if getattr(svc, "queue", None) is not None else []
