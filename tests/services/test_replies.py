"""OPD answers reach the citizen: the sweep sends them through the Graph API and stamps the row."""
from __future__ import annotations

import json
from dataclasses import replace
import pytest
import responses

from functions.bootstrap import build
from functions.http_client import HttpClient
from functions.messaging.graph import GraphMessenger
from functions.messaging.outbox import OutboxMessenger, read_outbox
from tests.draining import draining_client
from functions.services.jobs import sweep_job
from functions.services.replies import MAX_ATTEMPTS, send_responses
from functions.services.staff import staff_edit
from functions.services.intake import intake
from tests.fakes import meta_payloads as mp

GRAPH = "https://graph.facebook.com/v21.0"
WA_URL = f"{GRAPH}/{mp.PHONE_NUMBER_ID}/messages"
WA = "6281234567801"


@pytest.fixture
def graph_settings(settings):
    return replace(settings, whatsapp_app_secret=mp.APP_SECRET, whatsapp_access_token="EAAG-wa-token",
                   whatsapp_phone_number_id=mp.PHONE_NUMBER_ID, meta_page_access_token="EAAG-page-token",
                   meta_graph_url=GRAPH)


@pytest.fixture
def svc(graph_settings, clock, tmp_path):
    messenger = GraphMessenger.from_settings(graph_settings, http=HttpClient(sleep=lambda s: None))
    services = build(graph_settings, clock=clock, messenger=messenger)
    services.workbook.bootstrap()
    return services


@pytest.fixture
def graph():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


_ids = iter(range(1, 10_000))


def accept_all(graph, url=WA_URL):
    def reply(request):
        return 200, {}, json.dumps({"messaging_product": "whatsapp", "messages": [{"id": f"wamid.OUT{next(_ids)}"}]})
    graph.add_callback(responses.POST, url, callback=reply, content_type="application/json")


def complain(svc, text, clock, sender=WA):
    client = draining_client(svc)
    body, headers = mp.signed(mp.whatsapp([mp.wa_text(text, sender=sender, at=clock())]))
    reply = client.post("/meta", data=body, headers=headers)
    assert reply.status_code == 200
    return reply.get_json()["tickets"][0]


def answer(svc, ticket, response="Sudah kami tindak lanjuti.", status="Diproses"):
    staff_edit(svc.workbook, svc.schema, ticket, [f"status={status}", f"response={response}", "responder=Rina"],
               svc.settings.ticket_prefix)


def bodies(graph):
    return [json.loads(c.request.body) for c in graph.calls]


def test_answer_within_24_hours_is_sent_as_text_and_stamped(svc, clock, graph):
    accept_all(graph)
    ticket = complain(svc, "Sampah di depan Pasar Kota numpuk seminggu", clock)
    clock.advance(hours=5)
    answer(svc, ticket, "Sampah sudah diangkut pagi ini.", "Selesai")
    report = sweep_job(svc)
    assert report.replies.sent == [ticket] and report.replies.templated == []
    last = bodies(graph)[-1]
    assert last["to"] == WA and last["type"] == "text"
    assert "Sampah sudah diangkut pagi ini." in last["text"]["body"] and ticket in last["text"]["body"]
    assert svc.workbook.find(ticket).row["reply_sent_at"] == clock()
    # the next sweep sends nothing again
    calls = len(graph.calls)
    sweep_job(svc)
    assert len(graph.calls) == calls


def test_answer_after_24_hours_uses_the_approved_template(svc, clock, graph):
    accept_all(graph)
    ticket = complain(svc, "Lampu PJU di Jalan Gajah Mada mati", clock)
    clock.advance(hours=30)
    answer(svc, ticket, "Lampu sudah diganti.\nTerima kasih.", "Selesai")
    report = sweep_job(svc)
    assert report.replies.templated == [ticket]
    template = bodies(graph)[-1]["template"]
    assert template["name"] == "kmc_tanggapan" and template["language"]["code"] == "id"
    params = [p["text"] for p in template["components"][0]["parameters"]]
    assert params[0] == ticket and "Perhubungan" in params[1] and params[2] == "Selesai"
    assert params[3] == "Lampu sudah diganti. Terima kasih."


def test_a_follow_up_message_keeps_the_window_open(svc, clock, graph):
    accept_all(graph)
    ticket = complain(svc, "Lampu PJU di Jalan Gajah Mada mati", clock)
    clock.advance(hours=20)
    client = draining_client(svc)
    body, headers = mp.signed(mp.whatsapp([mp.wa_text(f"STATUS {ticket}", at=clock())]))
    client.post("/meta", data=body, headers=headers)
    clock.advance(hours=10)  # 30 h after the complaint, 10 h after the citizen last wrote
    answer(svc, ticket, "Lampu sudah diganti.")
    assert sweep_job(svc).replies.templated == []
    assert bodies(graph)[-1]["type"] == "text"


