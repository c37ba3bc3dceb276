"""Reminders before the breach: the OPD head hears once about each case due within 12 hours."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from functions.bootstrap import build
from functions.config import Settings
from functions.services.jobs import sweep_job
from functions.services.staff import staff_edit
from functions.services.intake import intake
from tests.conftest import complaint
from tests.fakes.mailbox import RecordingMailer

HEADS = {"PUTR": "kadis.putr@ketapangkab.go.id", "DLH": "kadis.dlh@ketapangkab.go.id, sekdin.dlh@ketapangkab.go.id"}


@pytest.fixture
def mailer():
    return RecordingMailer()


@pytest.fixture
def rsvc(tmp_path, schema, clock, mailer):
    """Services with head emails for PUTR and DLH (the shipped opds.toml leaves them empty)."""
    opds = tuple(replace(o, head_email=HEADS.get(o.key, "")) for o in schema.opds)
    settings = Settings.from_env({"KMC_DATA_DIR": str(tmp_path / "data")})
    svc = build(settings, clock=clock, schema=replace(schema, opds=opds), mailer=mailer)
    svc.workbook.bootstrap()
    return svc


def test_head_gets_one_reminder_per_case_within_twelve_hours_of_the_deadline(rsvc, clock, mailer):
    start = clock()
    first = intake(rsvc, complaint("jalan rusak parah banyak lubang", clock, source_id="a"))
    clock.advance(hours=3)
    second = intake(rsvc, complaint("jembatan kayu di desa kami patah", clock, source_id="b"))

    clock.set(start + timedelta(hours=35, minutes=59))  # 12 h 1 min before the first deadline
    assert sweep_job(rsvc).reminded == {} and mailer.sent == []

    clock.set(start + timedelta(hours=36))  # exactly 12 h before: due within the window
    report = sweep_job(rsvc)
    assert report.reminded == {"PUTR": [first.ticket_id]}
    (mail,) = mailer.sent
    assert mail.to == ("kadis.putr@ketapangkab.go.id",)
    assert first.ticket_id in mail.text and first.ticket_id in mail.html and second.ticket_id not in mail.text
    assert "Pengingat" in mail.subject and "jatuh tempo" in mail.text.lower() and "batas 04/11 08.00 WIB" in mail.text

    clock.advance(minutes=15)
    assert sweep_job(rsvc).reminded == {} and len(mailer.sent) == 1  # never the same case twice

    clock.set(start + timedelta(hours=39, minutes=15))  # the second case enters its last 12 h
    assert sweep_job(rsvc).reminded == {"PUTR": [second.ticket_id]}
    assert first.ticket_id not in mailer.sent[-1].text
    assert {e.key for e in rsvc.workbook.log_entries("reminder")} == {
        f"PUTR:{first.ticket_id}", f"PUTR:{second.ticket_id}"}


def test_answered_overdue_and_other_opds_cases_are_not_in_the_reminder(rsvc, clock, mailer):
    answered = intake(rsvc, complaint("jalan rusak parah", clock, source_id="a"))
    waiting = intake(rsvc, complaint("jalan berlubang di Sandai", clock, source_id="b"))
    garbage = intake(rsvc, complaint("sampah menumpuk di pasar tidak diangkut", clock, source_id="c"))
    lamp = intake(rsvc, complaint("lampu PJU jalan mati sudah seminggu", clock, source_id="d"))  # DISHUB: no head email
    staff_edit(rsvc.workbook, rsvc.schema, answered.ticket_id, ["response=Sudah dijadwalkan."], "KMC")
    clock.advance(hours=40)
    report = sweep_job(rsvc)
    assert report.reminded == {"PUTR": [waiting.ticket_id], "DLH": [garbage.ticket_id]}
    assert [m.to for m in mailer.sent if "DLH" in m.subject] == [
        ("kadis.dlh@ketapangkab.go.id", "sekdin.dlh@ketapangkab.go.id")]
    assert not any(lamp.ticket_id in m.text for m in mailer.sent)
    clock.advance(hours=10)  # past the deadline: overdue cases are the daily job's business
    assert sweep_job(rsvc).reminded == {}


def test_a_failed_reminder_is_tried_again_at_the_next_sweep_and_others_still_go(rsvc, clock, mailer):
    road = intake(rsvc, complaint("jalan rusak parah", clock, source_id="a"))
    garbage = intake(rsvc, complaint("sampah menumpuk di pasar tidak diangkut", clock, source_id="c"))
    mailer.failing = {"kadis.putr@ketapangkab.go.id"}
    clock.advance(hours=40)
    report = sweep_job(rsvc)
    assert report.reminded == {"DLH": [garbage.ticket_id]} and any("PUTR" in p for p in report.problems)
    mailer.failing = set()
    clock.advance(minutes=15)
    assert sweep_job(rsvc).reminded == {"PUTR": [road.ticket_id]}


def test_a_forwarded_case_is_announced_to_the_head_of_the_opd_that_now_has_it(rsvc, clock, mailer):
    receipt = intake(rsvc, complaint("jalan rusak parah", clock))
    clock.advance(hours=37)
    assert sweep_job(rsvc).reminded == {"PUTR": [receipt.ticket_id]}
    staff_edit(rsvc.workbook, rsvc.schema, receipt.ticket_id, ["forward_to=DLH"], "KMC")
    sweep_job(rsvc)
    clock.advance(hours=37)
    assert sweep_job(rsvc).reminded == {"DLH": [receipt.ticket_id]}


def test_reminder_hours_are_configurable(tmp_path, schema, clock, mailer):
    opds = tuple(replace(o, head_email=HEADS.get(o.key, "")) for o in schema.opds)
    settings = Settings.from_env({"KMC_DATA_DIR": str(tmp_path / "d"), "KMC_REMINDER_HOURS": "4"})
    svc = build(settings, clock=clock, schema=replace(schema, opds=opds), mailer=mailer)
    svc.workbook.bootstrap()
    receipt = intake(svc, complaint("jalan rusak parah", clock))
    clock.advance(hours=40)
    assert sweep_job(svc).reminded == {}
    clock.advance(hours=4)
    assert sweep_job(svc).reminded == {"PUTR": [receipt.ticket_id]}
    assert "4 jam" in mailer.sent[0].subject


def test_shipped_schema_has_no_head_emails_so_nobody_is_mailed_by_surprise(svc, clock):
    assert all(not o.head_email for o in svc.schema.opds)
    intake(svc, complaint("jalan rusak parah", clock))
    clock.advance(hours=40)
    assert sweep_job(svc).reminded == {}
