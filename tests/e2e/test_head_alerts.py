"""OPD heads are reachable: a head in the directory receives the reminder, the overdue list and
the media alert on both channels — email over a real SMTP server on loopback (aiosmtpd) and the
WhatsApp Cloud API (`responses` + the Graph fake) — through the real job handlers.

The template request is checked against Meta's documented shape for the Cloud API: POST
/{phone-number-id}/messages with `messaging_product: whatsapp`, `type: template` and
`template: {name, language: {code}, components: [{type: body, parameters: [{type: text,
text}]}]}` (Meta's template object, whatsapp.github.io/WhatsApp-Nodejs-SDK/api-reference/types/
TemplateObject and .../messages/template); the fake refuses a template that is not approved
(132001) or whose parameter count differs from the approved text (132000), as Meta does.
"""
from __future__ import annotations

import email
import re
import socket
from datetime import datetime, timedelta
from email import policy

import pytest
import responses
from aiosmtpd.controller import Controller

from functions.bootstrap import build
from functions.cli import main as cli
from functions.config import Settings
from tests.draining import draining_client
from functions.services.notify import HEAD_TEMPLATES
from functions.services.intake import intake
from tests.conftest import complaint
from tests.fakes.clock import WIB, FakeClock
from tests.fakes.fake_graph import GRAPH, FakeGraph
from tests.fakes.feed_server import FeedServer, Route

PHONE_ID = "106540352242922"
AUTH = {"Authorization": "Bearer test-admin-token"}
HEAD_MAIL = "kadis.putr@ketapangkab.go.id"
HEAD_WA = "6281234567890"  # typed by KMC as 0812-3456-7890
START = datetime(2026, 11, 2, 8, 0, tzinfo=WIB)  # a Monday
NEGATIVE_WORDS = ("rusak", "keluh", "banjir", "ambruk")


def fake_classify(text: str):
    from functions.model import Sentiment

    return (Sentiment.NEGATIVE, 0.9) if any(w in text.lower() for w in NEGATIVE_WORDS) else (Sentiment.NEUTRAL, 0.1)


def approved() -> dict[str, int]:
    """The templates KMC submits (docs/opd-directory.md), with their variable counts."""
    return {name: len(set(re.findall(r"\{\{(\d+)\}\}", body))) for name, (body, _) in HEAD_TEMPLATES.items()}


class Inbox:
    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 2.0.0 OK"

    def to(self, address: str) -> list[email.message.EmailMessage]:
        return [email.message_from_bytes(e.original_content, policy=policy.default)
                for e in self.envelopes if address in e.rcpt_tos]


@pytest.fixture
def smtp():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    inbox.port = port
    yield inbox
    controller.stop()


@pytest.fixture
def feeds():
    srv = FeedServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def graph():
    fake = FakeGraph(templates=approved())
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake.install(rsps)
        rsps.add_passthru("http://127.0.0.1")  # the feed server on loopback
        yield fake


def environment(tmp_path, smtp, feeds) -> dict[str, str]:
    return {
        "KMC_DATA_DIR": str(tmp_path / "data"), "KMC_ADMIN_TOKEN": "test-admin-token",
        "DIGEST_TO": "bupati@ketapangkab.go.id", "MAIL_FROM": "KMC Aduan <kmc@ketapangkab.go.id>",
        "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp.port), "SMTP_STARTTLS": "false",
        "WHATSAPP_ACCESS_TOKEN": FakeGraph.token, "WHATSAPP_PHONE_NUMBER_ID": PHONE_ID,
        "META_GRAPH_URL": GRAPH, "KMC_MEDIA_FEEDS": feeds.url("/rss"), "KMC_FEEDS_ALLOW_PRIVATE": "true",
    }


def rss(title: str, link: str, when: datetime) -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Kabar Ketapang</title>'
            f"<item><title>{title}</title><link>{link}</link>"
            f"<pubDate>{when:%a, %d %b %Y %H:%M:%S %z}</pubDate></item></channel></rss>").encode()


def templates_to(graph: FakeGraph, number: str) -> list[dict]:
    return [b["template"] for b in graph.bodies if b.get("to") == number and b.get("type") == "template"]


