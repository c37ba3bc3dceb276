"""The scheduled jobs as the entry points and the CLI call them: one function per job."""
from __future__ import annotations

from datetime import datetime

from .daily import DailyReport, run_daily
from .sweep import SweepReport, run_sweep


def sweep_job(svc, now: datetime | None = None, *, dry_run: bool = False) -> SweepReport:
    now = now or svc.now()
    return run_sweep(svc.workbook, now=now, sla_hours=svc.settings.sla_hours, dry_run=dry_run)


def daily_job(svc, now: datetime | None = None, *, dry_run: bool = False) -> DailyReport:
    now = now or svc.now()
    to = svc.settings.digest_to or ("pimpinan@localhost",)
    return run_daily(
        svc.workbook, svc.mailer, now=now, sla_hours=svc.settings.sla_hours, titles=svc.titles,
        digest_to=to, sheet_url=svc.sheet_url, dry_run=dry_run,
    )
