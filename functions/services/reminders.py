"""Reminders before the breach (part of the sweep): the OPD head gets one email per sweep listing
the cases of that OPD due within the next `KMC_REMINDER_HOURS` (12), and the WhatsApp template
`kmc_pengingat_batas` where the Kontak OPD directory has a number (services/notify.py); never
the same case twice.

A reminded case is recorded in the Log (kind `reminder`, key `OPD:TICKET`): one read of the Log
per sweep, one batched Log write after the emails. A forwarded case may be announced again to the
head of the OPD that received it (a different key). Emails go out before the Log write: a crash
in between repeats a reminder rather than losing one.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Mapping

from ..digest.data import CaseRef, Locator, case_ref, no_locator
from ..digest.render import render_reminder
from ..logs import log
from ..mail.port import OutgoingMail
from ..messaging.port import Template
from ..case import Case, all_cases
from ..stores.port import Changes, LogEntry, Workbook
from ..journal import REMINDER, reminder_key, reminder_notice
from .logbook import add_many
from .notify import LANGUAGE, Delivery, HeadNotifier, Notice, tickets_param


@dataclass
class ReminderReport:
    sent: dict[str, list[str]] = field(default_factory=dict)  # OPD -> tickets
    skipped_no_email: dict[str, int] = field(default_factory=dict)  # OPD -> due cases without a head email
    problems: list[str] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)


def due_soon(tabs: Mapping[str, list[Case]], now: datetime, hours: float) -> dict[str, list[Case]]:
    """Cases owed an answer whose deadline falls in (now, now + hours], per tab, soonest first
    (a withdrawn case is owed nothing: no reminder)."""
    out: dict[str, list[Case]] = {}
    for case in all_cases(tabs):
        if case.due_within(now, hours):
            out.setdefault(case.tab, []).append(case)
    for cases in out.values():
        cases.sort(key=lambda c: c.deadline)
    return out


def send_reminders(
    workbook: Workbook,
    notify: HeadNotifier,
    *,
    tabs: Mapping[str, list[Case]],
    now: datetime,
    hours: float,
    titles: Mapping[str, str],
    sheet_url: str,
    locate: Locator = no_locator,
    dry_run: bool = False,
    changes: Changes | None = None,
) -> ReminderReport:
    """Remind each OPD head (email, WhatsApp) of the cases due within `hours`, each case once
    (Log `reminder`). The Log entries join `changes` when given (the sweep's one commit), else
    are written here."""
    report = ReminderReport()
    candidates = due_soon(tabs, now, hours)
    if not candidates:
        return report
    done = {e.key for e in workbook.log_entries(REMINDER)}
    entries: list[LogEntry] = []
    for tab, rows in candidates.items():
        fresh = [c for c in rows if reminder_key(tab, c.ticket_id) not in done]
        if not fresh:
            continue
        contact = notify.directory.get(tab)
        if contact is None or not contact.reachable:
            report.skipped_no_email[tab] = len(fresh)
            continue
        title = titles.get(tab, tab)
        cases: list[CaseRef] = [case_ref(tab, title, c, now, locate) for c in fresh]
        tickets = [c.ticket_id for c in cases]
        if dry_run:
            report.sent[tab] = tickets
            continue
        subject, text, html = render_reminder(title, cases, now=now, hours=hours, sheet_url=sheet_url)
        nearest = cases[0].deadline.astimezone(now.tzinfo)
        template = Template("kmc_pengingat_batas", LANGUAGE, (
            contact.addressee, str(len(cases)), contact.opd_name or title, f"{hours:g}",
            f"{nearest:%d/%m/%Y %H:%M} WIB", tickets_param(tickets)))
        notice = Notice(tab, reminder_notice(tab, tickets),
                        lambda to, own, s=subject, t=text, h=html, k=tab: OutgoingMail(
                            to, s, t, h, tag=f"pengingat-{k}"),
                        template, tuple(tickets))
        sent = notify.send(notice)
        report.problems += [f"Pengingat: {p}" for p in sent.problems]
        report.deliveries += sent.deliveries
        entries += sent.log
        if not sent.delivered and not sent.already:
            log("ERROR", "reminder not sent", opd=tab)
            continue
        report.sent[tab] = tickets
        entries += [LogEntry(REMINDER, reminder_key(tab, t), now, f"batas {c.deadline:%Y-%m-%d %H:%M}")
                    for t, c in zip(tickets, cases)]
    if entries and changes is not None:
        changes.log += entries
    elif entries:
        add_many(workbook, entries)
    return report