def params(template: dict) -> list[str]:
    (body,) = template["components"]
    return [p["text"] for p in body["parameters"]]


def test_a_head_set_with_opd_set_gets_reminder_overdue_list_and_media_alert_by_email_and_whatsapp(
        tmp_path, smtp, feeds, graph):
    env = environment(tmp_path, smtp, feeds)
    assert cli(["opd", "set", "PUTR", f"email={HEAD_MAIL}", "whatsapp=0812-3456-7890",
                "nama=Ir. Budi Santoso", "jabatan=Kepala Dinas PUTR"], env) == 0
    clock = FakeClock(START)
    svc = build(Settings.from_env(env), clock=clock, classify=fake_classify)
    web = draining_client(svc)  # the writer drains what the doors queued
    case = intake(svc, complaint("jalan rusak parah banyak lubang di Sandai", clock, source_id="wa-1"))
    assert case.opd == "PUTR"

    # 1. the reminder, 12 hours before the deadline (sweep)
    clock.set(START + timedelta(hours=37))
    reply = web.post("/jobs/sweep", headers=AUTH)
    assert reply.status_code == 200
    assert "pengingat ke 1 OPD (1 aduan) [email 1, WhatsApp 1]" in reply.get_json()["summary"]
    (reminder,) = smtp.to(HEAD_MAIL)
    assert reminder["Subject"].startswith("[KMC Aduan] Pengingat: 1 aduan PUTR")
    assert case.ticket_id in reminder.get_body(("plain",)).get_content()
    (wa,) = templates_to(graph, HEAD_WA)
    assert graph.bodies[0] == {  # Meta's documented request, exactly
        "messaging_product": "whatsapp", "recipient_type": "individual", "to": HEAD_WA, "type": "template",
        "template": {"name": "kmc_pengingat_batas", "language": {"code": "id"}, "components": [
            {"type": "body", "parameters": [{"type": "text", "text": t} for t in params(wa)]}]}}
    assert params(wa) == ["Kepala Dinas PUTR (Ir. Budi Santoso)", "1", "Dinas Pekerjaan Umum dan Tata Ruang",
                          "12", "04/11/2026 08:00 WIB", case.ticket_id]

    # 2. the overdue list, the morning after the deadline (daily)
    clock.set(datetime(2026, 11, 5, 7, 0, tzinfo=WIB))
    reply = web.post("/jobs/daily", headers=AUTH)
    assert "daftar terlambat untuk 1 OPD (email 1, WhatsApp 1)" in reply.get_json()["summary"]
    overdue = [m for m in smtp.to(HEAD_MAIL) if "belum ditanggapi lewat batas waktu" in m["Subject"]]
    assert len(overdue) == 1 and case.ticket_id in overdue[0].get_body(("plain",)).get_content()
    wa = templates_to(graph, HEAD_WA)[-1]
    assert wa["name"] == "kmc_daftar_terlambat"
    assert params(wa) == ["Kepala Dinas PUTR (Ir. Budi Santoso)", "05/11/2026", "1",
                          "Dinas Pekerjaan Umum dan Tata Ruang", case.ticket_id]

    # 3. the media alert (media job, a feed on loopback)
    feeds.routes["/rss"] = Route(rss("Jalan Rusak di Sandai Dikeluhkan Warga", "https://kabar.example/jalan-sandai",
                                     clock() - timedelta(hours=1)), etag='"1"')
    assert web.post("/jobs/media", headers=AUTH).status_code == 200
    alert = [m for m in smtp.to(HEAD_MAIL) if "informasi negatif" in m["Subject"]]
    assert len(alert) == 1 and alert[0].get_body(("plain",)).get_content().startswith(
        "Yth. Kepala Dinas Pekerjaan Umum dan Tata Ruang,")
    wa = templates_to(graph, HEAD_WA)[-1]
    assert wa["name"] == "kmc_peringatan_media" and params(wa)[:5] == [
        "Kepala Dinas PUTR (Ir. Budi Santoso)", "1", "media massa", "Dinas Pekerjaan Umum dan Tata Ruang",
        "[Kabar Ketapang] Jalan Rusak di Sandai Dikeluhkan Warga"]
    media_ticket = params(wa)[5]

    # 4. scheduler retries and a second run send nothing again, on either channel
    mails, messages = len(smtp.envelopes), len(graph.bodies)
    feeds.routes["/rss"] = Route(feeds.routes["/rss"].body, etag='"2"')  # served again in full
    for job in ("/jobs/sweep", "/jobs/daily", "/jobs/media"):
        assert web.post(job, headers=AUTH).status_code == 200
    assert len(graph.bodies) == messages
    assert len(smtp.envelopes) == mails

    # 5. /monitoring/riwayat: who was alerted for the finding, how and when
    history = web.get("/monitoring/riwayat?format=json", headers=AUTH).get_json()["findings"]
    (finding,) = [f for f in history if f["ticket"] == media_ticket]
    assert {(d["via"], d["to"], d["address"], d["ok"]) for d in finding["alerted"]} == {
        ("WhatsApp", "Kepala Dinas PUTR (Ir. Budi Santoso)", "62812****7890", True),
        ("email", "Kepala Dinas PUTR (Ir. Budi Santoso)", HEAD_MAIL, True)}
    assert all(d["at"] == clock().isoformat(timespec="seconds") for d in finding["alerted"])
    page = web.post("/monitoring/riwayat", data={"token": "test-admin-token"}).get_data(as_text=True)
    assert media_ticket in page and "WhatsApp ke Kepala Dinas PUTR (Ir. Budi Santoso) (62812****7890)" in page
    assert HEAD_WA not in page  # the number is masked
    assert web.get("/monitoring/riwayat?format=json").status_code == 401


