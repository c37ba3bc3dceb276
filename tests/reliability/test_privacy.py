"""Privacy audit (UU 27/2022): an end-to-end day of KMC Aduan over real HTTP, then a scan of
everything it produced that is not the private contact store — every log line, every email,
every OPD tab, the .xlsx export and every public page — for citizens' phone numbers, full names
and the deployment's secrets.

WhatsApp, Messenger, a Page comment, the web form, Open311 and a monitoring post go in through
`python main.py serve`; answers go out through the Graph API (a fake on loopback, with a real
access token to leak); staff answer with `python main.py edit`; the sweep and the daily job run
two days later; then the export, `sheet show --json`, the status pages and Open311 reads.
"""
from __future__ import annotations

import email
import json
import re
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from email import policy
from pathlib import Path

import pytest
import requests

from tests.fakes import meta_payloads as mp
from tests.fakes.fake_graph import FakeGraph
from tests.reliability.load import _wait_healthy, free_port

ROOT = Path(__file__).resolve().parents[2]
SECRETS = {
    "WHATSAPP_APP_SECRET": "app-secret-7f3a9c2e51",
    "WHATSAPP_VERIFY_TOKEN": "verify-token-0b8d4e",
    "WHATSAPP_ACCESS_TOKEN": "EAAGwaTokenXj29Kq81LmZ",
    "META_PAGE_ACCESS_TOKEN": "EAAGpageTokenPq73Hs02Vb",
    "KMC_ADMIN_TOKEN": "admin-token-4c1e77d0a9",
    "KMC_FORM_SECRET": "form-secret-9e2b6d13f8",
    "KMC_OPEN311_KEYS": "open311-key-51ac8e2d",
    "SMTP_PASSWORD": "smtp-password-a83f0c",
}
# Citizens: full name, phone as they gave it (or the wa_id Meta sends).
BUDI = ("Budi Santoso", "6281234567801")
SITI = ("Siti Aminah", "6281298765432")
RUDI = ("Rudi Hartono", "0812-3456-7803")
DEWI = ("Dewi Lestari", "081298700011")
RINA = "Rina Wati"  # a Page comment author
KMC_NUMBERS = {"081328383222", "6281328383222"}  # KMC's own public WhatsApp number may appear
PHONE = re.compile(r"(?<![\w+])(?:\+?62|0)8(?:[ .-]?\d){7,12}(?!\w)")


def digits(s: str) -> str:
    return re.sub(r"\D", "", s)


def phone_variants(raw: str) -> set[str]:
    d = digits(raw)
    local = "0" + d[2:] if d.startswith("62") else d
    return {local, "62" + local[1:], "+62" + local[1:], f"{local[:4]}-{local[4:8]}-{local[8:]}",
            f"{local[:4]} {local[4:8]} {local[8:]}"}


class Audit:
    """Collects every text the system produced outside the private contact store."""

    def __init__(self):
        self.sources: list[tuple[str, str]] = []

    def add(self, where: str, text: str) -> None:
        self.sources.append((where, text))

    def leaks(self) -> list[str]:
        found = []
        names = [BUDI[0], SITI[0], RUDI[0], DEWI[0], RINA]
        phones = set().union(*(phone_variants(p) for p in (BUDI[1], SITI[1], RUDI[1], DEWI[1])))
        for where, text in self.sources:
            for secret in SECRETS.values():
                if secret in text:
                    found.append(f"{where}: secret {secret[:12]}…")
            for name in names:
                if name.lower() in text.lower():
                    found.append(f"{where}: full name {name}")
            for phone in phones:
                if phone in text:
                    found.append(f"{where}: phone {phone}")
            for m in PHONE.finditer(text):
                if digits(m.group(0)) not in KMC_NUMBERS:
                    found.append(f"{where}: phone-like {m.group(0)}")
        return sorted(set(found))


@pytest.fixture
def graph():
    fake = FakeGraph(token=SECRETS["WHATSAPP_ACCESS_TOKEN"])
    with fake.serve() as base:
        yield fake, base


def run_cli(env, *args, audit: Audit, check=True) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "main.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=180)
    audit.add(f"`{' '.join(args[:2])}` stderr", done.stderr)
    if check:
        assert done.returncode == 0, done.stderr[-2000:]
    return done


def wait_until_stored(env, audit: Audit, seconds: float = 90.0) -> None:
    """Poll `drain --list` (which stores nothing) until serve's writer has emptied the queue."""
    deadline = time.monotonic() + seconds
    while True:
        done = run_cli(env, "drain", "--list", audit=audit, check=False)
        if done.returncode == 0 and "Menunggu: 0 pesan" in done.stdout:
            return
        assert time.monotonic() < deadline, done.stdout[-2000:]
        time.sleep(0.5)


