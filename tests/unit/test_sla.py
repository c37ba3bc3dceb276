"""The SLA clock: the edges of 2 x 24 hours, and the working-days mode across weekends, national
holidays and cuti bersama."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from functions import sla
from functions.model import Sla
from tests.fakes.clock import WIB

RECEIVED = datetime(2026, 11, 2, 8, 0, tzinfo=WIB)  # Monday
DUE = RECEIVED + timedelta(hours=48)
MINUTE = timedelta(minutes=1)


@pytest.mark.parametrize("answered,expected", [
    (DUE - MINUTE, Sla.ON_TIME),
    (DUE, Sla.ON_TIME),  # exactly 2 x 24 hours is on time
    (DUE + MINUTE, Sla.LATE),
])
def test_answer_edges(answered, expected):
    assert sla.deadline(RECEIVED, 48) == DUE
    assert sla.judge(DUE, answered, answered) == expected


def test_unanswered_case_is_running_until_the_deadline_has_passed():
    assert sla.judge(DUE, None, DUE) == Sla.RUNNING
    assert sla.judge(DUE, None, DUE + MINUTE) == Sla.OVERDUE


def test_late_answer_after_being_marked_overdue_is_late_not_on_time():
    assert sla.judge(DUE, None, DUE - MINUTE, previous=Sla.OVERDUE) == Sla.OVERDUE
    assert sla.judge(DUE, DUE + timedelta(hours=5), DUE + timedelta(hours=5), previous=Sla.OVERDUE) == Sla.LATE


def test_clock_mode_counts_nights_and_weekends():
    friday = datetime(2026, 11, 6, 15, 0, tzinfo=WIB)
    assert sla.deadline_function(False)(friday, 48) == datetime(2026, 11, 8, 15, 0, tzinfo=WIB)  # Sunday


@pytest.fixture
def working():
    return sla.deadline_function(True, "Asia/Jakarta")


@pytest.mark.parametrize("received,due", [
    # Friday afternoon: the weekend does not count
    (datetime(2026, 11, 6, 15, 0), datetime(2026, 11, 10, 15, 0)),
    # Saturday: the clock starts on Monday 00:00 and runs two whole days
    (datetime(2026, 11, 7, 10, 0), datetime(2026, 11, 11, 0, 0)),
    # Monday morning: an ordinary week
    (datetime(2026, 11, 2, 8, 0), datetime(2026, 11, 4, 8, 0)),
    # Wednesday before Christmas: 24 Dec is cuti bersama, 25 Dec Christmas, then the weekend
    (datetime(2026, 12, 23, 10, 0), datetime(2026, 12, 29, 10, 0)),
    # Nyepi and Idul Fitri 2026: 18-24 March are holidays, cuti bersama or the weekend
    (datetime(2026, 3, 17, 9, 0), datetime(2026, 3, 26, 9, 0)),
    # received on a holiday (Nyepi): the clock starts on the next working day
    (datetime(2026, 3, 19, 9, 0), datetime(2026, 3, 27, 0, 0)),
])
def test_working_days_mode_skips_weekends_holidays_and_cuti_bersama(working, received, due):
    assert working(received.replace(tzinfo=WIB), 48) == due.replace(tzinfo=WIB)


def test_cuti_bersama_comes_from_the_holidays_package():
    calendar = sla.working_calendar("Asia/Jakarta")
    assert not calendar.is_working_day(date(2026, 12, 24))  # Cuti Bersama Natal
    assert not calendar.is_working_day(date(2026, 2, 16))  # Cuti Bersama Imlek
    assert not calendar.is_working_day(date(2026, 8, 17))  # Hari Kemerdekaan
    assert calendar.is_working_day(date(2026, 8, 18))


def test_received_in_another_time_zone_is_counted_in_wib(working):
    friday_17_wib = datetime(2026, 11, 6, 17, 0, tzinfo=WIB)
    in_utc = friday_17_wib.astimezone(ZoneInfo("UTC"))  # 10:00 UTC, the same moment
    assert working(in_utc, 48) == datetime(2026, 11, 10, 17, 0, tzinfo=WIB)


def test_extra_days_off_and_working_days_from_the_table(tmp_path):
    table = tmp_path / "days_off.toml"
    table.write_text(
        'day_off = [{ date = "2026-11-03", name = "Libur daerah" }]\n'
        'working_day = [{ date = "2026-11-07", name = "Sabtu masuk kerja" }]\n', encoding="utf-8")
    off, on = sla.load_days_off(table)
    calendar = sla.WorkingCalendar(WIB, extra_off=off, extra_on=on, holiday_source=lambda year: [])
    # Monday 08:00: Monday counts 16 h, Tuesday is off, Wednesday 24 h, Thursday 8 h
    assert calendar.add(RECEIVED, 48) == datetime(2026, 11, 5, 8, 0, tzinfo=WIB)
    # Friday 12:00: Friday 12 h, Saturday (declared a working day) 24 h, Monday 12 h
    assert calendar.add(datetime(2026, 11, 6, 12, 0, tzinfo=WIB), 48) == datetime(2026, 11, 9, 12, 0, tzinfo=WIB)


def test_shipped_days_off_table_loads():
    off, on = sla.load_days_off()
    assert isinstance(off, frozenset) and isinstance(on, frozenset)


def test_working_time_between_two_moments_skips_the_weekend():
    calendar = sla.working_calendar("Asia/Jakarta")
    start = datetime(2026, 11, 6, 15, 0, tzinfo=WIB)
    assert calendar.working_time(start, datetime(2026, 11, 10, 15, 0, tzinfo=WIB)) == timedelta(hours=48)
