"""`/monitoring`: KMC staff log social-media posts (JSON from tools, or the phone page)."""
from __future__ import annotations

import email
from datetime import datetime, timedelta
from email import policy
from pathlib import Path

import pytest
from functions_framework import create_app

from functions.bootstrap import services
from functions.model import StorageUnavailable
from functions.server import make_app
from tests.fakes.clock import WIB
from tests.fakes.feed_server import FeedServer, Route

ROOT = Path(__file__).resolve().parents[2]
AUTH = {"Authorization": "Bearer test-admin-token"}
POST = {
    "platform": "Facebook",
    "url": "https://www.facebook.com/groups/infoketapang/posts/123456789/?mibextid=abc",
    "handle": "@warga_sandai",
    "text": "Jalan di Desa Sandai Kiri rusak parah dan berlubang, sudah setahun tidak diperbaiki. "
            "Warga kecewa, pemda ke mana?",
    "observed_at": "2026-11-02T07:30",
}


@pytest.fixture
def web(svc):
    return make_app(svc).test_client()


def rows(svc):
    return [(tab, r) for tab, rs in svc.workbook.read_all().items() for r in rs]


def mails(svc):
    return [email.message_from_bytes(f.read_bytes(), policy=policy.default)
            for f in sorted(Path(svc.settings.outbox_dir).glob("*.eml"))]


def test_a_negative_post_becomes_a_case_and_alerts_the_opd_at_once(web, svc):
    reply = web.post("/monitoring", json=POST, headers=AUTH)
    assert reply.status_code == 201
    data = reply.get_json()
    assert data["created"] is True and data["opd"] == "PUTR" and data["sentiment"] == "Negatif"
    assert data["alert"] == "terkirim" and data["ticket"] in data["message"]
    [(tab, row)] = rows(svc)
    assert tab == "PUTR" and row["ticket_id"] == data["ticket"]
    assert row["channel"] == "Media Sosial" and row["sentiment"] == "Negatif"
    assert row["text"].startswith("[Facebook] Jalan di Desa Sandai Kiri rusak parah")
    assert row["link"] == POST["url"]
    assert row["received_at"] == datetime(2026, 11, 2, 7, 30, tzinfo=WIB)  # observed time, naive = WIB
    assert row["reporter"] == "@warga_sandai" and row["contact"] == ""
    [alert] = mails(svc)
    assert alert["Subject"].endswith("informasi negatif di media sosial untuk PUTR")
    assert alert["To"] == "bupati@example.go.id, sekda@example.go.id"  # PUTR has no head_email yet
    assert data["ticket"] in alert.get_body(("plain",)).get_content()


def test_the_same_url_again_returns_the_existing_ticket(web, svc, clock):
    first = web.post("/monitoring", json=POST, headers=AUTH).get_json()
    clock.advance(days=2)
    again = dict(POST, url="http://m.facebook.com/groups/infoketapang/posts/123456789#komentar",
                 observed_at="", text="teks lain dari staf lain")
    reply = web.post("/monitoring", json=again, headers=AUTH)
    assert reply.status_code == 200
    data = reply.get_json()
    assert data["ticket"] == first["ticket"] and data["created"] is False
    assert "sudah tercatat" in data["message"]
    assert len(rows(svc)) == 1 and len(mails(svc)) == 1


def test_staff_judgement_overrides_the_detector(web, svc):
    calm = web.post("/monitoring", headers=AUTH, json=dict(POST, sentiment="Netral")).get_json()
    assert calm["sentiment"] == "Netral" and calm["alert"] == "tidak" and mails(svc) == []
    worried = web.post("/monitoring", headers=AUTH, json=dict(
        POST, url="https://x.com/warga/status/1", platform="twitter", sentiment="negatif",
        text="Ada yang tahu jadwal pelayanan KTP keliling di Kecamatan Marau minggu ini?")).get_json()
    assert worried["sentiment"] == "Negatif" and worried["alert"] == "terkirim"
    assert rows(svc)[-1][1]["text"].startswith("[X (Twitter)] ")


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer salah"}, {"Authorization": "Basic dGVzdA=="}])
def test_without_the_admin_token_nothing_is_stored(web, svc, headers):
    reply = web.post("/monitoring", json=POST, headers=headers)
    assert reply.status_code == 401 and "Token admin" in reply.get_json()["error"]
    assert rows(svc) == []


@pytest.mark.parametrize("change,field,message", [
    ({"platform": ""}, "platform", "Pilih platform"),
    ({"platform": "Friendster"}, "platform", "Pilih platform"),
    ({"url": ""}, "url", "Tautan (URL) unggahan wajib diisi"),
    ({"url": "javascript:alert(1)"}, "url", "diawali http:// atau https://"),
    ({"url": "facebook.com/post/1"}, "url", "diawali http:// atau https://"),
    ({"text": "   "}, "text", "Isi unggahan wajib diisi"),
    ({"text": "rusak " * 1000}, "text", "Isi unggahan terlalu panjang"),
    ({"handle": "a" * 101}, "handle", "Nama akun terlalu panjang"),
    ({"observed_at": "kemarin sore"}, "observed_at", "Waktu ditemukan tidak dikenali"),
    ({"observed_at": "2026-11-03T08:00"}, "observed_at", "tidak boleh di masa depan"),
    ({"sentiment": "jelek"}, "sentiment", "Sentimen harus Negatif, Netral, atau Positif"),
])
def test_bad_input_is_refused_with_an_indonesian_message(web, svc, change, field, message):
    reply = web.post("/monitoring", json=dict(POST, **change), headers=AUTH)
    assert reply.status_code == 400
    data = reply.get_json()
    assert message in data["error"] and data["field"] == field
    assert rows(svc) == [] and mails(svc) == []