def test_no_phone_number_full_name_or_secret_leaves_the_private_contact_store(tmp_path, cli_env, graph):
    fake_graph, graph_url = graph
    audit = Audit()
    data = tmp_path / "data"
    env = {**cli_env, **SECRETS, "KMC_DATA_DIR": str(data), "META_GRAPH_URL": graph_url,
           "WHATSAPP_PHONE_NUMBER_ID": mp.PHONE_NUMBER_ID, "KMC_PUBLIC_URL": "https://aduan.ketapangkab.go.id",
           "SMTP_USER": "kmc@ketapangkab.go.id", "DIGEST_TO": "bupati@ketapangkab.go.id,sekda@ketapangkab.go.id",
           "PYTHONPATH": str(ROOT)}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "serve.log"
    now = datetime.now(timezone.utc)
    tickets: list[str] = []
    with open(log_path, "wb") as out:
        proc = subprocess.Popen([sys.executable, "main.py", "serve", "--host", "127.0.0.1", "--port", str(port),
                                 "--no-scheduler"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            _wait_healthy(base, proc, log_path)
            s = requests.Session()

            def meta(payload, files_case=True):
                body, headers = mp.signed(payload, SECRETS["WHATSAPP_APP_SECRET"])
                reply = s.post(base + "/meta", data=body, headers=headers, timeout=30)
                assert reply.status_code == 200, reply.text
                if files_case:  # the door answers each message's own ticket; follow-ups join a case
                    tickets.append(reply.json()["tickets"][0])
                return reply.json()

            # WhatsApp: a complaint, a photo and a location; an anonymous one; a status question.
            meta(mp.whatsapp([mp.wa_text("Jalan di Desa Sungai Awan Kiri rusak parah, banyak lubang", sender=BUDI[1],
                                         at=now)], contacts=[mp.wa_contact(BUDI[1], BUDI[0])]))
            meta(mp.whatsapp([mp.wa_image(caption="fotonya", sender=BUDI[1], at=now + timedelta(minutes=1)),
                              mp.wa_location(-1.7853, 110.0121, name="Sungai Awan Kiri", sender=BUDI[1],
                                             at=now + timedelta(minutes=2))],
                             contacts=[mp.wa_contact(BUDI[1], BUDI[0])]), files_case=False)
            meta(mp.whatsapp([mp.wa_text("ANONIM Sampah di depan Pasar Kota menumpuk seminggu tidak diangkut",
                                         sender=SITI[1], at=now)], contacts=[mp.wa_contact(SITI[1], SITI[0])]))
            meta(mp.whatsapp([mp.wa_text(f"status {tickets[0]}", sender=BUDI[1], at=now + timedelta(minutes=5))],
                             contacts=[mp.wa_contact(BUDI[1], BUDI[0])]), files_case=False)
            # Messenger and a public Page comment.
            meta(mp.messenger([mp.dm_event("6254021434668112", text="Air PDAM mati di Kelurahan Sampit", at=now)],
                              at=now))
            meta(mp.page_comment("Jembatan di Desa Pemahan patah, bahaya", at=now, author_name=RINA))

            # The web form, as a browser fills it.
            page = s.get(base + "/form", timeout=30)
            hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page.text))
            reply = s.post(base + "/form", data={**hidden, "isi": "Lampu PJU di Jalan Gajah Mada mati dua minggu",
                                                 "kecamatan": "Delta Pawan", "nama": RUDI[0], "telepon": RUDI[1],
                                                 "setuju": "ya"}, timeout=30)
            assert reply.status_code == 200, reply.text[:500]
            tickets.append(re.search(r'data-ticket="([^"]+)"', reply.text).group(1))
            audit.add("form confirmation page", reply.text)

            # Open311 from a partner system, with the reporter's details.
            first, last = DEWI[0].split()
            reply = s.post(base + "/open311/v2/requests.json", data={
                "api_key": SECRETS["KMC_OPEN311_KEYS"], "service_code": "jalan-rusak",
                "address_string": "Jl. Poros Sukabangun", "description": "Jalan berlubang di depan SD 5",
                "first_name": first, "last_name": last, "phone": DEWI[1], "email": "dewi@example.id"}, timeout=30)
            assert reply.status_code == 200, reply.text
            tickets.append(reply.json()[0]["service_request_id"])
            audit.add("open311 POST reply", reply.text)

            # KMC monitoring logs a negative post (the OPD head is alerted by email).
            reply = s.post(base + "/monitoring", headers={"Authorization": f"Bearer {SECRETS['KMC_ADMIN_TOKEN']}"},
                           json={"platform": "Facebook", "url": "https://www.facebook.com/groups/infoketapang/posts/9/",
                                 "handle": "@warga_sandai", "text": "Banjir di Sandai, warga kecewa pemda lambat"},
                           timeout=30)
            assert reply.status_code == 202, reply.text
            tickets.append(reply.json()["ticket"])
            audit.add("monitoring reply", reply.text)
            wait_until_stored(env, audit)  # serve's writer drains the queue in the background

            # Staff answer one case; the sweep sends the answer on WhatsApp.
            run_cli(env, "edit", tickets[0], "status=Selesai", "response=Sudah kami tambal kemarin.",
                    "responder=Andi (PUTR)", audit=audit)
            sweep = s.post(base + "/jobs/sweep", headers={"Authorization": f"Bearer {SECRETS['KMC_ADMIN_TOKEN']}"},
                           timeout=120)
            assert sweep.status_code == 200, sweep.text
            audit.add("sweep reply", sweep.text)

            # Public pages anybody can open.
            for path in ["/form", "/open311/v2/requests.json", "/open311/v2/requests.xml", "/open311/v2/services.json",
                         "/"]:
                audit.add(f"GET {path}", s.get(base + path, timeout=30).text)
            for ticket in set(tickets):
                for url in (f"/form/status?tiket={ticket}", f"/open311/v2/requests/{ticket}.json",
                            f"/open311/v2/requests/{ticket}.xml",
                            f"/open311/v2/requests.json?service_request_id={ticket}"):
                    page = s.get(base + url, timeout=30)
                    assert page.status_code == 200, (url, page.status_code)
                    audit.add(f"GET {url}", page.text)
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    audit.add("serve log", log_path.read_text(errors="replace"))

    # Two days later: overdue marks, reminders, the digest and the per-OPD lists.
    later = (now + timedelta(days=2, hours=3)).astimezone(timezone(timedelta(hours=7)))
    run_cli(env, "sweep", "--now", later.isoformat(), audit=audit)
    run_cli(env, "daily", "--now", later.isoformat(), audit=audit)
    shown = run_cli(env, "sheet", "show", "--json", audit=audit).stdout
    audit.add("sheet show --json", shown)
    tabs = json.loads(shown)["tabs"]
    stored = {r["ticket_id"] for rows in tabs.values() for r in rows}
    assert set(tickets) == stored and len(stored) == 7  # the scenario really filed its seven cases
    export = tmp_path / "aduan.xlsx"
    run_cli(env, "export", "--xlsx", str(export), audit=audit)
    from openpyxl import load_workbook

    book = load_workbook(export, read_only=True)
    audit.add("export.xlsx", "\n".join(" | ".join("" if v is None else str(v) for v in row)
                                       for ws in book.worksheets for row in ws.iter_rows(values_only=True)))

    mails = sorted((data / "outbox").glob("*.eml"))
    assert any("digest" in p.name for p in mails), [p.name for p in mails]
    for path in mails:
        msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        parts = [f"{k}: {v}" for k, v in msg.items()]
        for part in msg.walk():
            if part.get_content_maintype() == "text":
                parts.append(part.get_content())
        audit.add(f"email {path.name}", "\n".join(parts))
    for path in (data / "outbox").glob("*.html"):
        audit.add(f"email {path.name}", path.read_text(errors="replace"))

    # The citizens did get their answers (so the audit is not vacuous) ...
    assert fake_graph.texts_to(BUDI[1]) and any("Sudah kami tambal" in t for t in fake_graph.texts_to(BUDI[1]))
    # ... and what they gave lives in the private store only.
    leaks = Audit.leaks(audit)
    assert leaks == [], "\n".join(leaks)
    assert sum(len(text) for _, text in audit.sources) > 50_000  # logs, mails, tabs, export and pages were read


@pytest.mark.parametrize("planted", [
    "Pelapor: Budi Santoso", "hubungi 0812-3456-7801", "wa_id 6281234567801", "+6281298765432",
    "token EAAGwaTokenXj29Kq81LmZ", "Authorization: Bearer admin-token-4c1e77d0a9", "nomor 0857 1111 2222",
])
def test_the_audit_catches_each_kind_of_leak(planted):
    """The scan above is only as good as its patterns: each kind of leak is caught, KMC's own number is not."""
    audit = Audit()
    audit.add("planted", f"Rekap harian. Hubungi KMC di 0813-2838-3222 atau wa.me/6281328383222. {planted}")
    assert audit.leaks()
    clean = Audit()
    clean.add("clean", "Pelapor: Budi S. Kontak: 0812****7801. Hubungi KMC di 0813-2838-3222.")
    assert clean.leaks() == []