def test_a_failed_whatsapp_alert_falls_back_to_email_and_is_reported(tmp_path, smtp, feeds, graph):
    env = environment(tmp_path, smtp, feeds)
    assert cli(["opd", "set", "PUTR", f"email={HEAD_MAIL}", "whatsapp=0812-3456-7890"], env) == 0
    assert cli(["opd", "set", "DISHUB", "whatsapp=+62 813 1111 2222", "nama=Drs. Andi"], env) == 0  # no email
    clock = FakeClock(START)
    svc = build(Settings.from_env(env), clock=clock, classify=fake_classify)
    web = draining_client(svc)  # the writer drains what the doors queued
    graph.inject("code:131026")  # PUTR's number is not on WhatsApp
    graph.inject("code:132015")  # then the template is paused by Meta
    feeds.routes["/rss"] = Route(
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>Kabar</title>'
        b"<item><title>Jalan Rusak di Sandai Dikeluhkan Warga</title><link>https://k.example/a</link></item>"
        b"<item><title>Lampu PJU Mati di Air Upas, Warga Keluhkan Gelap</title><link>https://k.example/b</link></item>"
        b"</channel></rss>")
    summary = web.post("/jobs/media", headers=AUTH).get_json()["summary"]
    assert "peringatan: 2 email (PUTR, DISHUB), 0 WhatsApp (2 gagal, dialihkan ke email)" in summary
    assert "1 ke alamat cadangan KMC, belum ke kepala OPD (DISHUB)" in summary
    (putr,) = smtp.to(HEAD_MAIL)
    text = putr.get_body(("plain",)).get_content()
    assert "Pesan WhatsApp ke Kepala PUTR gagal (131026: nomor tidak dapat menerima pesan WhatsApp" in text
    (dishub,) = smtp.to("bupati@ketapangkab.go.id")  # DISHUB's head has no email: KMC's fallback
    text = dishub.get_body(("plain",)).get_content()
    assert "Pesan WhatsApp ke Kepala Dishub (Drs. Andi) gagal (132015: template dijeda oleh Meta)" in text
    assert "mohon diteruskan kepada kepala OPD" in text
    # reported in the next digest, and never sent twice
    clock.advance(hours=23)
    web.post("/jobs/media", headers=AUTH)
    assert web.post("/jobs/daily", headers=AUTH).status_code == 200
    digest = [m for m in smtp.to("bupati@ketapangkab.go.id") if "Rekap" in m["Subject"]][0]
    notes = digest.get_body(("plain",)).get_content()
    assert "WhatsApp ke Kepala PUTR (62812****7890) gagal: 131026" in notes
    assert "WhatsApp ke Kepala Dishub (Drs. Andi) (62813****2222) gagal: 132015" in notes
    assert graph.attempts == 2


