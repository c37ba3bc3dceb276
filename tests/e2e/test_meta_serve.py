"""`python main.py serve` on loopback: signed Meta webhooks of every type over real HTTP.

Checks what a KMC admin would look at: the rows (`sheet show --json`), the private contact
store, the WhatsApp outbox, and that redelivery after a restart makes no second case.
"""
from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests

from tests.fakes import meta_payloads as mp

ROOT = Path(__file__).resolve().parents[2]
ADMIN = "test-admin-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def env(cli_env):
    return {**cli_env, "WHATSAPP_APP_SECRET": mp.APP_SECRET, "WHATSAPP_VERIFY_TOKEN": mp.VERIFY_TOKEN,
            "WHATSAPP_PHONE_NUMBER_ID": mp.PHONE_NUMBER_ID, "KMC_PUBLIC_URL": "https://aduan.ketapangkab.go.id"}


@contextmanager
def serving(env):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "main.py", "serve", "--host", "127.0.0.1", "--port", str(port),
                             "--no-scheduler"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            requests.get(base + "/healthz", timeout=1)
            break
        except requests.ConnectionError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail(proc.stdout.read().decode())
            time.sleep(0.2)
    try:
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def deliver(base, payload, secret=mp.APP_SECRET):
    body, headers = mp.signed(payload, secret)
    return requests.post(base + "/meta", data=body, headers=headers, timeout=30)