def test_synchronous_re_engagement_error_falls_back_to_the_template(svc, clock, graph):
    accept_all(graph)
    ticket = complain(svc, "Jalan berlubang di Desa Sungai Awan", clock)
    clock.advance(hours=3)
    answer(svc, ticket)
    graph.replace(responses.POST, WA_URL, json={"error": {"code": 131047, "message": "Re-engagement message"}},
                  status=400)
    graph.add(responses.POST, WA_URL, json={"messages": [{"id": "wamid.TPL"}]})
    report = send_responses(svc)
    assert report.templated == [ticket] and [b["type"] for b in bodies(graph)[-2:]] == ["text", "template"]


def test_status_callback_131047_clears_the_stamp_and_the_next_sweep_sends_the_template(svc, clock, graph):
    accept_all(graph)
    ticket = complain(svc, "Air PDAM di Kelurahan Sampit tidak mengalir", clock)
    clock.advance(hours=2)
    answer(svc, ticket, "Pipa sudah diperbaiki.", "Selesai")
    sweep_job(svc)
    sent_id = f"wamid.OUT{_peek_last_id(graph)}"
    assert svc.workbook.find(ticket).row["reply_sent_at"] is not None
    client = draining_client(svc)
    body, headers = mp.signed(mp.whatsapp(statuses=[mp.wa_status(sent_id, "failed", at=clock(), error_code=131047)]))
    assert client.post("/meta", data=body, headers=headers).status_code == 200
    row = svc.workbook.find(ticket).row
    assert row["reply_sent_at"] is None and "131047" in row["note"]
    # the same callback redelivered changes nothing more
    client.post("/meta", data=body, headers=headers)
    clock.advance(minutes=15)
    report = sweep_job(svc)
    assert report.replies.templated == [ticket]
    assert bodies(graph)[-1]["type"] == "template"
    assert svc.workbook.find(ticket).row["reply_sent_at"] == clock()


def _peek_last_id(graph) -> int:
    # the callback hands out increasing ids; the last call got the previous one
    return int(json.loads(graph.calls[-1].response.text)["messages"][0]["id"].removeprefix("wamid.OUT"))


def test_one_message_per_recipient_per_run(svc, clock, graph):
    accept_all(graph)
    first = complain(svc, "Lampu PJU di Jalan Gajah Mada mati", clock)
    clock.advance(hours=1)
    second = complain(svc, "Sampah di depan Pasar Kota numpuk", clock)
    clock.advance(hours=1)
    answer(svc, first)
    answer(svc, second)
    report = send_responses(svc)
    assert len(report.sent) == 1 and len(report.deferred) == 1
    clock.advance(minutes=15)
    report = send_responses(svc)
    assert len(report.sent) == 1 and report.deferred == []
    assert all(svc.workbook.find(t).row["reply_sent_at"] for t in (first, second))


def test_rate_limited_send_is_retried_later_then_given_up_with_a_note(svc, clock, graph):
    accept_all(graph)
    ticket = complain(svc, "Jembatan di Desa Pemahan patah", clock)
    clock.advance(hours=1)
    answer(svc, ticket)
    graph.replace(responses.POST, WA_URL, json={"error": {"code": 131056, "message": "pair rate limit"}}, status=400)
    assert send_responses(svc).failed == [ticket]
    assert send_responses(svc).deferred == [ticket]  # waits before the next attempt
    for _ in range(MAX_ATTEMPTS):
        clock.advance(hours=3)
        send_responses(svc)
    row = svc.workbook.find(ticket).row
    assert row["reply_sent_at"] is None and "hubungi pelapor secara manual" in row["note"]
    calls = len(graph.calls)
    clock.advance(days=1)
    send_responses(svc)
    assert len(graph.calls) == calls  # gave up: no more attempts


def test_comment_case_is_answered_publicly_with_a_link_not_the_answer(svc, clock, graph):
    graph.add(responses.POST, f"{GRAPH}/me/messages", json={"recipient_id": "1", "message_id": "m_1"})
    client = draining_client(svc)
    body, headers = mp.signed(mp.page_comment("Jalan ke Desa Kuala Satong rusak parah", at=clock(),
                                              comment_id="1164870100259578_42"))
    ticket = client.post("/meta", data=body, headers=headers).get_json()["tickets"][0]
    assert bodies(graph)[0]["recipient"] == {"comment_id": "1164870100259578_42"}  # private acknowledgement
    graph.add(responses.POST, f"{GRAPH}/1164870100259578_42/comments", json={"id": "c_2"})
    clock.advance(hours=4)
    answer(svc, ticket, "Perbaikan dijadwalkan minggu depan, kontak Pak Andi 0812-0000-1111.")
    assert send_responses(svc).sent == [ticket]
    public = bodies(graph)[-1]["message"]
    assert ticket in public and "/form/status?tiket=" in public and "0812" not in public