def test_a_head_in_the_kontak_opd_tab_is_reached_and_a_broken_row_is_reported_and_skipped(tmp_path, smtp):
    """The same on Google Sheets (the Sheets fake): bootstrap creates, protects and seeds the tab,
    a KMC admin fills in PUTR's head and mistypes DLH's email and an OPD key."""
    from functions.services.setup import bootstrap_workbook
    from tests.adapters.sheets_env import SheetsEnv
    from tests.fakes.fake_sheets import FakeSheets, VirtualTime
    from tests.services.test_media import StaticFeeds
    from functions.schema import load_schema

    vt = VirtualTime()
    sheets, graph = FakeSheets(clock=vt.clock), FakeGraph(templates=approved())
    feed = "https://kabar.example/rss"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        sheets.install(rsps)
        graph.install(rsps)
        env = SheetsEnv(sheets, vt, load_schema(), sheets.create("KMC Aduan"), sheets.create("KMC Kontak"))
        actions = bootstrap_workbook(env.workbook(), env.contacts())
        assert any(a.startswith("tab Kontak OPD diisi 30 OPD") for a in actions)
        tab = sheets.values(env.spreadsheet_id, "Kontak OPD")
        assert tab[0] == ["Kode OPD", "Nama OPD", "Nama Kepala", "Jabatan", "Email", "Nomor WhatsApp", "Tembusan"]
        assert tab[2][:2] == ["PUTR", "Dinas Pekerjaan Umum dan Tata Ruang"]
        with pytest.raises(PermissionError):  # OPD staff share the spreadsheet but cannot edit it
            sheets.staff_set(env.spreadsheet_id, "Kontak OPD", "E3", "saya@contoh.id")
        admin = dict(respect_protection=False)  # the spreadsheet's owner, KMC
        sheets.staff_set(env.spreadsheet_id, "Kontak OPD", "C3", "Ir. Budi Santoso", **admin)
        sheets.staff_set(env.spreadsheet_id, "Kontak OPD", "E3", HEAD_MAIL, **admin)
        sheets.staff_set(env.spreadsheet_id, "Kontak OPD", "F3", "0812-3456-7890", **admin)
        sheets.staff_set(env.spreadsheet_id, "Kontak OPD", "E5", "kadis.dlh@", **admin)
        sheets.staff_set(env.spreadsheet_id, "Kontak OPD", "A33", "DINAS_X", **admin)
        sheets.staff_set(env.spreadsheet_id, "Kontak OPD", "E33", "x@ketapangkab.go.id", **admin)

        clock = FakeClock(START)
        settings = Settings.from_env({
            "KMC_DATA_DIR": str(tmp_path / "d"), "KMC_ADMIN_TOKEN": "test-admin-token",
            "DIGEST_TO": "bupati@ketapangkab.go.id", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp.port),
            "SMTP_STARTTLS": "false", "WHATSAPP_ACCESS_TOKEN": FakeGraph.token,
            "WHATSAPP_PHONE_NUMBER_ID": PHONE_ID, "META_GRAPH_URL": GRAPH, "KMC_MEDIA_FEEDS": feed})
        news = rss("Jalan Rusak di Sandai Dikeluhkan Warga", "https://kabar.example/jalan",
                   datetime(2026, 11, 5, 6, 0, tzinfo=WIB))
        svc = build(settings, clock=clock, classify=fake_classify, workbook=env.workbook(),
                    contacts=env.contacts(), feed_fetcher=StaticFeeds({feed: (news, '"1"')}))
        web = draining_client(svc)  # the writer drains what the doors queued
        case = intake(svc, complaint("jalan rusak parah banyak lubang di Sandai", clock, source_id="wa-1"))
        garbage = intake(svc, complaint("sampah menumpuk di pasar tidak diangkut", clock, source_id="wa-2"))
        assert (case.opd, garbage.opd) == ("PUTR", "DLH")

        clock.set(START + timedelta(hours=37))
        assert web.post("/jobs/sweep", headers=AUTH).status_code == 200
        clock.set(datetime(2026, 11, 5, 7, 0, tzinfo=WIB))
        assert web.post("/jobs/daily", headers=AUTH).status_code == 200
        assert web.post("/jobs/media", headers=AUTH).status_code == 200

    subjects = [m["Subject"] for m in smtp.to(HEAD_MAIL)]
    assert len(subjects) == 3 and "Pengingat" in subjects[0] and "lewat batas waktu" in subjects[1]
    assert "informasi negatif" in subjects[2]
    assert [t["name"] for t in templates_to(graph, HEAD_WA)] == [
        "kmc_pengingat_batas", "kmc_daftar_terlambat", "kmc_peringatan_media"]
    assert params(templates_to(graph, HEAD_WA)[0])[0] == "Kepala PUTR (Ir. Budi Santoso)"
    # DLH's broken row is skipped (no reminder, no overdue list) and reported in the digest
    assert not any(garbage.ticket_id in m.get_body(("plain",)).get_content()
                   for m in smtp.to("kadis.dlh@") + smtp.to(HEAD_MAIL))
    digest = [m for m in smtp.to("bupati@ketapangkab.go.id") if "Rekap" in m["Subject"]][0]
    notes = digest.get_body(("plain",)).get_content()
    assert "tab Kontak OPD baris 5: alamat email 'kadis.dlh@' tidak valid; baris dilewati" in notes
    assert "tab Kontak OPD baris 33: kode OPD 'DINAS_X' tidak dikenal; baris dilewati" in notes


