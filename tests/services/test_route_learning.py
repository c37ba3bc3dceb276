"""Routing learns from KMC's own decisions: the daily job trains on settled and forwarded cases,
stores the model durably, and intake combines it with the Rute rules (issue 18)."""
from __future__ import annotations

import random
from datetime import timedelta

import pytest

from functions.bootstrap import build
from functions.digest.render import render_digest
from functions.routing import load_rules, route
from functions.routing_model import decide_explained, load_thresholds, loads
from functions.services.jobs import daily_job, sweep_job
from functions.services.setup import bootstrap_workbook
from functions.services.staff import staff_edit
from functions.stores.port import NewCase
from functions.services.intake import intake
from tests.conftest import complaint

PLACES = ["Sukaharja", "Kalinilam", "Tuan Tuan", "Mulia Baru", "Payak Kumang", "Sampit", "Kauman",
          "Sungai Awan", "Pesaguan", "Marau", "Sandai", "Kendawangan"]
SETTLED = {  # what each OPD settled in the past, in a few citizen phrasings
    "DLH": ["sampah menumpuk di tps {p} tidak diangkut", "truk sampah tidak lewat di {p} bau sekali",
            "sampah berserakan di pinggir jalan {p}"],
    "PUTR": ["jalan di {p} rusak banyak lubang", "jalan ke {p} hancur kalau hujan", "jembatan di {p} lapuk"],
    "PDAM": ["air pdam di {p} tidak mengalir", "pipa pdam bocor di {p}", "air pdam keruh di {p}"],
}
WEEDS = "rumput ilalang tinggi menutupi bahu jalan rusak di {p}, minta dibersihkan"


def settle_history(svc, clock, n: int = 240, seed: int = 18) -> None:
    """Closed cases, as the OPD tabs hold them after months of work."""
    rng = random.Random(seed)
    start = clock() - timedelta(days=200)
    cases = []
    for i in range(n):
        opd = rng.choice(sorted(SETTLED))
        text = rng.choice(SETTLED[opd]).format(p=rng.choice(PLACES)) + rng.choice(["", " tolong", " mohon segera"])
        at = start + timedelta(hours=12 * i)
        cases.append(NewCase(opd, {"ticket_id": f"KMC-260101-H{i:04d}", "received_at": at, "channel": "WhatsApp",
                                   "reporter": "Anonim", "text": text, "status": "Selesai",
                                   "response": "Sudah ditangani.", "sla": "Tepat Waktu",
                                   "deadline": at + timedelta(hours=48)}))
    svc.workbook.append(cases)


def forward_weeds(svc, clock, n: int = 30) -> list[str]:
    """Weeds on road verges come in, the rules send them to PUTR, PUTR forwards them to DLH."""
    tickets = []
    for i in range(n):
        receipt = intake(svc, complaint(WEEDS.format(p=PLACES[i % len(PLACES)]), clock, source_id=f"weeds-{i}"))
        assert receipt.opd == "PUTR"
        staff_edit(svc.workbook, svc.schema, receipt.ticket_id, ["forward_to=DLH", "response=Bukan wewenang PUTR"], "KMC")
        tickets.append(receipt.ticket_id)
        clock.advance(minutes=20)
    sweep_job(svc)
    return tickets


@pytest.fixture
def lsvc(settings, clock):
    svc = build(settings, clock=clock)
    bootstrap_workbook(svc.workbook)
    return svc


def test_a_case_forwarded_putr_to_dlh_teaches_dlh_and_the_lesson_survives_a_restart(lsvc, settings, clock):
    settle_history(lsvc, clock)
    forwarded = forward_weeds(lsvc, clock)
    assert all(lsvc.workbook.find(t).tab == "DLH" for t in forwarded)

    clock.advance(days=1)
    report = daily_job(lsvc)
    assert "model dilatih dari 270 aduan" in report.learning
    assert "30 hasil penerusan" in report.learning
    assert "Rute pertama yang paling sering dikoreksi lewat 'Teruskan ke': PUTR → DLH (30)." in report.learning
    _, text, html = render_digest(report.digest, sheet_url="https://example.test/sheet")
    assert report.learning in text
    assert "Uji pada" in html and "aduan terbaru yang tidak dipakai melatih" in html

    fresh = build(settings, clock=clock)  # a new instance reads the model from the store
    receipt = intake(fresh, complaint(WEEDS.format(p="Sei Kinjil"), clock, source_id="after"))
    assert receipt.opd == "DLH"
    assert route(WEEDS.format(p="Sei Kinjil"), load_rules()).opd == "PUTR"  # the rules alone still say PUTR


