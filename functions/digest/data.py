"""Digest numbers from the rows of every tab. Pure: rows and `now` in, a Digest out."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from ..model import Sla
from ..text import excerpt


@dataclass(frozen=True)
class OpdLine:
    key: str
    title: str
    total: int  # cases ever received in this tab
    new_yesterday: int
    on_time: int
    late: int
    overdue: int  # unanswered past deadline
    running: int  # unanswered, still within deadline

    @property
    def answered(self) -> int:
        return self.on_time + self.late

    @property
    def compliance(self) -> float | None:
        """On-time share of cases whose deadline has passed or that were answered."""
        judged = self.on_time + self.late + self.overdue
        return None if judged == 0 else self.on_time / judged


@dataclass(frozen=True)
class OverdueCase:
    ticket_id: str
    opd: str
    opd_title: str
    received_at: datetime
    deadline: datetime
    age_hours: int
    category: str
    location: str
    summary: str


@dataclass
class Digest:
    day: date  # the report date (WIB)
    generated_at: datetime
    lines: list[OpdLine]
    overdue: list[OverdueCase]
    problems: list[str] = field(default_factory=list)

    @property
    def totals(self) -> dict[str, int]:
        keys = ("total", "new_yesterday", "on_time", "late", "overdue", "running")
        return {k: sum(getattr(line, k) for line in self.lines) for k in keys}

    @property
    def compliance(self) -> float | None:
        t = self.totals
        judged = t["on_time"] + t["late"] + t["overdue"]
        return None if judged == 0 else t["on_time"] / judged


def build_digest(tabs: dict[str, list[dict]], titles: dict[str, str], now: datetime) -> Digest:
    today = now.date()
    yesterday = today - timedelta(days=1)
    lines: list[OpdLine] = []
    overdue: list[OverdueCase] = []
    for key, rows in tabs.items():
        counts = dict(total=0, new_yesterday=0, on_time=0, late=0, overdue=0, running=0)
        for row in rows:
            if not str(row.get("ticket_id") or "").strip():
                continue
            counts["total"] += 1
            received = row.get("received_at")
            if isinstance(received, datetime) and received.astimezone(now.tzinfo).date() == yesterday:
                counts["new_yesterday"] += 1
            state = str(row.get("sla") or "")
            if state == Sla.ON_TIME:
                counts["on_time"] += 1
            elif state == Sla.LATE:
                counts["late"] += 1
            elif state == Sla.OVERDUE:
                counts["overdue"] += 1
                overdue.append(_overdue_case(key, titles.get(key, key), row, now))
            else:
                counts["running"] += 1
        lines.append(OpdLine(key, titles.get(key, key), **counts))
    overdue.sort(key=lambda c: c.received_at)
    return Digest(today, now, lines, overdue)


def _overdue_case(key: str, title: str, row: dict, now: datetime) -> OverdueCase:
    received = row.get("received_at") if isinstance(row.get("received_at"), datetime) else now
    due = row.get("deadline") if isinstance(row.get("deadline"), datetime) else now
    return OverdueCase(
        ticket_id=row["ticket_id"],
        opd=key,
        opd_title=title,
        received_at=received,
        deadline=due,
        age_hours=int((now - received).total_seconds() // 3600),
        category=str(row.get("category") or ""),
        location=str(row.get("location") or ""),
        summary=excerpt(str(row.get("text") or ""), 80),
    )
