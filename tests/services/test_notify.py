"""Sending to OPD heads (services/notify.py) through the jobs, with our own messenger and mailer
fakes: Meta's limits respected, nothing sent twice, every attempt recorded."""
from __future__ import annotations

import pytest

from functions.bootstrap import build
from functions.config import Settings
from functions.messaging.port import SendResult
from functions.services.jobs import sweep_job
from functions.journal import NOTIFY, PROBLEM
from functions.services.notify import Delivery
from functions.services.opd_directory import set_contact
from functions.services.intake import intake
from tests.conftest import complaint
from tests.fakes.mailbox import RecordingMailer
from tests.fakes.messenger import FakeMessenger


@pytest.fixture
def nsvc(tmp_path, clock):
    settings = Settings.from_env({"KMC_DATA_DIR": str(tmp_path / "data"), "DIGEST_TO": "kominfo@ketapangkab.go.id"})
    svc = build(settings, clock=clock, mailer=RecordingMailer(), messenger=FakeMessenger())
    set_contact(svc, "PUTR", ["email=kadis.putr@ketapangkab.go.id", "whatsapp=0812-1111-1111"])
    set_contact(svc, "DLH", ["email=kadis.dlh@ketapangkab.go.id", "whatsapp=0812-2222-2222",
                             "tembusan=0813-3333-3333"])
    return svc


def due_cases(svc, clock):
    road = intake(svc, complaint("jalan rusak parah", clock, source_id="a"))
    garbage = intake(svc, complaint("sampah menumpuk di pasar tidak diangkut", clock, source_id="b"))
    clock.advance(hours=40)
    return road, garbage


def test_a_rate_limit_stops_whatsapp_for_the_run_emails_still_go_and_nothing_is_repeated(nsvc, clock):
    due_cases(nsvc, clock)
    nsvc.messenger.template_results = [SendResult.failed(130429, "(#130429) Rate limit hit")]
    report = sweep_job(nsvc)
    assert set(report.reminded) == {"PUTR", "DLH"}
    assert len(nsvc.messenger.sent) == 1  # the first refusal stops WhatsApp for this run
    assert sorted(m.to for m in nsvc.mailer.sent) == [("kadis.dlh@ketapangkab.go.id",),
                                                     ("kadis.putr@ketapangkab.go.id",)]
    assert sum("130429: batas kecepatan kirim WhatsApp tercapai" in p for p in report.problems) == 3
    problems = [e.detail for e in nsvc.workbook.log_entries(PROBLEM)]
    assert len(problems) == 3 and all("dikirim lewat email" in p for p in problems)  # for the digest
    attempts = [Delivery.from_entry(e) for e in nsvc.workbook.log_entries(NOTIFY)]
    assert sorted((d.via, d.ok) for d in attempts) == [("WhatsApp", False)] * 3 + [("email", True)] * 2
    assert all("62812****" in d.address or "62813****" in d.address for d in attempts if d.via == "WhatsApp")
    clock.advance(minutes=15)
    sweep_job(nsvc)
    assert len(nsvc.messenger.sent) == 1 and len(nsvc.mailer.sent) == 2


def test_copies_get_the_template_and_a_head_reached_on_whatsapp_needs_no_fallback_email(nsvc, clock):
    road, garbage = due_cases(nsvc, clock)
    set_contact(nsvc, "PUTR", ["email="])  # WhatsApp only now
    nsvc.state.directory_source = None  # a new instance (the 5-minute cache)
    sweep_job(nsvc)
    to = sorted(s.to for s in nsvc.messenger.sent)
    assert to == ["6281211111111", "6281222222222", "6281333333333"]
    assert [m.to for m in nsvc.mailer.sent] == [("kadis.dlh@ketapangkab.go.id",)]  # nothing to KMC for PUTR
    putr = [s.template for s in nsvc.messenger.sent if s.to == "6281211111111"][0]
    assert putr.name == "kmc_pengingat_batas" and putr.params[5] == road.ticket_id


def test_an_email_that_fails_is_tried_again_but_the_whatsapp_already_sent_is_not(nsvc, clock):
    due_cases(nsvc, clock)
    set_contact(nsvc, "DLH", ["whatsapp=", "tembusan="])  # email only
    nsvc.state.directory_source = None
    nsvc.mailer.failing = {"kadis.dlh@ketapangkab.go.id"}
    first = sweep_job(nsvc)
    assert set(first.reminded) == {"PUTR"} and any("Email ke Kepala DLH gagal" in p for p in first.problems)
    nsvc.mailer.failing = set()
    clock.advance(minutes=15)
    second = sweep_job(nsvc)
    assert set(second.reminded) == {"DLH"}
    assert [s.to for s in nsvc.messenger.sent] == ["6281211111111"]  # PUTR's WhatsApp went once
    assert sorted(m.to[0] for m in nsvc.mailer.sent) == ["kadis.dlh@ketapangkab.go.id", "kadis.putr@ketapangkab.go.id"]


def test_dry_run_sends_nothing_and_records_nothing(nsvc, clock):
    due_cases(nsvc, clock)
    report = sweep_job(nsvc, dry_run=True)
    assert set(report.reminded) == {"PUTR", "DLH"}
    assert nsvc.messenger.sent == [] and nsvc.mailer.sent == [] and nsvc.workbook.log_entries(NOTIFY) == []