def settled(env, seconds: float = 60.0) -> None:
    """Wait until serve's writer has stored everything the doors queued (`drain --list` stores nothing)."""
    deadline = time.monotonic() + seconds
    while True:
        out = subprocess.run([sys.executable, "main.py", "drain", "--list"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=120)
        if out.returncode == 0 and "Menunggu: 0 pesan" in out.stdout:
            return
        assert time.monotonic() < deadline, out.stdout + out.stderr
        time.sleep(0.3)


def sheet(env) -> list[dict]:
    out = subprocess.run([sys.executable, "main.py", "sheet", "show", "--json"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120, check=True).stdout
    return [row for rows in json.loads(out)["tabs"].values() for row in rows]


def outbox(env) -> list[dict]:
    path = Path(env["KMC_DATA_DIR"]) / "outbox" / "whatsapp.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def contacts(env) -> dict[str, tuple]:
    with sqlite3.connect(Path(env["KMC_DATA_DIR"]) / "contacts.sqlite") as db:
        return {r[0]: r[1:] for r in db.execute("SELECT ticket_id, name, phone, channel_user_id, anonymous FROM contacts")}


def test_a_whole_whatsapp_conversation_over_http(env):
    now = datetime.now(timezone.utc)
    budi, siti = "6281234567801", "6281234567802"
    with serving(env) as base:
        hello = requests.get(base + "/meta", params={"hub.mode": "subscribe", "hub.verify_token": mp.VERIFY_TOKEN,
                                                     "hub.challenge": "8237461"}, timeout=10)
        assert hello.status_code == 200 and hello.text == "8237461"

        # refused before anything is parsed or written
        bad = deliver(base, mp.whatsapp([mp.wa_text("jalan rusak", at=now)]), secret="salah")
        assert bad.status_code == 403
        unsigned = requests.post(base + "/meta", json=mp.whatsapp([mp.wa_text("jalan rusak", at=now)]), timeout=10)
        assert unsigned.status_code == 401
        big = b"{" + b" " * (3 * 1024 * 1024 + 10) + b"}"
        assert requests.post(base + "/meta", data=big, headers={"X-Hub-Signature-256": mp.sign(big)},
                             timeout=30).status_code == 413
        not_utf8 = b'{"object": "page", "entry": [], "x": "\xc3\x28"}'
        assert requests.post(base + "/meta", data=not_utf8, headers={"X-Hub-Signature-256": mp.sign(not_utf8)},
                             timeout=10).status_code == 400
        assert sheet(env) == [] and outbox(env) == []

        assert deliver(base, mp.whatsapp([mp.wa_text("Assalamualaikum min, mau lapor", sender=budi, at=now)])).ok
        complaint = mp.wa_text("Jalan di Desa Sungai Awan Kiri rusak parah, banyak lubang", sender=budi,
                               at=now + timedelta(minutes=1))
        created = deliver(base, mp.whatsapp([complaint])).json()
        ticket = created["tickets"][0]
        follow_ups = mp.whatsapp([
            mp.wa_text("motor sering jatuh malam hari", sender=budi, at=now + timedelta(minutes=2)),
            mp.wa_image("1479537139650973", caption="fotonya min", sender=budi, at=now + timedelta(minutes=3)),
            mp.wa_video("2179537139650974", sender=budi, at=now + timedelta(minutes=3)),
            mp.wa_document("3179537139650975", filename="surat-rt.pdf", sender=budi, at=now + timedelta(minutes=3)),
            mp.wa_sticker(sender=budi, at=now + timedelta(minutes=4)),
            mp.wa_audio("5179537139650977", sender=budi, at=now + timedelta(minutes=4)),
            mp.wa_location(-1.7853, 110.0121, name="Sungai Awan Kiri", address="Muara Pawan, Ketapang",
                           sender=budi, at=now + timedelta(minutes=5)),
            mp.wa_contacts("Pak RT Santoso", "+62 812-3456-7899", sender=budi, at=now + timedelta(minutes=5)),
            mp.wa_reaction(complaint["id"], sender=budi, at=now + timedelta(minutes=6)),
        ])
        joined = deliver(base, follow_ups).json()
        assert joined["actions"] == ["queued"] * 8  # accepted; the writer joins them to the case (below)

        others = mp.whatsapp([
            mp.wa_text("Sampah di depan Pasar Kota numpuk seminggu", sender=siti, at=now),
            mp.wa_button_reply("Lampu PJU mati di Jalan Merdeka", sender="6281234567803", at=now),
            mp.wa_unsupported(sender="6281234567804", at=now),
            mp.wa_system(sender="6281234567805", at=now),
        ], contacts=[mp.wa_contact(siti, "Siti Aminah"), mp.wa_contact("6281234567803", "Rudi Hartono"),
                     mp.wa_contact("6281234567804", "Andi"), mp.wa_contact("6281234567805", "Dewi")],
            statuses=[mp.wa_status("wamid.unknown", "read", at=now)])
        assert deliver(base, others).json()["actions"] == ["queued"] * 3
        status = deliver(base, mp.whatsapp([mp.wa_text(f"status {ticket.lower()}", sender=budi,
                                                       at=now + timedelta(minutes=40))]))
        assert status.json()["actions"] == ["queued"]
        settled(env)

    rows = {r["ticket_id"]: r for r in sheet(env)}
    assert len(rows) == 3
    row = rows[ticket]
    assert row["channel"] == "WhatsApp" and row["reporter"] == "Budi S." and row["contact"] == "0812****7801"
    assert row["text"].splitlines()[:3] == ["Jalan di Desa Sungai Awan Kiri rusak parah, banyak lubang",
                                            "motor sering jatuh malam hari", "fotonya min"]
    assert "[pesan suara]" in row["text"] and "[kontak dibagikan: Pak RT Santoso (0812****7899)]" in row["text"]
    assert "-1.7853, 110.0121 (Kecamatan Muara Pawan)" in row["text"]
    for ref in ("image:1479537139650973", "video:2179537139650974", "document:3179537139650975 (surat-rt.pdf)",
                "audio:5179537139650977", "https://maps.google.com/?q=-1.7853,110.0121"):
        assert ref in row["link"]
    assert budi not in json.dumps(rows)  # phone numbers only in the private contact store
    stored = contacts(env)
    assert stored[ticket] == ("Budi Santoso", "081234567801", budi, 0)

    sent = outbox(env)
    to_budi = [m["text"] for m in sent if m["to"] == budi]
    assert "apa masalahnya" in to_budi[0]
    assert f"Nomor tiket: {ticket}" in to_budi[1]
    assert f"https://aduan.ketapangkab.go.id/form/status?tiket={ticket}" in to_budi[1]
    assert "Status: Baru" in to_budi[-1]
    assert any("bentuk teks" in m["text"] for m in sent if m["to"] == "6281234567804")

    # a restart, then Meta redelivers the first complaint and a follow-up: nothing changes
    with serving(env) as base:
        again = deliver(base, mp.whatsapp([complaint, follow_ups["entry"][0]["changes"][0]["value"]["messages"][0]]))
        assert again.json()["actions"] == ["duplicate", "duplicate"]  # the queue survived the restart
        settled(env)
    after = {r["ticket_id"]: r for r in sheet(env)}
    assert len(after) == 3 and after[ticket]["text"] == row["text"]
    assert len(outbox(env)) == len(sent)


def test_answer_reaches_the_citizen_through_the_sweep(env):
    now = datetime.now(timezone.utc)
    with serving(env) as base:
        ticket = deliver(base, mp.whatsapp([mp.wa_text("Lampu PJU di Jalan Gajah Mada mati dua minggu",
                                                       at=now)])).json()["tickets"][0]
        settled(env)
        subprocess.run([sys.executable, "main.py", "edit", ticket, "status=Selesai",
                        "response=Lampu sudah diganti tadi pagi.", "responder=Andi (Dishub)"],
                       cwd=ROOT, env=env, check=True, capture_output=True, timeout=120)
        swept = requests.post(base + "/jobs/sweep", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=60)
        assert swept.status_code == 200
    answer = outbox(env)[-1]
    assert answer["type"] == "text" and answer["to"] == "6281234567801"
    assert "Lampu sudah diganti tadi pagi." in answer["text"] and ticket in answer["text"]
    (row,) = sheet(env)
    assert row["reply_sent_at"]


def test_messenger_instagram_and_page_comments_over_http(env):
    now = datetime.now(timezone.utc)
    with serving(env) as base:
        dm = deliver(base, mp.messenger([mp.dm_event("6254021434668112", text="Air PDAM mati di Kelurahan Sampit",
                                                     at=now),
                                         mp.dm_event("6254021434668112", text="Baik", at=now, echo=True)], at=now))
        ig = deliver(base, mp.instagram([mp.dm_event("1104823976340542", text="Sekolah SD di Desa Kuala Satong bocor",
                                                     at=now, own_id=mp.IG_ACCOUNT_ID)], at=now))
        comment = deliver(base, mp.page_comment("Jembatan di Desa Pemahan patah, bahaya", at=now))
        own = deliver(base, mp.page_comment("Terima kasih infonya", at=now, author_id=mp.PAGE_ID))
        ig_comment = deliver(base, mp.instagram_comment("Lampu jalan di Sukaharja mati semua", at=now))
        assert [r.json()["actions"] for r in (dm, ig, comment, own, ig_comment)] == [
            ["queued"], ["queued"], ["queued"], [], ["queued"]]
        settled(env)
    channels = sorted(r["channel"] for r in sheet(env))
    assert channels == ["Facebook", "Facebook", "Instagram", "Instagram"]
    messenger_out = Path(env["KMC_DATA_DIR"]) / "outbox" / "messenger.jsonl"
    recipients = [json.loads(line)["to"] for line in messenger_out.read_text().splitlines()]
    assert "6254021434668112" in recipients and "1104823976340542" in recipients
    assert sum(r.startswith("comment:") for r in recipients) == 2