def test_no_history_means_the_rules_alone_and_the_digest_says_so(lsvc, clock):
    intake(lsvc, complaint("sampah menumpuk di pasar", clock))
    report = daily_job(lsvc)
    assert "belum cukup riwayat" in report.learning and "aturan saja" in report.learning
    assert lsvc.workbook.read_routing_model() is None
    assert "belum cukup riwayat" in report.digest.routing


def test_a_corrupt_model_is_ignored_rules_take_over_and_the_digest_says_so(lsvc, settings, clock):
    lsvc.workbook.write_routing_model('{"format":"kmc-routing-model/1","classes":["DLH"],"bias":[0.1')
    fresh = build(settings, clock=clock)
    text = WEEDS.format(p="Sukaharja")
    assert intake(fresh, complaint(text, clock)).opd == route(text, load_rules()).opd == "PUTR"
    report = daily_job(fresh)
    assert "model rute tersimpan rusak" in report.learning
    assert "aturan saja" in report.learning


def test_a_corrupt_model_is_replaced_by_the_next_training(lsvc, settings, clock):
    settle_history(lsvc, clock)
    lsvc.workbook.write_routing_model("bukan model")
    report = daily_job(lsvc)
    assert "rusak" in report.learning and "kini diganti" in report.learning
    assert loads(lsvc.workbook.read_routing_model()).classes == ("DLH", "PDAM", "PUTR")


def test_the_model_never_overrides_a_confident_rute_rule(lsvc, settings, clock):
    """History says 'zxqv' complaints were handled by DLH; an admin then writes a Rute rule
    sending them to DISKOMINFO. The confident rule decides, though the model disagrees."""
    settle_history(lsvc, clock)
    lsvc.workbook.append([NewCase("DLH", {"ticket_id": f"KMC-260301-Z{i:03d}", "received_at": clock() - timedelta(days=3),
                                          "text": f"zxqv rusak lagi di {p}", "status": "Selesai"})
                          for i, p in enumerate(PLACES * 3)])
    daily_job(lsvc)
    rules = load_rules()
    model = loads(lsvc.workbook.read_routing_model())
    text = "zxqv rusak lagi di Sandai"
    assert decide_explained(text, rules, model, load_thresholds()).model_scores[0][0] == "DLH"

    position = len(lsvc.workbook.read_rules()) + 2
    lsvc.workbook.write_rule(position, {"opd": "DISKOMINFO", "topic": "Perangkat zxqv", "keywords": "zxqv:5",
                                        "exclude": ""})
    fresh = build(settings, clock=clock)
    receipt = intake(fresh, complaint(text, clock))
    assert receipt.opd == "DISKOMINFO"
    assert fresh.workbook.find(receipt.ticket_id).row["category"] == "Perangkat zxqv"


def test_dry_run_trains_and_reports_but_stores_nothing(lsvc, clock):
    settle_history(lsvc, clock)
    report = daily_job(lsvc, dry_run=True)
    assert "TIDAK disimpan" in report.learning
    assert lsvc.workbook.read_routing_model() is None


def test_on_google_sheets_the_model_lives_in_the_workbook_and_a_new_instance_routes_with_it(settings, clock):
    """The cloud instance's disk is ephemeral: the model goes to the hidden `Model Rute` tab through
    the Sheets API (the fake checks the requests), and a fresh instance reads it from there."""
    from tests.adapters.sheets_env import sheets_env

    with sheets_env() as env:
        svc = build(settings, clock=clock, workbook=env.workbook(), contacts=env.contacts())
        svc.workbook.bootstrap()
        settle_history(svc, clock)
        at = clock() - timedelta(days=2)
        svc.workbook.append([NewCase("DLH", {
            "ticket_id": f"KMC-260401-W{i:03d}", "received_at": at, "text": WEEDS.format(p=p), "status": "Diproses",
            "forwarded_at": at, "forward_history": f"{at:%Y-%m-%d %H:%M} PUTR → DLH"}) for i, p in enumerate(PLACES * 3)])
        report = daily_job(svc)
        assert "36 hasil penerusan" in report.learning
        assert env.fake.sheet(env.spreadsheet_id, "Model Rute").properties()["hidden"] is True

        cold = build(settings, clock=clock, workbook=env.workbook(), contacts=env.contacts())
        assert intake(cold, complaint(WEEDS.format(p="Sei Kinjil"), clock, source_id="cold")).opd == "DLH"
