"""A case the citizen withdrew (`BATAL` on WhatsApp) is owed no answer: no reminder reaches the
OPD head, the leadership digest does not list it as overdue, the head's overdue list leaves it
out, and it is never marked late. Everything goes through the real HTTP handlers: a signed Meta
webhook for the citizen (drained by the intake worker, tests/draining.py), `/jobs/sweep` and
`/jobs/daily` with the admin token for the jobs.

(The bug of issue 17: only `daily`'s overdue marking and the replies knew about withdrawal; the
digest, the reminders and the SLA counts re-derived "unanswered" from cells and missed it.)
"""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from functions.bootstrap import build
from functions.case import case_from_row
from functions.config import Settings
from tests.draining import draining_client
from tests.fakes import meta_payloads as mp
from tests.fakes.mailbox import RecordingMailer

TOKEN = "rahasia-admin"
LEADERS = "bupati@ketapangkab.go.id,sekda@ketapangkab.go.id"
HEAD = "kadis.putr@ketapangkab.go.id"
CITIZEN, NEIGHBOUR = "6281234567801", "6281234567802"


@pytest.fixture
def mailer():
    return RecordingMailer()


@pytest.fixture
def svc(tmp_path, schema, clock, mailer):
    settings = Settings.from_env({"KMC_DATA_DIR": str(tmp_path / "data"), "DIGEST_TO": LEADERS,
                                  "KMC_ADMIN_TOKEN": TOKEN})
    settings = replace(settings, whatsapp_app_secret=mp.APP_SECRET, whatsapp_verify_token=mp.VERIFY_TOKEN,
                       whatsapp_phone_number_id=mp.PHONE_NUMBER_ID)
    opds = tuple(replace(o, head_email=HEAD if o.key == "PUTR" else "") for o in schema.opds)
    services_ = build(settings, clock=clock, schema=replace(schema, opds=opds), mailer=mailer)
    services_.workbook.bootstrap()
    return services_


def whatsapp(client, text, sender, at):
    body, headers = mp.signed(mp.whatsapp([mp.wa_text(text, sender=sender, at=at)]))
    reply = client.post("/meta", data=body, headers=headers)
    assert reply.status_code == 200 and reply.stored, reply.get_json()


def job(client, name):
    reply = client.post(f"/jobs/{name}", headers={"Authorization": f"Bearer {TOKEN}"})
    assert reply.status_code == 200, reply.get_data(as_text=True)


def tickets(svc):
    return {c["text"]: (c["ticket_id"], c) for rows in svc.workbook.read_all().values() for c in rows}


def test_a_withdrawn_case_gets_no_reminder_is_not_listed_overdue_and_never_marked_late(svc, clock, mailer):
    client = draining_client(svc)  # stores what each delivery queued, as the intake worker does
    start = clock()
    whatsapp(client, "Jalan rusak parah banyak lubang di Desa Sungai Awan Kiri", CITIZEN, start)
    whatsapp(client, "Jembatan kayu di Desa Pesaguan patah, warga tidak bisa lewat", NEIGHBOUR, start)
    cases = tickets(svc)
    (withdrawn, _), (kept, _) = (cases[t] for t in sorted(cases, key=lambda t: "Jalan" not in t))
    assert all(c.tab == "PUTR" for _, c in cases.values())

    clock.advance(minutes=20)
    whatsapp(client, f"BATAL {withdrawn}", CITIZEN, clock())
    assert tickets(svc)[next(t for t in cases if "Jalan" in t)][1].withdrawn

    clock.set(start + timedelta(hours=36))  # both deadlines are 12 h away: the reminder window
    job(client, "sweep")
    (reminder,) = mailer.tagged("pengingat-")
    assert kept in reminder.text and withdrawn not in reminder.text
    assert {e.key for e in svc.workbook.log_entries("reminder")} == {f"PUTR:{kept}"}

    clock.set(start + timedelta(days=3))  # both past their deadline
    job(client, "daily")
    (digest,) = mailer.tagged("digest-")
    assert kept in digest.text and withdrawn not in digest.text
    (overdue_list,) = mailer.tagged("terlambat-PUTR")
    assert kept in overdue_list.text and withdrawn not in overdue_list.text
    now = {c.ticket_id: c for rows in svc.workbook.read_all().values() for c in rows}
    assert now[kept]["sla"] == "Terlambat" and now[withdrawn]["sla"] == "Berjalan"


def test_a_case_withdrawn_under_the_old_representation_still_reads_as_withdrawn():
    """Workbooks written before the Case codec carry only the note line (newline-separated)."""
    old = {"ticket_id": "KMC-261102-AB3X9", "note": "Catatan lama\nDibatalkan oleh pelapor pada 02/11 08.20."}
    assert case_from_row("PUTR", old).withdrawn
    assert not case_from_row("PUTR", {**old, "note": "Catatan lama"}).withdrawn
