"""The citizen web form (/form) and the public status page (/form/status), over HTTP."""
from __future__ import annotations

import html
import re
from dataclasses import replace
from pathlib import Path

import pytest

from functions.bootstrap import build, services
from functions.channels import csrf
from functions.model import StorageUnavailable
from functions.server import make_app
from functions.services.jobs import sweep_job
from functions.services.staff import staff_edit

ROOT = Path(__file__).resolve().parents[2]
LAMP = "Lampu jalan (PJU) di Jalan Gajah Mada mati sudah 2 minggu, gelap dan rawan"


class Browser:
    """A test client that behaves like a browser filling the form: GET, then POST what it saw."""

    def __init__(self, app, remote="203.0.113.7"):
        self.client = app.test_client()
        self.remote = remote

    def get(self, url, **kw):
        return self.client.get(url, environ_base={"REMOTE_ADDR": self.remote}, **kw)

    def post(self, url, data, **kw):
        return self.client.post(url, data=data, environ_base={"REMOTE_ADDR": self.remote}, **kw)

    def open_form(self) -> dict:
        page = self.get("/form")
        assert page.status_code == 200
        return hidden_fields(page.get_data(as_text=True))

    def submit(self, **fields):
        data = {**self.open_form(), **fields}
        return self.post("/form", data)


def hidden_fields(page: str) -> dict:
    return {name: html.unescape(value)
            for name, value in re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page)}


def filled(**over) -> dict:
    data = {"isi": LAMP, "kecamatan": "Delta Pawan", "desa": "Kelurahan Sampit", "nama": "Rudi Hartono",
            "telepon": "0812-3456-7803", "setuju": "ya"}
    data.update(over)
    return {k: v for k, v in data.items() if v is not None}


def ticket_of(reply) -> str:
    match = re.search(r'data-ticket="([^"]+)"', reply.get_data(as_text=True))
    assert match, reply.get_data(as_text=True)[:2000]
    return match.group(1)


def all_rows(svc):
    return [(tab, row) for tab, rows in svc.workbook.read_all().items() for row in rows]


@pytest.fixture
def app(svc):
    return make_app(svc)


@pytest.fixture
def browser(app):
    return Browser(app)


# -- the form ----------------------------------------------------------------------------------

def test_form_is_a_small_indonesian_page_without_javascript(browser, svc):
    reply = browser.get("/form")
    page = reply.get_data(as_text=True)
    assert reply.status_code == 200 and reply.mimetype == "text/html"
    assert '<html lang="id">' in page and 'name="viewport"' in page
    for label in ("Isi aduan", "Kecamatan", "Desa/kelurahan dan alamat", "Nama", "Nomor HP/WhatsApp",
                  "Rahasiakan identitas saya", "Pemberitahuan privasi", "Kirim Aduan"):
        assert label in page
    assert "<script" not in page.lower() and "src=" not in page  # nothing else to download
    assert len(reply.data) < 16_000
    options = re.findall(r"<option>([^<]+)</option>", page)
    assert options == [k.name for k in svc.schema.kecamatan] and len(options) == 20
    # every visible field has a label pointing at it
    for field_id in ("isi", "kecamatan", "desa", "nama", "telepon", "anonim", "setuju"):
        assert f'for="{field_id}"' in page and f'id="{field_id}"' in page
    assert "default-src 'none'" in reply.headers["Content-Security-Policy"]
    assert reply.headers["Cache-Control"] == "no-store"
    assert csrf.COOKIE in reply.headers["Set-Cookie"] and "SameSite=Strict" in reply.headers["Set-Cookie"]
    hidden = hidden_fields(page)
    assert set(hidden) == {"csrf", "kunci"} and hidden["kunci"] != browser.open_form()["kunci"]


def test_submit_stores_the_case_and_confirms_ticket_opd_and_deadline(browser, svc, clock):
    reply = browser.submit(**filled())
    page = reply.get_data(as_text=True)
    assert reply.status_code == 200
    ticket = ticket_of(reply)
    assert "Aduan Anda sudah kami terima" in page
    assert "Dinas Perhubungan" in page  # street lights -> DISHUB, by the router
    assert "Rabu, 4 November 2026 pukul 08.00 WIB" in page  # Monday 08:00 + 2 x 24 h
    assert f'href="/form/status?tiket={ticket}"' in page
    stored = svc.workbook.find(ticket)
    assert stored.tab == "DISHUB"
    row = stored.row
    assert row["channel"] == "Formulir Web" and row["text"] == LAMP
    assert row["location"] == "Kelurahan Sampit, Kecamatan Delta Pawan"
    assert row["reporter"] == "Rudi H." and row["contact"] == "0812****7803"
    private = svc.contacts.get(ticket)
    assert private.contact.name == "Rudi Hartono" and private.contact.phone == "081234567803"
    assert private.contact.anonymous is False


