"""Issue 16: the findings of an outside security review and of a first-time operator, one test
(or more) per numbered item; each failed on the code before the fix. Items 5 and 6 (overlapping
jobs) are in test_overlapping_jobs.py; item 22 belongs to issue 19."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from functions.bootstrap import build
from functions.config import ConfigError, Settings
from functions.model import Channel, Complaint, Contact
from functions.server import make_app
from functions.services.jobs import daily_job
from functions.services.staff import staff_edit
from functions.stores.port import CellUpdate
from functions.services.intake import intake
from tests.draining import draining_client
from tests.fakes import meta_payloads as mp
from tests.fakes.clock import WIB

ROOT = Path(__file__).resolve().parents[2]
KEY = "kunci-mitra-1"
ADMIN = {"Authorization": "Bearer test-admin-token"}


@pytest.fixture
def hsvc(settings, clock):
    s = replace(settings, open311_keys=(KEY,), whatsapp_app_secret=mp.APP_SECRET,
                whatsapp_phone_number_id=mp.PHONE_NUMBER_ID)
    services = build(s, clock=clock)
    services.workbook.bootstrap()
    return services


@pytest.fixture
def app(hsvc):
    """Doors only accept; this client stores what each POST queued, as the writer would."""
    return draining_client(hsvc)


def open311_post(app, headers=None, **fields):
    data = {"api_key": KEY, "service_code": "jalan-rusak", "address_string": "Jl. Poros Sukabangun",
            "description": "Jalan berlubang besar di depan SD 5", "first_name": "Siti", **fields}
    return app.post("/open311/v2/requests.json", data={k: v for k, v in data.items() if v is not None},
                    headers=headers or {})


def whatsapp_case(hsvc, clock, text="jalan rusak berlubang di Sandai", sender="6281234567801", msg_id="wamid.h1"):
    return intake(hsvc, Complaint(text, Channel.WHATSAPP, clock(), Contact("Budi Santoso", "0" + sender[2:], sender),
                                 source_id=msg_id))


def spec_error(reply, status):
    body = reply.get_json()
    assert reply.status_code == status, body
    assert isinstance(body, list) and set(body[0]) == {"code", "description"} and body[0]["code"] == status
    return body[0]["description"]


def rows(svc):
    return [r for tab in svc.workbook.read_all().values() for r in tab]


# -- 1. Open311 enumeration ----------------------------------------------------------------------

def test_1_guessing_ids_on_open311_is_limited_and_shares_the_status_page_budget(app, hsvc, clock):
    remote = {"REMOTE_ADDR": "198.51.100.7"}
    real = whatsapp_case(hsvc, clock).ticket_id
    for n in range(20):
        assert app.get(f"/open311/v2/requests/KMC-261102-ZZZ{n:02d}.json", environ_base=remote).status_code == 404
    assert "Terlalu banyak" in spec_error(app.get(f"/open311/v2/requests/{real}.json", environ_base=remote), 429)
    # the status page answers from the same budget: a client cannot switch doors
    assert app.get(f"/form/status?tiket={real}", environ_base=remote).status_code == 429
    assert app.get(f"/open311/v2/requests/{real}.json", environ_base={"REMOTE_ADDR": "198.51.100.8"}).status_code == 200


def test_1_a_list_of_guessed_ids_is_capped_and_spends_the_budget(app, hsvc, clock):
    remote = {"REMOTE_ADDR": "198.51.100.9"}
    ids = ",".join(f"KMC-261102-ZZ{n:03d}" for n in range(2000))
    assert "paling banyak 20" in spec_error(app.get(f"/open311/v2/requests.json?service_request_id={ids}",
                                                    environ_base=remote), 400)
    twenty = ",".join(f"KMC-261102-ZZ{n:03d}" for n in range(20))
    assert app.get(f"/open311/v2/requests.json?service_request_id={twenty}", environ_base=remote).get_json() == []
    real = whatsapp_case(hsvc, clock).ticket_id
    spec_error(app.get(f"/open311/v2/requests.json?service_request_id={real},KMC-261102-ZZ999",
                       environ_base=remote), 429)


def test_1_staff_answers_of_cases_from_other_channels_are_not_shown_to_anonymous_callers(app, hsvc, clock):
    whatsapp = whatsapp_case(hsvc, clock).ticket_id
    own = open311_post(app).get_json()[0]["service_request_id"]
    for ticket in (whatsapp, own):
        staff_edit(hsvc.workbook, hsvc.schema, ticket, ["status=Diproses",
                                                        "response=Bu Siti di Jl. Merdeka 5, petugas datang besok"], "KMC")
    (other,) = app.get(f"/open311/v2/requests/{whatsapp}.json").get_json()
    (mine,) = app.get(f"/open311/v2/requests/{own}.json").get_json()
    assert other["status_notes"] is None and other["description"] is None and other["address"] is None
    assert other["status"] == "open" and other["agency_responsible"]
    assert "petugas datang besok" in mine["status_notes"]


# -- 2, 3, 13, 26. One cleaning policy; the export never crashes; XML stays well-formed ----------

def test_2_control_characters_in_any_field_never_reach_the_store_and_the_export_never_crashes(app, hsvc, clock,
                                                                                               tmp_path):
    from functions.services.export import export_xlsx
    from tests.entrypoints.test_web_form import Browser, filled

    form = Browser(make_app(hsvc)).submit(**filled(nama="Ani\x07 Lestari", desa="Desa\x01 Kuala\x1b[31m Satong"))
    assert form.status_code == 200
    posted = open311_post(app, first_name="Rina\x07", last_name="\x1b[2JWati", address_string="Jl.\x01 Merdeka\x0b 5")
    assert posted.status_code == 200
    ticket = posted.get_json()[0]["service_request_id"]
    # staff can type anything into a sheet cell, control characters included
    hsvc.workbook.update([CellUpdate(ticket, {"response": "sudah\x07 dicek\x1b"})], staff=True)
    for row in rows(hsvc):
        for value in row.values():
            if isinstance(value, str) and row["ticket_id"] != ticket or isinstance(value, str) and value != row["response"]:
                assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", value), value
    assert {r["reporter"] for r in rows(hsvc)} == {"Ani L.", "Rina W."}
    assert hsvc.contacts.get(ticket).contact.name == "Rina Wati"
    out = tmp_path / "kmc.xlsx"
    counts = export_xlsx(hsvc.workbook, hsvc.schema, out)
    assert sum(counts.values()) == 2 and out.stat().st_size > 0


def test_3_open311_xml_is_well_formed_whatever_the_address_or_the_staff_typed(app, hsvc):
    posted = open311_post(app, address_string="Jl.\x01 Merdeka \x1b[31mmerah\x1b[0m \u202egnalaj\u202c 5")
    ticket = posted.get_json()[0]["service_request_id"]
    hsvc.workbook.update([CellUpdate(ticket, {"response": "dicek\x0b\x01 \ufffe besok\x1b"})], staff=True)
    single = app.get(f"/open311/v2/requests/{ticket}.xml")
    listed = app.get("/open311/v2/requests.xml")
    for reply in (single, listed):
        root = ET.fromstring(reply.data)  # "not well-formed" before the fix
        request = root.find("request")
        assert request.findtext("address") == "Jl. Merdeka merah gnalaj 5"
        assert request.findtext("status_notes") == "dicek  besok"


def test_13_bidi_controls_in_whatsapp_profile_names_and_addresses_are_removed(app, hsvc, clock):
    msg = mp.wa_location(name="Jl. Gajah\u061c Mada \u202eKetapang\u202c", at=clock(), message_id="wamid.bidi1")
    payload = mp.whatsapp([mp.wa_text("jalan rusak parah di depan \u202esekolah\u202c \u2066kami\u2069",
                                      at=clock(), message_id="wamid.bidi0"), msg],
                          contacts=[mp.wa_contact("6281234567801", "\u202eAdmin\u202c A.")])
    body, headers = mp.signed(payload)
    assert app.post("/meta", data=body, headers=headers).status_code == 200
    (row,) = rows(hsvc)
    assert row["reporter"] == "Admin A."
    assert "\u202e" not in json.dumps(row, default=str, ensure_ascii=False)
    assert "\u061c" not in json.dumps(row, default=str, ensure_ascii=False)
    assert row["text"].startswith("jalan rusak parah di depan sekolah kami")


def test_26_a_signed_whatsapp_text_with_a_cut_emoji_is_stored_with_a_replacement_character(app, hsvc, clock):
    body = mp.encode(mp.whatsapp([mp.wa_text("PLACEHOLDER", at=clock(), message_id="wamid.cut")]))
    body = body.replace(b"PLACEHOLDER", b"banjir lagi di Delta Pawan \\ud83d tolong")  # a lone surrogate escape
    reply = app.post("/meta", data=body, headers={"Content-Type": "application/json",
                                                   "X-Hub-Signature-256": mp.sign(body)})
    assert reply.status_code == 200 and reply.get_json()["tickets"]
    (row,) = rows(hsvc)
    assert row["text"] == "banjir lagi di Delta Pawan \ufffd tolong"


# -- 4. X-Forwarded-For --------------------------------------------------------------------------

def _submit_from(app_client, remote: str, forwarded: str, n: int):
    from tests.entrypoints.test_web_form import filled, hidden_fields

    page = app_client.get("/form", environ_base={"REMOTE_ADDR": remote})
    form = {**hidden_fields(page.get_data(as_text=True)), **filled(isi=f"Aduan {n}: lampu jalan mati di gang {n}")}
    return app_client.post("/form", data=form, environ_base={"REMOTE_ADDR": remote},
                           headers={"X-Forwarded-For": forwarded})


def test_4_a_changing_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(hsvc):
    client = make_app(hsvc).test_client()  # `serve` on its own: no proxy is trusted
    codes = [_submit_from(client, "203.0.113.9", f"192.0.2.{n}", n).status_code for n in range(11)]
    assert codes[:10] == [200] * 10 and codes[10] == 429


def test_4_behind_a_configured_proxy_the_client_address_counts_and_non_ips_are_never_keys(settings, clock):
    s = Settings.from_env({"KMC_DATA_DIR": str(settings.data_dir), "KMC_ADMIN_TOKEN": settings.admin_token,
                           "KMC_TRUSTED_PROXIES": "10.0.0.0/8"})
    svc = build(s, clock=clock)
    svc.workbook.bootstrap()
    client = make_app(svc).test_client()
    # junk in the header: the proxy's own address is the key (so junk never buys a fresh bucket)
    codes = [_submit_from(client, "10.0.0.1", f"bukan-ip-{n}", n).status_code for n in range(11)]
    assert codes[10] == 429
    # real client addresses behind the trusted proxy are counted apart
    assert _submit_from(client, "10.0.0.1", "198.51.100.1", 99).status_code == 200


def test_4_trusted_proxies_are_read_in_settings_and_validated():
    assert Settings.from_env({}).trusted_proxies == ()
    assert Settings.from_env({"K_SERVICE": "web_form"}).trusted_proxies == ("*",)  # Google's front end
    with pytest.raises(ConfigError, match="KMC_TRUSTED_PROXIES"):
        Settings.from_env({"KMC_TRUSTED_PROXIES": "proxy.local"})


# -- 7, 8, 9. Parsing that must never be a 500 ---------------------------------------------------

@pytest.mark.parametrize("stamp", ["99999999999999999999", True, 1, "1", "0001-01-01T00:00:00+14:00",
                                   "9999-12-31T23:59:59-12:00", 4102444800, "1e308", "nan"])
def test_7_an_absurd_whatsapp_timestamp_uses_the_arrival_time(app, hsvc, clock, stamp):
    message = mp.wa_text("Jalan di Desa Sukabangun berlubang besar", at=clock(), message_id="wamid.t")
    message["timestamp"] = stamp
    body, headers = mp.signed(mp.whatsapp([message]))
    reply = app.post("/meta", data=body, headers=headers)
    assert reply.status_code == 200
    (ticket,) = reply.get_json()["tickets"]
    assert ticket.startswith("KMC-261102-")  # today, not KMC-700101-… or year 2100
    (row,) = rows(hsvc)
    assert row["received_at"] == clock() and row["sla"] == "Berjalan"


def test_8_deeply_nested_signed_json_is_ignored_not_a_500(app, hsvc):
    body = b"[" * 100_000 + b"]" * 100_000
    reply = app.post("/meta", data=body, headers={"Content-Type": "application/json",
                                                   "X-Hub-Signature-256": mp.sign(body)})
    assert reply.status_code == 200 and reply.get_json()["ignored"] == "malformed"
    assert rows(hsvc) == []


def test_9_monitoring_checks_the_token_before_parsing_nested_json(app, hsvc):
    body = b'{"a":' * 50_000 + b"1" + b"}" * 50_000
    anonymous = app.post("/monitoring", data=body, headers={"Content-Type": "application/json"})
    assert anonymous.status_code == 401
    admin = app.post("/monitoring", data=body, headers={"Content-Type": "application/json", **ADMIN})
    assert admin.status_code == 400 and "JSON" in admin.get_json()["error"]


# -- 10, 11, 12. Open311 ---------------------------------------------------------------------------

@pytest.mark.parametrize("query", ["start_date=9999-12-31", "end_date=0001-01-01",
                                   "start_date=0001-01-01&end_date=0001-02-01", "end_date=9999-12-31T23:59:59"])
def test_10_dates_out_of_range_are_a_400_in_the_spec_shape(app, query):
    assert "rentang" in spec_error(app.get(f"/open311/v2/requests.json?{query}"), 400)
    assert ET.fromstring(app.get(f"/open311/v2/requests.xml?{query}").data).tag == "errors"


def test_11_the_api_key_comes_from_a_header_or_the_body_never_from_the_url(app, hsvc):
    in_url = app.post(f"/open311/v2/requests.json?api_key={KEY}",
                      data={"service_code": "jalan-rusak", "address_string": "Jl. Merdeka", "description": "jalan rusak"})
    assert "URL" in spec_error(in_url, 400) and rows(hsvc) == []
    by_header = open311_post(app, api_key=None, headers={"X-Api-Key": KEY})
    assert by_header.status_code == 200 and len(rows(hsvc)) == 1


def test_11_keys_and_tokens_in_urls_never_reach_the_access_log():
    from functions.server import redact

    line = "POST /open311/v2/requests.json?api_key=rahasia&x=1 HTTP/1.1"
    assert "rahasia" not in redact(line) and "x=1" in redact(line)
    assert "zzz" not in redact("POST /jobs/daily?token=zzz HTTP/1.1")
    assert "v3rify" not in redact("GET /meta?hub.mode=subscribe&hub.verify_token=v3rify&hub.challenge=1 HTTP/1.1")


def test_11_serve_logs_requests_with_secrets_redacted(cli_env):
    """The real `serve` process: its access log line for a key in a URL shows no key."""
    import socket
    import time

    import requests

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "main.py", "serve", "--port", str(port), "--no-scheduler"], cwd=ROOT,
                            env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(100):
            try:
                requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        requests.post(f"http://127.0.0.1:{port}/open311/v2/requests.json?api_key=SANGATRAHASIA", timeout=5)
        requests.post(f"http://127.0.0.1:{port}/jobs/daily?token=TOKENRAHASIA", timeout=5)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert "requests.json?api_key=" in err  # the request was logged ...
    assert "SANGATRAHASIA" not in err and "TOKENRAHASIA" not in err  # ... without the secret


def test_12_an_idempotency_key_reused_with_another_body_is_refused_in_the_spec_shape(app, hsvc):
    first = open311_post(app, headers={"Idempotency-Key": "abc-123"})
    retry = open311_post(app, headers={"Idempotency-Key": "abc-123"})
    assert retry.get_json()[0]["service_request_id"] == first.get_json()[0]["service_request_id"]
    other = open311_post(app, headers={"Idempotency-Key": "abc-123"}, description="Lampu jalan mati di Jl. Merdeka")
    assert "Idempotency-Key" in spec_error(other, 409)
    assert len(rows(hsvc)) == 1
    fresh = open311_post(app, headers={"Idempotency-Key": "abc-124"}, description="Lampu jalan mati di Jl. Merdeka")
    assert fresh.status_code == 200 and len(rows(hsvc)) == 2


# -- 14. Redelivered greetings and commands ---------------------------------------------------------

def _wa_outbox(hsvc) -> list[dict]:
    path = hsvc.settings.outbox_dir / "whatsapp.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.parametrize("text", ["halo min", "STATUS KMC-261102-ZZZZZ", "cek"])
def test_14_a_redelivered_greeting_or_status_is_answered_once(app, hsvc, clock, text):
    if text == "cek":
        whatsapp_case(hsvc, clock, sender="6281234567801")
    body, headers = mp.signed(mp.whatsapp([mp.wa_text(text, at=clock(), message_id="wamid.again")]))
    for _ in range(3):  # Meta redelivers what it believes unanswered
        assert app.post("/meta", data=body, headers=headers).status_code == 200
    assert len(_wa_outbox(hsvc)) == 1


# -- 15. Pages, local alert emails, the honeypot ------------------------------------------------------

def test_15_monitoring_pages_send_the_form_s_security_headers(app):
    from functions.channels.web_form import SECURITY_HEADERS

    for reply in (app.get("/monitoring"), app.post("/monitoring", data={"format": "html", "token": "salah"})):
        for name, value in SECURITY_HEADERS.items():
            assert reply.headers.get(name) == value, name


def test_15_local_emails_show_no_file_path(app, hsvc, clock):
    posted = app.post("/monitoring", json={"platform": "Facebook", "url": "https://facebook.com/p/1",
                                           "text": "Jalan rusak parah, pemda diam saja, warga marah besar",
                                           "sentiment": "Negatif"}, headers=ADMIN)
    assert posted.status_code == 202  # accepted into the intake queue (issue 14); the client stored it
    clock.advance(days=3)
    daily_job(hsvc)
    mails = list(hsvc.settings.outbox_dir.glob("*.eml")) + list(hsvc.settings.outbox_dir.glob("*.html"))
    assert mails and not [m.name for m in mails if "file://" in m.read_text(errors="replace")]
    assert any("python main.py sheet show" in m.read_text(errors="replace") for m in mails)


def test_15_the_honeypot_ticket_looks_like_a_real_new_case_on_the_status_page(hsvc):
    from tests.entrypoints.test_web_form import Browser, filled

    browser = Browser(make_app(hsvc))
    reply = browser.submit(**filled(website="http://spam.example"))
    ticket = re.search(r'data-ticket="([^"]+)"', reply.get_data(as_text=True)).group(1)
    assert rows(hsvc) == []  # nothing stored
    page = browser.get(f"/form/status?tiket={ticket}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert ticket in text and "Baru" in text and "Senin, 2 November 2026 pukul 08.00 WIB" in text
    assert browser.get("/form/status?tiket=KMC-261102-ABCDE").status_code == 404  # a guess still misses
    # same class: Open311 answers for it as for a real new case
    (fake,) = browser.get(f"/open311/v2/requests/{ticket}.json").get_json()
    assert fake["status"] == "open" and fake["requested_datetime"] == "2026-11-02T08:00:00+07:00"


# -- 16, 24. Configuration -----------------------------------------------------------------------------

@pytest.mark.parametrize("env,words", [
    ({"KMC_SLA_HOURS": "nan"}, "KMC_SLA_HOURS"), ({"KMC_SLA_HOURS": "inf"}, "KMC_SLA_HOURS"),
    ({"KMC_SLA_HOURS": "1e20"}, "KMC_SLA_HOURS"), ({"KMC_REMINDER_HOURS": "-inf"}, "KMC_REMINDER_HOURS"),
    ({"KMC_PUBLIC_URL": "notaurl"}, "KMC_PUBLIC_URL"), ({"KMC_PUBLIC_URL": "ftp://x.example"}, "KMC_PUBLIC_URL"),
    ({"SMTP_PORT": "99999"}, "SMTP_PORT"), ({"KMC_BACKEND": "sqlite"}, "KMC_BACKEND"),
    ({"KMC_BACKEND": "google"}, "KMC_SPREADSHEET_ID"), ({"KMC_TIMEZONE": "Mars/Olympus"}, "KMC_TIMEZONE"),
])
def test_16_bad_settings_are_refused_naming_the_variable_in_indonesian(env, words):
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)
    message = str(caught.value)
    assert words in message
    assert re.search(r"\b(harus|wajib|bukan)\b", message)
    assert not re.search(r"\b(must|got|required|is not)\b", message)


def test_16_backend_names_are_case_insensitive():
    assert Settings.from_env({"KMC_BACKEND": "Local"}).backend == "local"


def test_16_sweep_with_absurd_sla_hours_is_a_clear_message_not_a_traceback(cli_env):
    result = subprocess.run([sys.executable, "main.py", "sweep"], cwd=ROOT, env={**cli_env, "KMC_SLA_HOURS": "inf"},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "Konfigurasi salah: KMC_SLA_HOURS" in result.stderr


def test_24_a_misspelled_data_dir_is_refused_instead_of_an_empty_store(cli_env, tmp_path):
    wrong = tmp_path / "dta"
    result = subprocess.run([sys.executable, "main.py", "daily"], cwd=ROOT, env={**cli_env, "KMC_DATA_DIR": str(wrong)},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "KMC_DATA_DIR" in result.stderr and "bootstrap" in result.stderr
    assert not wrong.exists()  # no empty store, no all-zero digest


# -- 17, 18, 19, 20, 21, 23 ------------------------------------------------------------------------------

def test_17_demo_refuses_a_data_dir_with_real_cases(cli_env, tmp_path):
    data = Path(cli_env["KMC_DATA_DIR"])
    svc = build(Settings.from_env(cli_env))
    svc.workbook.bootstrap()
    before = (data / "workbook.sqlite").read_bytes()
    result = subprocess.run([sys.executable, "main.py", "demo"], cwd=ROOT, env=cli_env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2 and "tidak kosong" in result.stderr
    assert (data / "workbook.sqlite").read_bytes() == before and not (data / "outbox").exists()


def test_17_an_age_is_never_negative(clock):
    from functions.digest.data import case_ref

    row = {"ticket_id": "KMC-261102-AAAAA", "received_at": clock() + timedelta(hours=5), "text": "x",
           "deadline": clock() + timedelta(hours=53)}
    assert case_ref("PUTR", "PUTR", row, clock(), lambda tab, ticket: ("", "")).age_hours == 0


def test_18_the_413_page_reads_as_sentences(hsvc):
    page = make_app(hsvc).test_client().post("/form", data={"isi": "x" * 70_000}).get_data(as_text=True)
    assert "Tekan tombol Kembali di peramban, persingkat isi aduan (paling banyak 4.000 karakter), lalu kirim lagi." \
        in page


def test_19_forget_also_clears_reporter_and_contact_in_the_archive(hsvc, clock):
    from functions.archives import archive_factory, existing_archives
    from functions.services.archive import archive_closed
    from functions.services.privacy import forget

    ticket = whatsapp_case(hsvc, clock).ticket_id
    staff_edit(hsvc.workbook, hsvc.schema, ticket, ["status=Selesai", "response=Sudah diperbaiki."], "KMC")
    archive_closed(hsvc.workbook, archive_factory(hsvc), datetime(2027, 1, 1).date(), tz=WIB)
    assert hsvc.workbook.find(ticket) is None
    assert forget(hsvc.workbook, hsvc.contacts, ticket, "KMC", existing_archives(hsvc)) == [ticket]
    archived = existing_archives(hsvc)(2026).find(ticket).row
    assert archived["reporter"] == "Anonim" and archived["contact"] == ""


def test_20_a_free_text_status_is_in_the_digest_and_open_everywhere(app, hsvc, clock):
    from tests.fakes.mailbox import RecordingMailer

    ticket = open311_post(app).get_json()[0]["service_request_id"]
    hsvc.workbook.update([CellUpdate(ticket, {"status": "Beres", "response": "sudah ditambal"})], staff=True)
    page = app.get(f"/form/status?tiket={ticket}").get_data(as_text=True)
    assert "Beres" in page and "dianggap masih berjalan" in page
    assert app.get(f"/open311/v2/requests/{ticket}.json").get_json()[0]["status"] == "open"
    svc = build(hsvc.settings, clock=clock, workbook=hsvc.workbook, contacts=hsvc.contacts, mailer=RecordingMailer())
    report = daily_job(svc)
    assert any(ticket in p and "Beres" in p for p in report.digest.problems)
    (mail,) = [m for m in svc.mailer.sent if m.tag.startswith("digest")]
    assert "Beres" in mail.text


def test_21_the_outbox_html_preview_shows_the_chart(hsvc, clock):
    whatsapp_case(hsvc, clock)
    clock.advance(days=3)
    report = daily_job(hsvc)
    preview = Path(report.delivered).with_suffix(".html").read_text()
    assert "cid:" not in preview
    assert re.search(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]{200,}"', preview)


def test_23_the_export_keeps_text_as_typed_in_text_cells(hsvc, clock, tmp_path):
    from openpyxl import load_workbook

    from functions.services.export import export_xlsx

    for i, text in enumerate(("+62 813 2838 3222 jalan rusak", "=SUM(A1:A9) jalan rusak", "-tolong jalan rusak",
                              "@bupati jalan rusak")):
        intake(hsvc, Complaint(text, Channel.WEB_FORM, clock(), Contact("Budi"), source_id=f"x{i}"))
    out = tmp_path / "k.xlsx"
    export_xlsx(hsvc.workbook, hsvc.schema, out)
    cells = [c for ws in load_workbook(out).worksheets for r in ws.iter_rows(min_row=2) for c in r
             if isinstance(c.value, str) and "jalan rusak" in c.value]
    assert sorted(c.value for c in cells) == sorted(["+62 813 2838 3222 jalan rusak", "=SUM(A1:A9) jalan rusak",
                                                    "-tolong jalan rusak", "@bupati jalan rusak"])
    assert all(c.data_type == "s" and c.quotePrefix for c in cells)


def test_beyond_the_list_an_over_long_text_fits_an_excel_cell_in_the_export(hsvc, clock, tmp_path):
    """Same class as items 2 and 26: Excel holds 32,767 characters per cell; a longer cell made
    Excel 'repair' the exported file."""
    from openpyxl import load_workbook

    from functions.services.export import export_xlsx

    intake(hsvc, Complaint("jalan rusak " + "x" * 99_988, Channel.WEB_FORM, clock(), Contact("Budi"), source_id="long"))
    out = tmp_path / "k.xlsx"
    export_xlsx(hsvc.workbook, hsvc.schema, out)
    (cell,) = [c for ws in load_workbook(out).worksheets for r in ws.iter_rows(min_row=2) for c in r
               if isinstance(c.value, str) and c.value.startswith("jalan rusak")]
    assert len(cell.value) <= 32_767 and cell.value.endswith("…[dipotong, 100.000 karakter]")


# -- 24. Smaller operator findings ---------------------------------------------------------------------------

@pytest.fixture
def seeded_env(cli_env):
    svc = build(Settings.from_env(cli_env))
    svc.workbook.bootstrap()
    intake(svc, Complaint("jalan rusak berlubang di Sandai", Channel.WHATSAPP, datetime(2026, 11, 2, 8, 0, tzinfo=WIB),
                         Contact("Budi", "081328383222", "6281328383222"), source_id="wamid.s"))
    return cli_env


def cli(env, *args):
    return subprocess.run([sys.executable, "main.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("typed,key", [("putr", "PUTR"), ("PUTR", "PUTR"), ("Triase KMC", "TRIASE"),
                                       ("luar pemda", "LUAR_PEMDA"), ("rsud agoesdjam", "RSUD")])
def test_24_sheet_show_takes_the_key_in_any_case_or_the_tab_title(seeded_env, typed, key):
    result = cli(seeded_env, "sheet", "show", typed)
    assert result.returncode == 0, result.stderr
    assert f"[{key}] — " in result.stdout and result.stdout.count("==") == 1
    if key == "PUTR":
        assert "[PUTR] — 1 aduan" in result.stdout


def test_24_dry_runs_say_so_and_never_say_sent(seeded_env):
    sweep = cli(seeded_env, "sweep", "--dry-run", "--now", "2026-11-05T07:00").stdout
    daily = cli(seeded_env, "daily", "--dry-run", "--now", "2026-11-05T07:00").stdout
    assert "uji coba" in sweep
    assert "uji coba" in daily and "dikirim ke" not in daily.replace("akan dikirim ke", "")


def test_24_people_see_one_date_time_style(svc, clock):
    from functions.model import Receipt
    from functions.services import replies

    receipt = Receipt("KMC-261102-AAAAA", "PUTR", clock() + timedelta(hours=48), created=True)
    ack = replies.ack_text(svc, receipt)
    assert "Rabu, 4 November 2026 pukul 08.00 WIB" in ack
    assert not re.search(r"\d\d:\d\d", ack)


def test_24_the_home_page_lists_no_internal_function_names(hsvc):
    page = make_app(hsvc).test_client().get("/").get_data(as_text=True)
    for internal in ("meta_webhook", "web_form", "monitoring_intake", "daily_digest", "media_monitor", "/jobs/"):
        assert internal not in page
    assert "Formulir aduan" in page


def test_24_the_three_google_news_feeds_fail_with_lines_that_tell_them_apart(hsvc, clock):
    from functions.services.media import load_media_config, run_media

    class Down:
        def fetch(self, url, validators=None):  # noqa: ARG002
            from functions.feeds.model import FeedFailure

            raise FeedFailure("connection", "timed out")

    cfg = load_media_config()
    google = [f for f in cfg.feeds if "news.google.com" in f]
    assert len(google) == 3
    report = run_media(google, cfg, fetcher=Down(), workbook=hsvc.workbook, intake=lambda complaint: intake(hsvc, complaint),
                       classify=hsvc.classify, alert=lambda items: None, now=clock())
    assert len(report.problems) == 3 and len(set(report.problems)) == 3
    assert all("Ketapang" in p for p in report.problems)


def test_24_no_name_is_not_the_same_as_asking_to_stay_anonymous(svc, clock):
    named = intake(svc, Complaint("jalan rusak di Sandai", Channel.WEB_FORM, clock(), Contact(""), source_id="a"))
    hidden = intake(svc, Complaint("jalan rusak di Marau", Channel.WEB_FORM, clock(), Contact("Budi", anonymous=True),
                                  source_id="b"))
    assert svc.workbook.find(named.ticket_id).row["reporter"] == "Tanpa Nama"
    assert svc.workbook.find(hidden.ticket_id).row["reporter"] == "Anonim"


def test_24_archived_cases_are_still_found_on_the_status_page(hsvc, clock):
    from functions.archives import archive_factory
    from functions.services.archive import archive_closed

    ticket = whatsapp_case(hsvc, clock).ticket_id
    staff_edit(hsvc.workbook, hsvc.schema, ticket, ["status=Selesai", "response=Sudah diperbaiki."], "KMC")
    archive_closed(hsvc.workbook, archive_factory(hsvc), datetime(2027, 1, 1).date(), tz=WIB)
    page = make_app(hsvc).test_client().get(f"/form/status?tiket={ticket}")
    assert page.status_code == 200 and "Sudah diperbaiki." in page.get_data(as_text=True)


# -- 25. scripts/test.sh -----------------------------------------------------------------------------------

def _fake_bin(tmp_path: Path, *, have: tuple[str, ...], uid: int, python_exit: int = 0) -> Path:
    binary = tmp_path / "bin"
    binary.mkdir()
    log = tmp_path / "calls.log"

    def tool(name: str, body: str) -> None:
        path = binary / name
        path.write_text(f"#!/bin/bash\n{body}\n")
        path.chmod(0o755)

    tool("dirname", 'exec /usr/bin/dirname "$@"')
    tool("id", f'echo {uid}')
    tool("apt-get", f'echo "apt-get $*" >> {log}')
    tool("python", f'echo "python $*" >> {log}; case "$*" in *pytest*) exit {python_exit};; esac; exit 0')
    for name in have:
        tool(name, "exit 0")
    return binary


def _run_test_sh(tmp_path, **kw):
    binary = _fake_bin(tmp_path, **kw)
    result = subprocess.run(["/bin/bash", str(ROOT / "scripts" / "test.sh")], env={"PATH": str(binary)},
                            capture_output=True, text=True, timeout=60)
    log = tmp_path / "calls.log"
    return result, (log.read_text() if log.exists() else "")


def test_25_present_packages_skip_apt_and_need_no_root(tmp_path):
    result, calls = _run_test_sh(tmp_path, have=("chromium", "shellcheck"), uid=1000)
    assert result.returncode == 0, result.stderr
    assert "apt-get" not in calls and "-m pytest" in calls


def test_25_apt_waits_for_the_lock_instead_of_failing(tmp_path):
    result, calls = _run_test_sh(tmp_path, have=(), uid=0)
    assert result.returncode == 0, result.stderr
    apt = [line for line in calls.splitlines() if line.startswith("apt-get")]
    assert len(apt) == 2 and all("DPkg::Lock::Timeout=600" in line for line in apt)


def test_25_without_root_or_sudo_it_says_what_to_install(tmp_path):
    result, calls = _run_test_sh(tmp_path, have=("shellcheck",), uid=1000)
    assert result.returncode == 2 and "chromium" in result.stderr and "apt-get install" in result.stderr
    assert "pytest" not in calls


def test_25_pytest_s_exit_code_is_the_script_s(tmp_path):
    result, _ = _run_test_sh(tmp_path, have=("chromium", "shellcheck"), uid=1000, python_exit=5)
    assert result.returncode == 5


def test_26_on_google_sheets_an_over_long_text_is_kept_whole_in_the_private_spreadsheet(clock):
    from functions.services.intake import IntakePolicy, submit_complaint
    from functions.routing import load_rules, route
    from functions.model import Sentiment
    from tests.adapters.sheets_env import sheets_env

    with sheets_env() as env:
        wb, contacts = env.workbook(), env.contacts()
        wb.bootstrap()
        contacts.bootstrap()
        text = "jalan rusak di Desa Sungai Awan " + "x" * 999_968
        receipt = submit_complaint(
            Complaint(text, Channel.WHATSAPP, clock(), Contact("Budi", "081234567801", "6281234567801"),
                      source_id="wamid.long"),
            workbook=wb, contacts=contacts, route=lambda t: route(t, load_rules()),
            classify=lambda t: (Sentiment.NEGATIVE, 0.9), policy=IntakePolicy("KMC", 48))
        cell = wb.find(receipt.ticket_id).row["text"]
        assert len(cell) <= 50_000 and cell.endswith("…[dipotong, 1.000.000 karakter]")
        assert env.contacts().full_text(receipt.ticket_id) == text  # another instance reads it back
        tab = env.fake.values(env.contacts_id, "Teks Lengkap")
        assert tab[0] == ["No. Tiket", "Bagian", "Teks"] and all(len(r[2]) <= 50_000 for r in tab[1:])


@pytest.mark.parametrize("now", ["0001-01-01", "9999-12-31T23:00"])
def test_beyond_the_list_a_job_clock_out_of_range_is_refused_not_a_traceback(seeded_env, now):
    """Same class as items 10 and 16: `--now` at year 1 overflowed, at 9999 mailed a digest."""
    for job in ("sweep", "daily"):
        result = cli(seeded_env, job, "--now", now)
        assert result.returncode == 2 and "Traceback" not in result.stderr and "--now" in result.stderr
    assert not (Path(seeded_env["KMC_DATA_DIR"]) / "outbox").exists()
