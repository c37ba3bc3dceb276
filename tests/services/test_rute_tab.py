"""KMC admins edit routing in the `Rute` tab; intake follows without a deploy."""
from __future__ import annotations

from functions.bootstrap import build
from functions.routing import load_rules, rules_to_rows
from functions.services.setup import bootstrap_workbook
from functions.services.intake import intake
from tests.conftest import complaint


def test_bootstrap_seeds_the_rute_tab_once_and_keeps_admin_edits(svc):
    assert any("tab Rute diisi" in a for a in bootstrap_workbook(svc.workbook))
    seeded = svc.workbook.read_rules()
    assert seeded == rules_to_rows(load_rules())
    svc.workbook.write_rule(2, {"opd": "DLH", "topic": "Sampah (diubah admin)", "keywords": "sampah:3", "exclude": ""})
    assert not any("Rute" in a for a in bootstrap_workbook(svc.workbook))
    assert svc.workbook.read_rules()[0]["topic"] == "Sampah (diubah admin)"


def test_a_rule_added_by_an_admin_routes_new_complaints(settings, clock):
    svc = build(settings, clock=clock)
    bootstrap_workbook(svc.workbook)
    before = intake(svc, complaint("zxqv kami bermasalah", clock))
    assert before.opd == "TRIASE"
    position = len(svc.workbook.read_rules()) + 2
    svc.workbook.write_rule(position, {"opd": "DISKOMINFO", "topic": "Perangkat zxqv", "keywords": "zxqv:3",
                                      "exclude": ""})
    fresh = build(settings, clock=clock)  # a new instance; a warm one sees it when its 5-minute cache expires
    after = intake(fresh, complaint("zxqv kami bermasalah lagi", clock))
    assert after.opd == "DISKOMINFO"
    assert fresh.workbook.find(after.ticket_id).row["category"] == "Perangkat zxqv"


def test_a_broken_row_is_skipped_and_routing_goes_on(settings, clock, capsys):
    svc = build(settings, clock=clock)
    bootstrap_workbook(svc.workbook)
    svc.workbook.write_rule(2, {"opd": "DINAS_ANTAH", "topic": "Salah", "keywords": "sampah:3", "exclude": ""})
    fresh = build(settings, clock=clock)
    receipt = intake(fresh, complaint("sampah menumpuk di pasar tidak diangkut", clock))
    assert receipt.opd == "DLH"
    assert "Rute baris 2" in capsys.readouterr().err


def test_empty_rute_tab_falls_back_to_the_shipped_rules(settings, clock):
    svc = build(settings, clock=clock)
    svc.workbook.bootstrap()  # tabs only, Rute left empty
    assert intake(svc, complaint("jalan rusak berlubang", clock)).opd == "PUTR"
