"""The sweep on the embedded store: responses stamped and judged, forwarding (with chains and
mistakes), erased answers reported, and the working-days deadline written in the row."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from functions.bootstrap import build
from functions.config import Settings
from functions.model import Sla, Status
from functions.services.jobs import daily_job, sweep_job
from functions.services.staff import staff_edit
from functions.stores.port import CellUpdate
from functions.services.intake import intake
from tests.conftest import complaint
from tests.fakes.clock import WIB, FakeClock
from tests.fakes.mailbox import RecordingMailer


def edit(svc, ticket, **values):
    staff_edit(svc.workbook, svc.schema, ticket, [f"{k}={v}" for k, v in values.items()], "KMC")


def case(svc, ticket):
    return svc.workbook.find(ticket)


def test_forward_moves_the_case_with_a_fresh_deadline_and_keeps_its_history(svc, clock):
    received = clock()
    receipt = intake(svc, complaint("jalan rusak parah banyak lubang", clock))
    assert receipt.opd == "PUTR"
    clock.advance(hours=5)
    edit(svc, receipt.ticket_id, status="Bukan Wewenang", response="Ini urusan Dinkes, bukan jalan.",
         responder="Andi", forward_to="DINKES")
    report = sweep_job(svc)

    moved = case(svc, receipt.ticket_id)
    r = moved.row
    assert moved.tab == "DINKES"
    assert [(f.ticket_id, f.from_tab, f.to_tab) for f in report.forwarded] == [(receipt.ticket_id, "PUTR", "DINKES")]
    assert r["status"] == Status.NEW and r["forward_to"] == "" and r["response"] == "" and r["responder"] == ""
    assert r["received_at"] == received  # overall age kept
    assert r["deadline"] == clock() + timedelta(hours=48)  # fresh 2 x 24 h for Dinkes
    assert r["sla"] == Sla.RUNNING and r["responded_at"] is None and r["forwarded_at"] == clock()
    assert r["forward_history"] == f"{clock():%Y-%m-%d %H:%M} PUTR → DINKES"
    assert "Diteruskan dari PUTR" in r["note"] and "Ini urusan Dinkes" in r["note"]
    assert report.responded == []  # "bukan wewenang" is not the answer to the citizen
    assert receipt.ticket_id not in [row["ticket_id"] for row in svc.workbook.read_all()["PUTR"]]


def test_forward_chain_keeps_every_move_and_the_first_opd(svc, clock):
    receipt = intake(svc, complaint("sampah menumpuk di pasar", clock))
    first_tab = receipt.opd
    for target in ("dinkes", "TRIASE", "Satpol PP"):  # key in any case, or the tab title
        clock.advance(hours=2)
        edit(svc, receipt.ticket_id, forward_to=target)
        sweep_job(svc)
    r = case(svc, receipt.ticket_id)
    assert r.tab == "SATPOLPP"
    moves = [entry.split(" ", 2)[2] for entry in r.row["forward_history"].split("; ")]
    assert moves == [f"{first_tab} → DINKES", "DINKES → TRIASE", "TRIASE → SATPOLPP"]
    assert r.row["deadline"] == clock() + timedelta(hours=48)
    clock.advance(hours=1)
    edit(svc, receipt.ticket_id, response="Sudah ditertibkan.", status="Selesai")
    assert sweep_job(svc).responded == [receipt.ticket_id]
    assert case(svc, receipt.ticket_id).row["sla"] == Sla.ON_TIME


def test_forwarding_an_overdue_case_is_marked_in_the_history(svc, clock):
    receipt = intake(svc, complaint("jalan rusak", clock))
    clock.advance(hours=60)
    daily_job(svc)
    edit(svc, receipt.ticket_id, forward_to="DLH")
    sweep_job(svc)
    r = case(svc, receipt.ticket_id).row
    assert r["forward_history"].endswith("PUTR → DLH (lewat batas)") and r["sla"] == Sla.RUNNING


def test_unknown_forward_key_is_reported_in_the_row_and_the_digest_and_the_case_stays(svc, clock):
    receipt = intake(svc, complaint("jalan rusak", clock))
    edit(svc, receipt.ticket_id, forward_to="Dinas Jalan Raya")
    first = sweep_job(svc)
    again = sweep_job(svc)
    stored = case(svc, receipt.ticket_id)
    assert stored.tab == "PUTR" and stored.row["forward_to"] == "Dinas Jalan Raya"
    assert "tidak dikenal" in stored.row["note"]
    assert len(first.problems) == 1 and again.problems == []  # reported once, not every 15 minutes
    clock.advance(hours=20)
    digest = daily_job(svc).digest
    assert any(receipt.ticket_id in p and "tidak dikenal" in p for p in digest.problems)
    clock.advance(days=1)
    assert not any(receipt.ticket_id in p for p in daily_job(svc).digest.problems)  # once in the digest too


def test_forward_to_its_own_tab_is_ignored_with_a_note(svc, clock):
    receipt = intake(svc, complaint("jalan rusak", clock))
    edit(svc, receipt.ticket_id, forward_to="PUTR")
    report = sweep_job(svc)
    stored = case(svc, receipt.ticket_id)
    assert stored.tab == "PUTR" and report.forwarded == [] and "sudah berada di tab ini" in stored.row["note"]


def test_forward_survives_staff_sorting_the_tab(svc, clock):
    tickets = [intake(svc, complaint(f"jalan rusak nomor {i}", clock, source_id=f"m{i}")).ticket_id
               for i in range(4)]
    edit(svc, tickets[2], forward_to="DISHUB")
    svc.workbook.sort_tab("PUTR", "text", reverse=True)
    sweep_job(svc)
    assert case(svc, tickets[2]).tab == "DISHUB"
    assert {case(svc, t).tab for t in tickets if t != tickets[2]} == {"PUTR"}


def test_erased_answer_keeps_the_first_time_and_reaches_the_digest_once(svc, clock):
    receipt = intake(svc, complaint("KTP belum jadi", clock))
    clock.advance(hours=3)
    edit(svc, receipt.ticket_id, response="Silakan ambil di kantor.")
    sweep_job(svc)
    first = case(svc, receipt.ticket_id).row["responded_at"]
    clock.advance(hours=2)
    edit(svc, receipt.ticket_id, response="")
    report = sweep_job(svc)
    assert report.erased == [receipt.ticket_id] and len(report.problems) == 1
    clock.advance(hours=1)
    edit(svc, receipt.ticket_id, response="Maaf, blanko habis; KTP jadi minggu depan.")
    assert sweep_job(svc).responded == []  # the first time stays the time of response
    r = case(svc, receipt.ticket_id).row
    assert r["responded_at"] == first and r["sla"] == Sla.ON_TIME
    clock.set(clock().replace(hour=7) + timedelta(days=1))
    problems = daily_job(svc).digest.problems
    assert [p for p in problems if receipt.ticket_id in p and "dihapus" in p]


def test_missing_deadline_cell_is_computed_and_written(svc, clock):
    receipt = intake(svc, complaint("lampu jalan mati", clock))
    svc.workbook.update([CellUpdate(receipt.ticket_id, {"deadline": None})])  # e.g. cleared by a sheet accident
    sweep_job(svc)
    assert case(svc, receipt.ticket_id).row["deadline"] == clock() + timedelta(hours=48)


def test_dry_run_changes_nothing(svc, clock):
    receipt = intake(svc, complaint("jalan rusak", clock))
    edit(svc, receipt.ticket_id, forward_to="DLH", response="bukan kami")
    report = sweep_job(svc, dry_run=True)
    assert [f.to_tab for f in report.forwarded] == ["DLH"]
    stored = case(svc, receipt.ticket_id)
    assert stored.tab == "PUTR" and stored.row["forward_to"] == "DLH"


# -- working-days mode ---------------------------------------------------------------------------

@pytest.fixture
def working_svc(tmp_path):
    settings = Settings.from_env({"KMC_DATA_DIR": str(tmp_path / "data"), "KMC_SLA_WORKING_HOURS": "true"})
    clock = FakeClock(datetime(2026, 12, 23, 10, 0, tzinfo=WIB))  # Wednesday before Christmas
    services = build(settings, clock=clock, mailer=RecordingMailer())
    services.workbook.bootstrap()
    return services, clock


@pytest.mark.parametrize("answer_at,expected", [
    (datetime(2026, 12, 29, 10, 0), Sla.ON_TIME),  # exactly at the working-days deadline
    (datetime(2026, 12, 29, 10, 1), Sla.LATE),
    (datetime(2026, 12, 26, 10, 0), Sla.ON_TIME),  # 72 clock hours, but over the holiday
])
def test_working_days_deadline_is_written_and_judged(working_svc, answer_at, expected):
    svc, clock = working_svc
    receipt = intake(svc, complaint("jalan rusak", clock))
    due = datetime(2026, 12, 29, 10, 0, tzinfo=WIB)  # 24 Dec cuti bersama, 25 Christmas, weekend
    assert receipt.deadline == due and case(svc, receipt.ticket_id).row["deadline"] == due
    clock.set(answer_at.replace(tzinfo=WIB))
    edit(svc, receipt.ticket_id, response="Sudah diperbaiki.")
    sweep_job(svc)
    assert case(svc, receipt.ticket_id).row["sla"] == expected


def test_working_days_mode_gives_a_forwarded_case_a_working_days_deadline(working_svc):
    svc, clock = working_svc
    receipt = intake(svc, complaint("jalan rusak", clock))
    clock.set(datetime(2026, 12, 31, 15, 0, tzinfo=WIB))  # Thursday
    edit(svc, receipt.ticket_id, forward_to="DLH")
    sweep_job(svc)
    # Thu 9 h; 1 Jan New Year; the weekend; Mon 4 Jan 24 h; 5 Jan Isra Mi'raj; Wed 6 Jan 15 h
    assert case(svc, receipt.ticket_id).row["deadline"] == datetime(2027, 1, 6, 15, 0, tzinfo=WIB)


def test_working_days_daily_does_not_mark_overdue_over_the_holiday(working_svc):
    svc, clock = working_svc
    receipt = intake(svc, complaint("jalan rusak", clock))
    clock.set(datetime(2026, 12, 28, 7, 0, tzinfo=WIB))  # 117 clock hours later, still within 2 working days
    assert daily_job(svc).marked_overdue == []
    clock.set(datetime(2026, 12, 30, 7, 0, tzinfo=WIB))
    assert daily_job(svc).marked_overdue == [receipt.ticket_id]


def test_titles_of_a_replaced_schema_resolve_forwarding(tmp_path, schema, clock):
    """forward_to accepts the tab title staff see, from whatever schema is deployed."""
    opds = tuple(replace(o, title="Dinas Sosial") if o.key == "DINSOS" else o for o in schema.opds)
    settings = Settings.from_env({"KMC_DATA_DIR": str(tmp_path / "d")})
    svc = build(settings, clock=clock, schema=replace(schema, opds=opds), mailer=RecordingMailer())
    svc.workbook.bootstrap()
    receipt = intake(svc, complaint("jalan rusak", clock))
    edit(svc, receipt.ticket_id, forward_to="dinas sosial")
    sweep_job(svc)
    assert case(svc, receipt.ticket_id).tab == "DINSOS"