def test_dry_run_sends_nothing(svc, clock, graph):
    accept_all(graph)
    ticket = complain(svc, "Lampu PJU di Jalan Gajah Mada mati", clock)
    answer(svc, ticket)
    calls = len(graph.calls)
    assert send_responses(svc, dry_run=True).sent == [ticket]
    assert len(graph.calls) == calls and svc.workbook.find(ticket).row["reply_sent_at"] is None


def test_web_form_cases_are_left_to_their_own_channel(svc, clock, graph):
    from functions.model import Channel, Complaint, Contact

    receipt = intake(svc, Complaint("Lampu jalan mati di Jalan Merdeka", Channel.WEB_FORM, clock(),
                                   Contact("Rudi", "081234567803", "081234567803")))
    answer(svc, receipt.ticket_id)
    assert send_responses(svc).sent == [] and len(graph.calls) == 0


def test_without_a_token_replies_land_in_the_outbox(settings, clock):
    svc = build(replace(settings, whatsapp_app_secret=mp.APP_SECRET), clock=clock)
    svc.workbook.bootstrap()
    assert isinstance(svc.messenger, OutboxMessenger)
    ticket = complain(svc, "Sampah di depan Pasar Kota numpuk", clock)
    clock.advance(hours=1)
    answer(svc, ticket, "Sudah diangkut.", "Selesai")
    sweep_job(svc)
    lines = read_outbox(settings.outbox_dir)
    assert [line["type"] for line in lines] == ["text", "text"]
    assert "Sudah diangkut." in lines[-1]["text"] and lines[-1]["to"] == WA


def test_in_the_cloud_a_channel_without_its_token_is_not_marked_sent(graph_settings, clock, graph):
    """On Cloud Functions the outbox would be an instance's /tmp nobody reads: a Messenger answer
    without the Page token must fail visibly (note in the row), not be stamped as sent."""
    cloud = replace(graph_settings, meta_page_access_token="", in_cloud=True)
    svc = build(cloud, clock=clock, messenger=GraphMessenger.from_settings(cloud, http=HttpClient(sleep=lambda s: None)))
    svc.workbook.bootstrap()
    client = draining_client(svc)
    body, headers = mp.signed(mp.messenger([mp.dm_event("24856921384901", at=clock(),
                                                        text="Jalan di Desa Sungai Awan rusak parah")], at=clock()))
    assert client.post("/meta", data=body, headers=headers).status_code == 200
    (ticket,) = [t for rows in svc.workbook.read_all().values() for t in (r["ticket_id"] for r in rows)]
    clock.advance(hours=2)
    answer(svc, ticket, "Perbaikan dijadwalkan pekan depan.")
    report = sweep_job(svc)
    assert report.replies.sent == [] and report.replies.failed == [ticket]
    row = svc.workbook.find(ticket).row
    assert row["reply_sent_at"] is None and "hubungi pelapor secara manual" in row["note"]
    assert read_outbox(cloud.outbox_dir, "Messenger") == [] and len(graph.calls) == 0
    assert isinstance(build(replace(cloud, whatsapp_access_token=""), clock=clock).messenger, GraphMessenger)


def test_citizen_who_was_forgotten_is_not_messaged(svc, clock, graph):
    accept_all(graph)
    ticket = complain(svc, "Lampu PJU di Jalan Gajah Mada mati", clock)
    svc.contacts.forget(ticket)
    answer(svc, ticket)
    calls = len(graph.calls)
    report = send_responses(svc)
    assert report.no_contact == [ticket] and len(graph.calls) == calls


def test_window_is_24_hours_exactly(svc, clock, graph):
    accept_all(graph)
    ticket = complain(svc, "Lampu PJU di Jalan Gajah Mada mati", clock)
    clock.advance(hours=23, minutes=59)
    answer(svc, ticket)
    send_responses(svc)
    assert bodies(graph)[-1]["type"] == "text"
    second = complain(svc, "Sampah di Pasar Kota numpuk", clock, sender="6289999999999")
    clock.advance(hours=24)
    answer(svc, second)
    send_responses(svc)
    assert bodies(graph)[-1]["type"] == "template"


def test_answers_for_cases_still_in_the_window_are_not_held_back_by_other_cases(svc, clock, graph):
    accept_all(graph)
    tickets = [complain(svc, f"Lampu PJU di Jalan nomor {i} mati", clock, sender=f"62812000000{i:02d}")
               for i in range(5)]
    clock.advance(hours=1)
    for t in tickets:
        answer(svc, t)
    assert sorted(send_responses(svc).sent) == sorted(tickets)