def test_anonymous_hides_the_identity_from_the_opd_but_keeps_it_private(browser, svc):
    ticket = ticket_of(browser.submit(**filled(anonim="ya")))
    row = svc.workbook.find(ticket).row
    assert row["reporter"] == "Anonim" and row["contact"] == ""
    assert svc.contacts.get(ticket).contact.anonymous is True
    assert svc.contacts.get(ticket).contact.phone == "081234567803"


def test_kecamatan_and_identity_are_optional(browser, svc):
    reply = browser.submit(**filled(kecamatan="", desa="", nama="", telepon=""))
    row = svc.workbook.find(ticket_of(reply)).row
    # no name given is not the same as asking to stay anonymous (issue 16, item 24)
    assert row["reporter"] == "Tanpa Nama" and row["contact"] == ""


def test_double_click_and_retry_give_the_same_ticket(browser, svc):
    form = {**browser.open_form(), **filled()}
    first = ticket_of(browser.post("/form", form))
    again = browser.post("/form", form)
    assert again.status_code == 200 and ticket_of(again) == first
    assert len(all_rows(svc)) == 1


def test_going_back_and_sending_a_different_complaint_is_not_swallowed(browser, svc):
    form = {**browser.open_form(), **filled()}
    first = ticket_of(browser.post("/form", form))
    second = ticket_of(browser.post("/form", {**form, "isi": "Sampah di depan pasar numpuk seminggu tidak diangkut"}))
    assert first != second and len(all_rows(svc)) == 2


# -- mistakes ----------------------------------------------------------------------------------

@pytest.mark.parametrize("field, value, message", [
    ("isi", "   \n ", "Isi aduan tidak boleh kosong."),
    ("isi", "jalan", "terlalu singkat"),
    ("isi", "x" * 4001, "Isi aduan terlalu panjang (4.001 karakter)"),
    ("telepon", "12345", "Nomor HP tidak valid"),
    ("telepon", "0812-abc", "Nomor HP tidak valid"),
    ("kecamatan", "Pontianak Kota", "Pilih kecamatan dari daftar."),
    ("nama", "N" * 101, "Nama terlalu panjang"),
    ("desa", "D" * 201, "Alamat terlalu panjang"),
    ("setuju", None, "Centang persetujuan pemberitahuan privasi"),
])
def test_mistakes_reshow_the_form_with_the_message_next_to_the_field(browser, svc, field, value, message):
    reply = browser.submit(**filled(**{field: value}))
    page = reply.get_data(as_text=True)
    assert reply.status_code == 422
    assert "Ada yang perlu diperbaiki" in page and f'href="#{field}"' in page
    error = re.search(rf'<span class="err" id="{field}-err">([^<]+)</span>', page)
    assert error and message in html.unescape(error.group(1))
    control = re.search(rf'<(?:input|textarea|select)[^>]*\bid="{field}"[^>]*>', page).group(0)
    assert 'aria-invalid="true"' in control and f"{field}-err" in control  # announced by screen readers
    assert all_rows(svc) == []
    # what the citizen typed is still there
    if field != "isi":
        assert LAMP in page
    if field != "telepon":
        assert 'value="0812-3456-7803"' in page


def test_typed_text_comes_back_escaped_never_as_markup(browser, svc):
    sneaky = '<script>alert(1)</script> jalan rusak "parah" & berlubang di desa'
    page = browser.submit(**filled(isi=sneaky, telepon="123")).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; jalan rusak &#34;parah&#34; &amp; berlubang" in page


def test_honeypot_looks_accepted_but_stores_nothing(browser, svc):
    reply = browser.submit(**filled(website="http://spam.example"))
    assert reply.status_code == 200 and "Aduan Anda sudah kami terima" in reply.get_data(as_text=True)
    assert all_rows(svc) == [] and svc.contacts.get(ticket_of(reply)) is None


def test_oversized_body_gets_an_indonesian_413(browser, svc):
    form = {**browser.open_form(), **filled(isi="a" * 70_000)}
    reply = browser.post("/form", form)
    assert reply.status_code == 413 and "Kiriman terlalu besar" in reply.get_data(as_text=True)
    assert all_rows(svc) == []


# -- CSRF --------------------------------------------------------------------------------------

def test_post_without_a_token_is_refused_and_keeps_the_text(browser, svc):
    reply = browser.post("/form", filled())
    page = reply.get_data(as_text=True)
    assert reply.status_code == 403 and "Formulir perlu dikirim ulang" in page and LAMP in page
    assert all_rows(svc) == []
    # the re-shown form carries a fresh token: pressing Kirim again works
    again = browser.post("/form", {**filled(), **hidden_fields(page)})
    assert again.status_code == 200 and ticket_of(again)


