"""The Graph API adapter at its HTTP boundary (WhatsApp Cloud API and Messenger Send API)."""
from __future__ import annotations

import json

import pytest
import requests
import responses

from functions.http_client import HttpClient
from functions.messaging.graph import GraphMessenger
from functions.messaging.outbox import OutboxMessenger, read_outbox
from functions.messaging.port import Template

GRAPH = "https://graph.facebook.com/v21.0"
PHONE_ID = "106540352242922"
WA_URL = f"{GRAPH}/{PHONE_ID}/messages"
ME_URL = f"{GRAPH}/me/messages"


def ok_whatsapp(wamid="wamid.HBgLNjI4MTIzNDU2Nzg5MBUCABEYEjRDRTk4OEQ1NTQ5MzE3AA=="):
    return {"messaging_product": "whatsapp", "contacts": [{"input": "6281234567801", "wa_id": "6281234567801"}],
            "messages": [{"id": wamid, "message_status": "accepted"}]}


def graph_error(code, message="error", subcode=None, status=400):
    err = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbCdEf"}
    if subcode:
        err["error_subcode"] = subcode
    return {"json": {"error": err}, "status": status}


@pytest.fixture
def messenger(tmp_path):
    return GraphMessenger(graph_url=GRAPH, whatsapp_token="EAAG-wa-token", phone_number_id=PHONE_ID,
                          page_token="EAAG-page-token", http=HttpClient(sleep=lambda s: None),
                          fallback=OutboxMessenger(tmp_path / "outbox"))


def sent_json(call) -> dict:
    return json.loads(call.request.body)


@responses.activate
def test_whatsapp_text_goes_to_the_phone_number_id_with_bearer_token(messenger):
    responses.post(WA_URL, json=ok_whatsapp("wamid.ABC"))
    result = messenger.send_text("6281234567801", "Terima kasih, aduan Anda sudah kami terima.", "WhatsApp")
    assert result.ok and result.message_id == "wamid.ABC"
    call = responses.calls[0]
    assert call.request.headers["Authorization"] == "Bearer EAAG-wa-token"
    assert sent_json(call) == {"messaging_product": "whatsapp", "recipient_type": "individual",
                               "to": "6281234567801", "type": "text",
                               "text": {"preview_url": False, "body": "Terima kasih, aduan Anda sudah kami terima."}}


@responses.activate
def test_business_scoped_user_id_is_sent_as_recipient(messenger):
    responses.post(WA_URL, json=ok_whatsapp())
    messenger.send_text("ID.1410018717833190", "Halo", "WhatsApp")
    body = sent_json(responses.calls[0])
    assert body["recipient"] == "ID.1410018717833190" and "to" not in body


@responses.activate
def test_template_parameters_are_flattened_for_meta(messenger):
    responses.post(WA_URL, json=ok_whatsapp())
    template = Template("kmc_tanggapan", "id", ("KMC-261102-AB3X9", "Dinas Lingkungan Hidup", "Selesai",
                                                "Sampah sudah diangkut.\n\nJadwal   angkut\tditambah."))
    assert messenger.send_template("6281234567801", template, "WhatsApp").ok
    body = sent_json(responses.calls[0])
    assert body["type"] == "template"
    assert body["template"]["name"] == "kmc_tanggapan" and body["template"]["language"] == {"code": "id"}
    params = [p["text"] for p in body["template"]["components"][0]["parameters"]]
    assert params == ["KMC-261102-AB3X9", "Dinas Lingkungan Hidup", "Selesai",
                      "Sampah sudah diangkut. Jadwal angkut ditambah."]


@responses.activate
def test_re_engagement_error_means_use_the_template(messenger):
    responses.post(WA_URL, **graph_error(131047, "Re-engagement message"))
    result = messenger.send_text("6281234567801", "Tanggapan", "WhatsApp")
    assert not result.ok and result.window_closed and result.error_code == 131047


@pytest.mark.parametrize("code", [130429, 131056, 80007])
@responses.activate
def test_rate_limits_are_retry_later(messenger, code):
    responses.post(WA_URL, **graph_error(code, "Rate limit hit"))
    result = messenger.send_text("6281234567801", "Tanggapan", "WhatsApp")
    assert not result.ok and result.retry_later and not result.window_closed


@responses.activate
def test_http_429_is_retried_then_succeeds(messenger):
    responses.post(WA_URL, status=429, json={"error": {"code": 4, "message": "Application request limit reached"}})
    responses.post(WA_URL, json=ok_whatsapp("wamid.AFTER"))
    result = messenger.send_text("6281234567801", "Tanggapan", "WhatsApp")
    assert result.ok and result.message_id == "wamid.AFTER" and len(responses.calls) == 2


