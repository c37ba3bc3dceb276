"""The 2 x 24 hour clock. Pure: `now` is always passed in.

Two ways to count the SLA hours (`KMC_SLA_WORKING_HOURS`):

- clock hours (default): deadline = received + 48 h, nights and weekends included;
- working days: the clock runs only on working days in WIB — Monday to Friday, whole days
  (00:00–24:00), minus Indonesian national holidays and *cuti bersama* (the `holidays` package,
  categories `public` + `government`) and the extra days listed in `sheets_schema/days_off.toml`.
  48 h is then two full working days: a complaint that arrives on Friday 15:00 is due on
  Tuesday 15:00; one that arrives on Saturday is due at the end of Tuesday (Wednesday 00:00).

Whole days rather than office hours (07:30–16:00) keep "2 x 24 jam" meaning two days: 48 office
hours would be six working days. The deadline is always computed once and written in the row.
"""
from __future__ import annotations

import tomllib
from datetime import date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Callable, Iterable
from zoneinfo import ZoneInfo

from .model import Sla

DAYS_OFF_FILE = Path(__file__).resolve().parent.parent / "sheets_schema" / "days_off.toml"

Deadline = Callable[[datetime, float], datetime]


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


# -- working days -----------------------------------------------------------------------------

def load_days_off(path: Path = DAYS_OFF_FILE) -> tuple[frozenset[date], frozenset[date]]:
    """(extra days off, extra working days) from the shipped table; missing file = none."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        return frozenset(), frozenset()
    off = frozenset(date.fromisoformat(str(d["date"])) for d in data.get("day_off", ()))
    on = frozenset(date.fromisoformat(str(d["date"])) for d in data.get("working_day", ()))
    return off, on


class WorkingCalendar:
    """Monday–Friday in one time zone, minus holidays; adds SLA hours counting working days only."""

    def __init__(self, tz: ZoneInfo, *, extra_off: Iterable[date] = (), extra_on: Iterable[date] = (),
                 holiday_source: Callable[[int], Iterable[date]] | None = None):
        self.tz = tz
        self.extra_off = frozenset(extra_off)
        self.extra_on = frozenset(extra_on)
        self._source = holiday_source or indonesian_holidays
        self._years: dict[int, frozenset[date]] = {}

    def holidays(self, year: int) -> frozenset[date]:
        if year not in self._years:
            self._years[year] = frozenset(self._source(year))
        return self._years[year]

    def is_working_day(self, day: date) -> bool:
        if day in self.extra_on:
            return True
        if day.weekday() >= 5 or day in self.extra_off:
            return False
        return day not in self.holidays(day.year)

    def add(self, start: datetime, hours: float) -> datetime:
        """`start` + `hours` counted only on working days; the result is in the calendar's zone."""
        if hours <= 0:
            return start.astimezone(self.tz)
        remaining = timedelta(hours=hours)
        current = start.astimezone(self.tz)
        for _ in range(3660):  # ten years of days: a bound, never reached with sane settings
            day = current.date()
            next_midnight = datetime.combine(day + timedelta(days=1), time(0), self.tz)
            if self.is_working_day(day):
                available = next_midnight - current
                if remaining <= available:
                    return current + remaining
                remaining -= available
            current = next_midnight
        raise ValueError("no working days found within ten years; check sheets_schema/days_off.toml")

    def working_time(self, start: datetime, end: datetime) -> timedelta:
        """How much working time lies between two moments (0 when end <= start)."""
        total = timedelta()
        current = start.astimezone(self.tz)
        end = end.astimezone(self.tz)
        while current < end:
            next_midnight = datetime.combine(current.date() + timedelta(days=1), time(0), self.tz)
            stop = min(end, next_midnight)
            if self.is_working_day(current.date()):
                total += stop - current
            current = stop
        return total


def indonesian_holidays(year: int) -> list[date]:
    """National holidays and cuti bersama (the `government` category) of one year."""
    import holidays  # ~0.1 s to import; only the working-days mode needs it

    return list(holidays.country_holidays("ID", years=year, categories=("public", "government")).keys())


@cache
def working_calendar(timezone: str = "Asia/Jakarta") -> WorkingCalendar:
    off, on = load_days_off()
    return WorkingCalendar(ZoneInfo(timezone), extra_off=off, extra_on=on)


def deadline_function(working_days: bool, timezone: str = "Asia/Jakarta") -> Deadline:
    """The deadline rule the settings ask for (`KMC_SLA_WORKING_HOURS`)."""
    if not working_days:
        return deadline
    calendar = working_calendar(timezone)
    return calendar.add