def test_another_site_cannot_submit_with_a_token_it_fetched_itself(app, svc):
    attacker = Browser(app, remote="198.51.100.9")
    token = attacker.open_form()
    victim = app.test_client()  # the citizen's browser: no cookie of ours is sent cross-site
    reply = victim.post("/form", data={**token, **filled()}, headers={"Origin": "https://evil.example"})
    assert reply.status_code == 403 and all_rows(svc) == []


def test_browser_without_cookies_is_accepted_when_its_origin_is_ours(app, svc):
    token = Browser(app).open_form()
    cookieless = app.test_client(use_cookies=False)
    reply = cookieless.post("/form", data={**token, **filled()}, headers={"Origin": "http://localhost"})
    assert reply.status_code == 200 and ticket_of(reply)
    refused = cookieless.post("/form", data={**token, **filled()})
    assert refused.status_code == 403


def test_expired_and_forged_tokens_are_refused(browser, svc, clock):
    form = {**browser.open_form(), **filled()}
    clock.advance(hours=25)
    assert browser.post("/form", form).status_code == 403
    fresh = {**browser.open_form(), **filled()}
    stamp, nonce, signature = fresh["csrf"].split(".")
    forged = {**fresh, "csrf": f"{int(stamp) + 3600}.{nonce}.{signature}"}
    assert browser.post("/form", forged).status_code == 403
    assert all_rows(svc) == []


def test_tokens_are_signed_with_the_deployment_secret(settings, clock, tmp_path):
    one = build(replace(settings, form_secret="satu"), clock=clock)
    two = build(replace(settings, form_secret="dua", data_dir=tmp_path / "two"), clock=clock)
    two.workbook.bootstrap()
    token = Browser(make_app(one)).open_form()
    browser = Browser(make_app(two))
    browser.open_form()  # the browser holds a cookie from `two`, the token comes from `one`
    assert browser.post("/form", {**token, **filled()}).status_code == 403


def test_form_key_derives_from_the_admin_token_without_revealing_it(settings):
    key = csrf.form_key(settings)
    assert key == csrf.form_key(settings) and settings.admin_token.encode() not in key
    assert csrf.form_key(replace(settings, form_secret="lain")) != key
    assert csrf.form_key(replace(settings, admin_token="", form_secret="")) == \
        csrf.form_key(replace(settings, admin_token="", form_secret=""))  # random, per instance


# -- rate limit --------------------------------------------------------------------------------

def test_one_client_is_rate_limited_with_its_text_kept(app, svc):
    browser = Browser(app, remote="203.0.113.50")
    for n in range(10):
        assert browser.submit(**filled(isi=f"Aduan nomor {n}: lampu jalan mati di gang {n}")).status_code == 200
    reply = browser.submit(**filled(isi="Aduan kesebelas: lampu jalan mati lagi"))
    page = reply.get_data(as_text=True)
    assert reply.status_code == 429 and int(reply.headers["Retry-After"]) > 0
    assert "Terlalu banyak kiriman" in page and "Aduan kesebelas" in page
    assert len(all_rows(svc)) == 10
    assert Browser(app, remote="203.0.113.51").submit(**filled()).status_code == 200


def test_a_forged_forwarded_for_does_not_escape_the_limit(app, svc):
    browser = Browser(app, remote="10.0.0.1")  # Google's front end, which appends the real client
    for n in range(11):
        form = {**browser.open_form(), **filled(isi=f"Aduan {n}: jalan rusak berlubang di desa")}
        reply = browser.client.post("/form", data=form, environ_base={"REMOTE_ADDR": "10.0.0.1"},
                                    headers={"X-Forwarded-For": f"192.0.2.{n}, 203.0.113.99"})
    assert reply.status_code == 429


# -- store outage ------------------------------------------------------------------------------

class FlakyWorkbook:
    """The real workbook, except that appends fail while `down` is set."""

    def __init__(self, inner):
        self.inner = inner
        self.down = True

    def append(self, cases):
        if self.down:
            raise StorageUnavailable("Sheets API: 503")
        return self.inner.append(cases)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_store_outage_says_try_again_and_keeps_the_text_then_the_retry_stores_once(settings, clock):
    real = build(settings, clock=clock)
    real.workbook.bootstrap()
    flaky = FlakyWorkbook(real.workbook)
    svc = build(settings, clock=clock, workbook=flaky, contacts=real.contacts)
    browser = Browser(make_app(svc))
    reply = browser.submit(**filled())
    page = reply.get_data(as_text=True)
    assert reply.status_code == 503 and reply.headers["Retry-After"]
    assert "coba lagi" in page.lower() and LAMP in page and "belum tersimpan" in page
    flaky.down = False
    retry = browser.post("/form", {**filled(), **hidden_fields(page)})
    assert retry.status_code == 200
    assert [row["ticket_id"] for _, row in all_rows(real)] == [ticket_of(retry)]