@responses.activate
def test_server_error_on_a_send_is_not_blindly_retried(messenger):
    responses.post(WA_URL, status=500, json={"error": {"code": 1, "message": "An unknown error occurred"}})
    result = messenger.send_text("6281234567801", "Tanggapan", "WhatsApp")
    assert not result.ok and result.retry_later and len(responses.calls) == 1


@responses.activate
def test_connection_that_never_happened_is_retried(messenger):
    responses.post(WA_URL, body=requests.ConnectTimeout("connect timeout"))
    responses.post(WA_URL, json=ok_whatsapp("wamid.OK"))
    assert messenger.send_text("6281234567801", "Tanggapan", "WhatsApp").ok


@responses.activate
def test_read_timeout_may_have_sent_so_it_is_not_retried(messenger):
    responses.post(WA_URL, body=requests.ReadTimeout("read timeout"))
    result = messenger.send_text("6281234567801", "Tanggapan", "WhatsApp")
    assert not result.ok and not result.retry_later and len(responses.calls) == 1


@responses.activate
def test_expired_token_is_reported(messenger, capsys):
    responses.post(WA_URL, status=401, **{k: v for k, v in graph_error(190, "Error validating access token").items()
                                           if k != "status"})
    result = messenger.send_text("6281234567801", "Tanggapan", "WhatsApp")
    assert not result.ok and result.error_code == 190
    assert "CRITICAL" in capsys.readouterr().err


@responses.activate
def test_long_whatsapp_text_is_clipped_to_the_api_limit(messenger):
    responses.post(WA_URL, json=ok_whatsapp())
    messenger.send_text("6281234567801", "x" * 5000, "WhatsApp")
    assert len(sent_json(responses.calls[0])["text"]["body"]) == 4096


@responses.activate
def test_messenger_reply_inside_and_outside_the_window(messenger):
    responses.post(ME_URL, json={"recipient_id": "6254021434668112", "message_id": "m_AAA"})
    responses.post(ME_URL, json={"recipient_id": "6254021434668112", "message_id": "m_BBB"})
    assert messenger.send_text("6254021434668112", "Halo", "Facebook").message_id == "m_AAA"
    messenger.send_text("6254021434668112", "Tanggapan", "Instagram", tag="HUMAN_AGENT")
    first, second = (sent_json(c) for c in responses.calls)
    assert responses.calls[0].request.headers["Authorization"] == "Bearer EAAG-page-token"
    assert first == {"recipient": {"id": "6254021434668112"}, "message": {"text": "Halo"},
                     "messaging_type": "RESPONSE"}
    assert second["messaging_type"] == "MESSAGE_TAG" and second["tag"] == "HUMAN_AGENT"


@responses.activate
def test_messenger_outside_allowed_window_is_window_closed(messenger):
    responses.post(ME_URL, **graph_error(10, "This message is sent outside of allowed window.", subcode=2018278))
    result = messenger.send_text("6254021434668112", "Tanggapan", "Facebook")
    assert not result.ok and result.window_closed


@responses.activate
def test_comment_gets_a_private_reply_and_later_a_public_one(messenger):
    responses.post(ME_URL, json={"recipient_id": "2539381862829497", "message_id": "m_PRIV"})
    responses.post(f"{GRAPH}/1164870100259578_77/comments", json={"id": "1164870100259578_99"})
    responses.post(f"{GRAPH}/17900000000001/replies", json={"id": "17900000000002"})
    messenger.send_text("comment:1164870100259578_77", "Tiket Anda", "Facebook")
    messenger.send_text("comment:1164870100259578_77", "Sudah ditanggapi", "Facebook", public=True)
    messenger.send_text("comment:17900000000001", "Sudah ditanggapi", "Instagram", public=True)
    assert sent_json(responses.calls[0]) == {"recipient": {"comment_id": "1164870100259578_77"},
                                             "message": {"text": "Tiket Anda"}}
    assert sent_json(responses.calls[1]) == {"message": "Sudah ditanggapi"}
    assert sent_json(responses.calls[2]) == {"message": "Sudah ditanggapi"}


@responses.activate
def test_channel_without_its_token_goes_to_the_outbox(tmp_path):
    messenger = GraphMessenger(graph_url=GRAPH, whatsapp_token="EAAG-wa-token", phone_number_id=PHONE_ID,
                               fallback=OutboxMessenger(tmp_path / "outbox"))
    assert messenger.send_text("6254021434668112", "Halo", "Facebook").ok
    assert len(responses.calls) == 0
    assert read_outbox(tmp_path / "outbox", "Facebook")[0]["to"] == "6254021434668112"