def test_a_whatsapp_meta_reports_failed_later_is_emailed_at_the_next_sweep(tmp_path, smtp, feeds, graph):
    """Meta accepts a template (200) and reports `failed` later in a status webhook (131026 comes
    that way): the signed webhook records it, the next sweep emails the head instead, once."""
    from tests.fakes import meta_payloads as mp

    env = {**environment(tmp_path, smtp, feeds), "WHATSAPP_APP_SECRET": mp.APP_SECRET}
    assert cli(["opd", "set", "PUTR", f"email={HEAD_MAIL}", "whatsapp=0812-3456-7890", "nama=Ir. Budi"], env) == 0
    clock = FakeClock(START)
    svc = build(Settings.from_env(env), clock=clock, classify=fake_classify)
    web = draining_client(svc)  # the writer drains what the doors queued
    case = intake(svc, complaint("jalan rusak parah banyak lubang di Sandai", clock, source_id="wa-1"))
    clock.set(START + timedelta(hours=37))
    web.post("/jobs/sweep", headers=AUTH)
    assert len(smtp.to(HEAD_MAIL)) == 1
    wamid = "wamid.FAKE00000001"  # the fake's id of the reminder template
    body, headers = mp.signed(mp.whatsapp(statuses=[mp.wa_status(wamid, "failed", at=clock(), recipient=HEAD_WA,
                                                                 error_code=131026)]))
    for _ in range(2):  # Meta redelivers webhooks
        assert web.post("/meta", data=body, headers=headers).status_code == 200
    clock.advance(minutes=15)
    report = web.post("/jobs/sweep", headers=AUTH).get_json()
    late = [m for m in smtp.to(HEAD_MAIL) if "tidak terkirim" in m["Subject"]]
    assert len(late) == 1 and " ".join(late[0]["Subject"].split()) == (
        "[KMC Aduan] Pesan WhatsApp untuk Kepala PUTR (Ir. Budi) tidak terkirim")
    text = late[0].get_body(("plain",)).get_content()
    assert case.ticket_id in text and "131026: nomor tidak dapat menerima pesan WhatsApp" in text
    assert "1 masalah" in report["summary"]
    problems = [e.detail for e in svc.workbook.log_entries("problem")]  # the next digest lists it
    assert problems == ["WhatsApp ke Kepala PUTR (Ir. Budi) (62812****7890) tidak terkirim: 131026: nomor tidak "
                        "dapat menerima pesan WhatsApp (tidak terdaftar atau aplikasi terlalu lama); dikirim lewat email"]
    clock.advance(minutes=15)
    web.post("/jobs/sweep", headers=AUTH)
    assert len([m for m in smtp.to(HEAD_MAIL) if "tidak terkirim" in m["Subject"]]) == 1  # once