# -- status page -------------------------------------------------------------------------------

def test_status_page_shows_progress_and_the_response_but_nobody_s_identity(browser, svc, clock):
    ticket = ticket_of(browser.submit(**filled()))
    clock.advance(hours=3)
    staff_edit(svc.workbook, svc.schema, ticket,
               ["status=Diproses", "response=Tim sudah mengganti lampu di Jalan Gajah Mada.", "responder=Andi"],
               svc.settings.ticket_prefix)
    sweep_job(svc)
    typed = ticket.lower().replace("-", "")
    reply = browser.get(f"/form/status?tiket={typed}")
    page = reply.get_data(as_text=True)
    assert reply.status_code == 200
    for shown in (ticket, "Diproses", "Dinas Perhubungan", "Rabu, 4 November 2026 pukul 08.00 WIB",
                  "Tepat Waktu", "Tim sudah mengganti lampu di Jalan Gajah Mada.",
                  "Senin, 2 November 2026 pukul 11.00 WIB"):
        assert shown in page, shown
    for hidden in ("Rudi", "0812", "3456", "7803", "****", LAMP, "Sampit", "Andi"):
        assert hidden not in page, hidden


def test_status_of_a_fresh_case_says_no_response_yet(browser):
    ticket = ticket_of(browser.submit(**filled()))
    page = browser.get(f"/form/status?tiket={ticket}").get_data(as_text=True)
    assert "Baru" in page and "Belum ada tanggapan." in page and "Berjalan" in page


@pytest.mark.parametrize("typed", ["KMC-261102-ZZZZZ", "bukan tiket", "kmc 261102 00000"])
def test_unknown_ticket_is_a_friendly_404_with_the_lookup_form(browser, typed):
    reply = browser.get("/form/status", query_string={"tiket": typed})
    page = reply.get_data(as_text=True)
    assert reply.status_code == 404
    assert "Tiket tidak ditemukan" in page and html.escape(typed) in page
    assert 'name="tiket"' in page and "Cek Status" in page


def test_status_page_without_a_ticket_is_the_lookup_form(browser):
    reply = browser.get("/form/status")
    assert reply.status_code == 200 and 'name="tiket"' in reply.get_data(as_text=True)


def test_guessing_tickets_is_rate_limited_but_found_tickets_are_not(browser):
    ticket = ticket_of(browser.submit(**filled()))
    for n in range(20):
        assert browser.get(f"/form/status?tiket=KMC-261102-{n:05d}").status_code == 404
    assert browser.get("/form/status?tiket=KMC-261102-AAAAA").status_code == 429
    other = Browser(browser.client.application, remote="198.51.100.20")
    assert other.get(f"/form/status?tiket={ticket}").status_code == 200


# -- odds and ends -----------------------------------------------------------------------------

def test_unknown_paths_and_methods_get_indonesian_pages(browser):
    missing = browser.get("/form/apa")
    assert missing.status_code == 404 and "Halaman tidak ditemukan" in missing.get_data(as_text=True)
    wrong = browser.client.put("/form")
    assert wrong.status_code == 405 and "Metode tidak didukung" in wrong.get_data(as_text=True)


def test_cloud_function_links_point_at_the_public_url(monkeypatch, tmp_path):
    """In the cloud the path arrives without /form; links must use KMC_PUBLIC_URL + /form."""
    from functions_framework import create_app

    for key in ("KMC_BACKEND", "K_SERVICE", "KMC_FORM_SECRET"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("KMC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KMC_ADMIN_TOKEN", "rahasia-admin")
    monkeypatch.setenv("KMC_PUBLIC_URL", "https://asia-southeast2-kmc.cloudfunctions.net")
    services.cache_clear()
    try:
        services().workbook.bootstrap()
        client = create_app(target="web_form", source=str(ROOT / "main.py")).test_client()
        page = client.get("/").get_data(as_text=True)
        assert 'action="https://asia-southeast2-kmc.cloudfunctions.net/form"' in page
        reply = client.post("/", data={**hidden_fields(page), **filled()},
                            headers={"Origin": "https://asia-southeast2-kmc.cloudfunctions.net"})
        ticket = ticket_of(reply)
        assert f'href="https://asia-southeast2-kmc.cloudfunctions.net/form/status?tiket={ticket}"' in \
            reply.get_data(as_text=True)
        assert client.get(f"/status?tiket={ticket}").status_code == 200
    finally:
        services.cache_clear()
