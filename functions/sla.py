"""The 2 x 24 hour clock. Pure: `now` is always passed in."""
from __future__ import annotations

from datetime import datetime, timedelta

from .model import Sla


def deadline(received_at: datetime, hours: float) -> datetime:
    """Received + SLA clock hours."""
    return received_at + timedelta(hours=hours)


def judge(deadline_at: datetime, responded_at: datetime | None, now: datetime, previous: str = "") -> Sla:
    """The SLA state of one case.

    A response at or before the deadline is on time (exactly 48 h counts as on time). A case
    marked `Terlambat` stays late after a late answer, so the evaluation sees it.
    """
    if responded_at is not None:
        return Sla.ON_TIME if responded_at <= deadline_at else Sla.LATE
    if now > deadline_at or previous == Sla.OVERDUE:
        return Sla.OVERDUE
    return Sla.RUNNING
