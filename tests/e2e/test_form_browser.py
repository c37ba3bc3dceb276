"""The web form in a real headless Chromium against `python main.py serve` on loopback.

Needs Debian's `chromium` (/usr/bin/chromium) and the `playwright` Python package (its own
browser download is never used). Outside CI the tests skip when either is missing; in CI
(`CI` set) a missing browser fails the run. Set KMC_SCREENSHOTS_DIR=docs/screenshots to refresh
the screenshots in docs/channels.md (phone viewport, 390 x 844).
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("KMC_CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PHONE = {"width": 390, "height": 844}
TICKET = re.compile(r"^KMC-\d{6}-[0-9A-Z]{5}$")


def _need(condition: bool, why: str) -> None:
    if not condition:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests cannot run in CI: {why}")
        pytest.skip(why)


try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    sync_playwright = None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`python main.py serve` on a free loopback port with a fresh data dir."""
    data = tmp_path_factory.mktemp("serve") / "data"
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KMC_", "SMTP_", "WHATSAPP_", "DIGEST_"))}
    env.update({"KMC_DATA_DIR": str(data), "KMC_ADMIN_TOKEN": "e2e-admin", "PYTHONPATH": str(ROOT),
                "KMC_PUBLIC_URL": f"http://127.0.0.1:{port}"})
    log = open(data.parent / "serve.log", "w")
    proc = subprocess.Popen([sys.executable, "main.py", "serve", "--host", "127.0.0.1", "--port", str(port),
                             "--no-scheduler"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            if proc.poll() is not None:
                raise RuntimeError(f"serve exited: {(data.parent / 'serve.log').read_text()}")
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=1) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("serve did not answer /healthz")
        yield {"base": base, "data": data, "env": env}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def browser():
    _need(sync_playwright is not None, "the playwright package is not installed")
    _need(Path(CHROMIUM).exists(), f"{CHROMIUM} not found (apt-get install chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield b
        b.close()


@pytest.fixture
def phone(browser):
    context = browser.new_context(viewport=PHONE, device_scale_factor=1, locale="id-ID",
                                  timezone_id="Asia/Jakarta", is_mobile=True, has_touch=True)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def phone_without_js(browser):
    context = browser.new_context(viewport=PHONE, java_script_enabled=False, locale="id-ID")
    page = context.new_page()
    yield page
    context.close()


def shot(page, name: str, tmp_path: Path) -> None:
    """Keep a screenshot of the page (and refresh docs/channels.md's when asked)."""
    target = tmp_path / f"{name}.png"
    page.screenshot(path=str(target), full_page=True)
    assert target.stat().st_size > 5_000  # something was drawn
    keep = os.environ.get("KMC_SCREENSHOTS_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(target, Path(keep) / f"{name}.png")


def fill_complaint(page, *, text: str, phone: str = "0812 3456 7803") -> None:
    page.get_by_label("Isi aduan").fill(text)
    page.get_by_label("Kecamatan").select_option("Delta Pawan")
    page.get_by_label("Desa/kelurahan dan alamat").fill("Kelurahan Sampit, Jl. Gajah Mada")
    page.get_by_label("Nama", exact=True).fill("Rudi Hartono")
    page.get_by_label("Nomor HP/WhatsApp").fill(phone)
    page.get_by_label("Saya sudah membaca dan menyetujui pemberitahuan privasi di atas.").check()


def staff(server, *args: str) -> None:
    """Run a CLI command on the server's data dir, as KMC staff would."""
    done = subprocess.run([sys.executable, "main.py", *args], cwd=ROOT, env=server["env"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def stored_row(server, ticket: str) -> dict:
    from functions.schema import load_schema
    from functions.stores.local import LocalWorkbook

    workbook = LocalWorkbook(server["data"] / "workbook.sqlite", load_schema())
    deadline = time.monotonic() + 30
    while (found := workbook.find(ticket)) is None and time.monotonic() < deadline:
        time.sleep(0.1)  # serve's writer stores what the form queued, within a moment
    assert found is not None, ticket
    return {"tab": found.tab, **found.row}


def test_citizen_submits_sees_the_ticket_and_opens_the_status_page(server, phone, tmp_path):
    phone.goto(f"{server['base']}/form")
    expect(phone.get_by_role("heading", name="Sampaikan Aduan")).to_be_visible()
    shot(phone, "form", tmp_path)
    fill_complaint(phone, text="Lampu jalan (PJU) di Jalan Gajah Mada mati sudah 2 minggu, gelap dan rawan")
    phone.get_by_role("button", name="Kirim Aduan").click()

    expect(phone.get_by_role("heading", name="Aduan Anda sudah kami terima")).to_be_visible()
    ticket = phone.locator("#nomor-tiket").inner_text().strip()
    assert TICKET.match(ticket)
    expect(phone.locator("#opd")).to_contain_text("Sedang dicatat")  # the ticket at once, the OPD once stored
    expect(phone.locator("#batas-waktu")).to_contain_text("WIB (2 x 24 jam)")
    shot(phone, "confirmation", tmp_path)
    row = stored_row(server, ticket)
    assert row["tab"] == "DISHUB" and row["channel"] == "Formulir Web" and row["reporter"] == "Rudi H."

    phone.get_by_role("link", name="Lihat status aduan").click()
    expect(phone.get_by_role("heading", name="Status aduan")).to_be_visible()
    expect(phone.locator("#status")).to_contain_text("Baru")
    expect(phone.locator("#opd")).to_have_text("Dinas Perhubungan")
    expect(phone.locator("#tanggapan")).to_have_text("Belum ada tanggapan.")
    assert "Rudi" not in phone.content() and "0812" not in phone.content()

    # An officer answers in the sheet (what `edit` does), the sweep stamps it, the citizen reloads.
    staff(server, "edit", ticket, "status=Diproses", "responder=Andi",
          "response=Petugas sudah memeriksa lokasi; lampu diganti besok pagi.")
    staff(server, "sweep")
    phone.reload()
    expect(phone.locator("#status")).to_contain_text("Diproses")
    expect(phone.locator("#tanggapan")).to_have_text("Petugas sudah memeriksa lokasi; lampu diganti besok pagi.")
    expect(phone.locator("#sla")).to_contain_text("Tepat Waktu")
    assert "Andi" not in phone.content()
    shot(phone, "status", tmp_path)


def test_mistakes_are_shown_next_to_the_field_and_the_text_is_kept(server, phone, tmp_path):
    phone.goto(f"{server['base']}/form")
    fill_complaint(phone, text="jalan rusak", phone="12345")
    phone.get_by_label("Isi aduan").fill("rusak")  # passes the browser's `required`, too short for us
    phone.get_by_role("button", name="Kirim Aduan").click()

    expect(phone.get_by_role("heading", name="Ada yang perlu diperbaiki")).to_be_visible()
    expect(phone.locator("#telepon-err")).to_contain_text("Nomor HP tidak valid")
    expect(phone.locator("#isi-err")).to_contain_text("terlalu singkat")
    expect(phone.get_by_label("Isi aduan")).to_have_value("rusak")
    expect(phone.get_by_label("Nomor HP/WhatsApp")).to_have_value("12345")
    expect(phone.get_by_label("Kecamatan")).to_have_value("Delta Pawan")
    expect(phone.get_by_label("Nomor HP/WhatsApp")).to_have_attribute("aria-invalid", "true")
    shot(phone, "form-errors", tmp_path)

    phone.get_by_role("link", name=re.compile("Nomor HP tidak valid")).click()  # the summary jumps to the field
    phone.get_by_label("Isi aduan").fill("Jalan rusak parah di Jl. Gajah Mada, banyak lubang besar")
    phone.get_by_label("Nomor HP/WhatsApp").fill("+62 812-3456-7803")
    phone.get_by_role("button", name="Kirim Aduan").click()
    expect(phone.get_by_role("heading", name="Aduan Anda sudah kami terima")).to_be_visible()
    assert stored_row(server, phone.locator("#nomor-tiket").inner_text().strip())["contact"] == "0812****7803"


def test_the_browser_itself_stops_an_empty_complaint(server, phone):
    phone.goto(f"{server['base']}/form")
    phone.get_by_role("button", name="Kirim Aduan").click()
    assert phone.get_by_label("Isi aduan").evaluate("e => e.validity.valueMissing") is True
    expect(phone.get_by_role("heading", name="Sampaikan Aduan")).to_be_visible()


def test_everything_works_with_javascript_disabled(server, phone_without_js):
    page = phone_without_js
    page.goto(f"{server['base']}/form")
    fill_complaint(page, text="Sampah di depan pasar kota menumpuk sudah seminggu tidak diangkut")
    page.get_by_role("button", name="Kirim Aduan").click()
    expect(page.get_by_role("heading", name="Aduan Anda sudah kami terima")).to_be_visible()
    ticket = page.locator("#nomor-tiket").inner_text().strip()
    assert TICKET.match(ticket) and stored_row(server, ticket)["tab"] == "DLH"

    page.goto(f"{server['base']}/form/status")
    page.get_by_label("Nomor tiket").fill(ticket.lower().replace("-", " "))  # as a citizen types it
    page.get_by_role("button", name="Cek Status").click()
    expect(page.get_by_role("heading", name="Status aduan")).to_be_visible()
    expect(page.locator("#opd")).to_have_text("Dinas Lingkungan Hidup")


def test_unknown_ticket_is_a_friendly_page(server, phone, tmp_path):
    reply = phone.goto(f"{server['base']}/form/status?tiket=KMC-000000-ZZZZZ")
    assert reply.status == 404
    expect(phone.get_by_role("heading", name="Tiket tidak ditemukan")).to_be_visible()
    expect(phone.get_by_label("Nomor tiket")).to_have_value("KMC-000000-ZZZZZ")
    shot(phone, "status-not-found", tmp_path)


def test_a_photo_is_uploaded_without_javascript_and_the_status_page_only_says_it_is_attached(
        server, phone_without_js, tmp_path):
    """Issue 20: a multipart form that works with JavaScript off; the photo is stripped and filed
    with the case, opened by staff behind the admin login, never shown on the public status page."""
    import base64

    from tests.fakes.media_files import jpeg

    photo = tmp_path / "IMG_20261102_081500.jpg"
    photo.write_bytes(jpeg(gps=(-1.8457, 109.9716)))
    page = phone_without_js
    page.goto(f"{server['base']}/form")
    expect(page.locator("#foto-hint")).to_contain_text("Paling banyak 3 foto")
    fill_complaint(page, text="Sampah menumpuk di depan Pasar Rakyat Ketapang sudah seminggu, bau sekali")
    page.get_by_label("Foto 1").set_input_files(str(photo))
    page.get_by_role("button", name="Kirim Aduan").click()
    expect(page.get_by_role("heading", name="Aduan Anda sudah kami terima")).to_be_visible()
    ticket = page.locator("#nomor-tiket").inner_text().strip()
    row = stored_row(server, ticket)
    assert row["text"].endswith("[foto]") and row["link"].startswith(f"{server['base']}/media/kasus/")

    page.goto(f"{server['base']}/form/status?tiket={ticket}")
    expect(page.locator("#lampiran")).to_have_text("1 foto terlampir (hanya dapat dilihat petugas)")
    assert page.locator("img").count() == 0 and "/media/" not in page.content()

    with pytest.raises(urllib.error.HTTPError) as refused:  # the public cannot open it
        urllib.request.urlopen(row["link"], timeout=5)
    assert refused.value.code == 401
    login = base64.b64encode(b"admin:e2e-admin").decode()
    request = urllib.request.Request(row["link"], headers={"Authorization": f"Basic {login}"})
    with urllib.request.urlopen(request, timeout=5) as reply:
        data = reply.read()
    assert reply.headers["Content-Type"] == "image/jpeg" and b"Exif" not in data and b"SAMSUNG" not in data