def test_the_phone_page(web):
    reply = web.get("/monitoring")
    page = reply.get_data(as_text=True)
    assert reply.status_code == 200 and reply.content_type.startswith("text/html")
    assert '<html lang="id">' in page and 'name="viewport"' in page
    for name in ("token", "platform", "url", "handle", "text", "observed_at"):
        assert f'name="{name}"' in page
    assert 'type="password"' in page and "Catat temuan" in page


def test_the_page_form_logs_a_finding_and_answers_in_html(web, svc):
    form = dict(POST, token="test-admin-token", format="html")
    reply = web.post("/monitoring", data=form)
    page = reply.get_data(as_text=True)
    assert reply.status_code == 201 and reply.content_type.startswith("text/html")
    ticket = rows(svc)[0][1]["ticket_id"]
    assert f"Tercatat dengan tiket {ticket}" in page
    # PUTR's head has no contact yet: the page says where the alert really went (issue 16, item 22)
    assert ("Peringatan dikirim lewat email ke alamat cadangan KMC (bupati@example.go.id, "
            "sekda@example.go.id) karena kontak kepala OPD belum diisi di tab Kontak OPD; BELUM "
            "sampai ke kepala OPD") in page
    assert "Peringatan sudah dikirim ke kepala OPD" not in page
    assert "warga_sandai" not in page  # a fresh, empty form for the next finding


def test_the_page_keeps_what_was_typed_after_an_error_but_never_the_token(web, svc):
    form = dict(POST, token="salah-ketik", format="html", text="<script>alert(1)</script> jalan rusak")
    reply = web.post("/monitoring", data=form)
    page = reply.get_data(as_text=True)
    assert reply.status_code == 401 and "Token admin salah" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; jalan rusak" in page and "<script>alert" not in page
    assert "salah-ketik" not in page
    assert 'name="token" type="password" autocomplete="current-password" required aria-invalid="true"' in page
    assert rows(svc) == []


class DownWorkbook:
    def __init__(self, inner):
        self.inner = inner

    def append(self, cases):
        raise StorageUnavailable("sheets down")

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_store_outage_answers_503_and_asks_to_resend(web, svc):
    real, svc.workbook = svc.workbook, DownWorkbook(svc.workbook)
    reply = web.post("/monitoring", json=POST, headers=AUTH)
    assert reply.status_code == 503 and "BELUM tersimpan" in reply.get_json()["error"]
    svc.workbook = real
    assert rows(svc) == [] and mails(svc) == []
    assert web.post("/monitoring", json=POST, headers=AUTH).status_code == 201  # resending works


def test_other_methods_and_paths(web):
    assert web.put("/monitoring", json=POST, headers=AUTH).status_code == 405
    assert web.get("/monitoring/tidak-ada").status_code == 404


# --- through functions-framework and main.py ------------------------------------------------

@pytest.fixture
def cloud_env(monkeypatch, tmp_path):
    for key in ("KMC_BACKEND", "SMTP_HOST", "WHATSAPP_ACCESS_TOKEN", "K_SERVICE", "DIGEST_TO"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("KMC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KMC_ADMIN_TOKEN", "rahasia-admin")
    services.cache_clear()
    services().workbook.bootstrap()
    yield monkeypatch
    services.cache_clear()


def client(target):
    return create_app(target=target, source=str(ROOT / "main.py")).test_client()


def test_monitoring_intake_target(cloud_env):
    c = client("monitoring_intake")
    assert c.get("/").status_code == 200
    assert c.post("/", json=POST).status_code == 401
    observed = (datetime.now(WIB) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    reply = c.post("/", json=dict(POST, observed_at=observed), headers={"Authorization": "Bearer rahasia-admin"})
    assert reply.status_code == 201 and reply.get_json()["ticket"].startswith("KMC-")


def test_media_monitor_target_runs_the_job(cloud_env):
    feeds = FeedServer({"/rss": Route(b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
                                      b"</channel></rss>", etag='"a"')}).start()
    try:
        cloud_env.setenv("KMC_MEDIA_FEEDS", feeds.url("/rss"))
        cloud_env.setenv("KMC_FEEDS_ALLOW_PRIVATE", "true")
        services.cache_clear()
        c = client("media_monitor")
        assert c.post("/").status_code == 401
        reply = c.post("/", headers={"Authorization": "Bearer rahasia-admin"})
        assert reply.status_code == 200
        assert reply.get_json()["summary"].startswith("media: 1 feed (1 dibaca, 0 tidak berubah, 0 gagal)")
        again = c.post("/", headers={"Authorization": "Bearer rahasia-admin"}).get_json()["summary"]
        assert "(0 dibaca, 1 tidak berubah, 0 gagal)" in again
    finally:
        feeds.stop()
