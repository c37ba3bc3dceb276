"""The durable intake queue between the doors and the workbook (issue 14).

The doors put each accepted message in the queue and answer; the writer (`drain`, serve's drain
thread, or Cloud Tasks calling `/jobs/intake`) stores it and then answers the citizen. These
tests are what an admin or a citizen would notice: nothing lost when a process dies, nothing
doubled when a message or a task comes twice, a poison message parked where an admin sees it
and can retry it, and the same case whatever order a conversation's messages are stored in.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from functions.bootstrap import build
from functions.messaging.outbox import read_outbox
from functions.queue.local import LocalQueue
from functions.queue.port import POISON_ATTEMPTS, Job
from functions.server import make_app
from functions.services.intake_worker import STEPS, drain_all, drain_once, queue_notes, run_task
from functions.services.jobs import daily_job
from tests.draining import drain
from tests.fakes import meta_payloads as mp

ROOT = Path(__file__).resolve().parents[2]
WA = "6281234567801"


@pytest.fixture
def meta_svc(settings, clock):
    svc = build(replace(settings, whatsapp_app_secret=mp.APP_SECRET, whatsapp_phone_number_id=mp.PHONE_NUMBER_ID),
                clock=clock)
    svc.workbook.bootstrap()
    return svc


def door(svc, payload):
    """Only the door: the delivery is accepted into the queue, nothing is stored."""
    body, headers = mp.signed(payload)
    reply = make_app(svc).test_client().post("/meta", data=body, headers=headers)
    assert reply.status_code == 200, reply.get_data(as_text=True)
    return reply.get_json()


def rows(svc):
    return [row for tab_rows in svc.workbook.read_all().values() for row in tab_rows]


def acks(svc, to=WA):
    return [m for m in read_outbox(svc.settings.outbox_dir, "WhatsApp") if m["to"] == to and "Nomor tiket" in m["text"]]


def past_backoff(svc):
    svc.queue.clock = lambda: 10 ** 10


# -- the queue itself ---------------------------------------------------------------------------

def test_a_message_accepted_twice_is_one_job(meta_svc, clock):
    payload = mp.whatsapp([mp.wa_text("Jalan di Desa Sungai Awan rusak parah", at=clock())])
    first, again = door(meta_svc, payload), door(meta_svc, payload)
    assert first["actions"] == ["queued"] and again["actions"] == ["duplicate"]
    assert first["tickets"] == again["tickets"]
    assert len(meta_svc.queue.stats().waiting) == 1 and rows(meta_svc) == []


def test_the_door_writes_nothing_and_costs_no_read_of_the_workbook(meta_svc, clock):
    class NoWorkbook:
        def __getattr__(self, name):
            raise AssertionError(f"the door touched the workbook: {name}")

    real, meta_svc.workbook = meta_svc.workbook, NoWorkbook()
    door(meta_svc, mp.whatsapp([mp.wa_text("Lampu PJU mati di Jalan Merdeka", sender="6281200000001", at=clock())]))
    door(meta_svc, mp.whatsapp([mp.wa_text("Lampu PJU mati di Jalan Sudirman", sender="6281200000002", at=clock())]))
    meta_svc.workbook = real
    assert [r.action for r in drain(meta_svc).results] == ["created", "created"]


def test_a_process_killed_between_accepting_and_storing_loses_nothing(tmp_path, cli_env):
    """A real process accepts a webhook through the door, then is killed with SIGKILL before any
    writer runs; `python main.py drain` in a new process stores the case and answers the citizen."""
    env = {**cli_env, "WHATSAPP_APP_SECRET": mp.APP_SECRET, "WHATSAPP_PHONE_NUMBER_ID": mp.PHONE_NUMBER_ID}
    script = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(ROOT)!r})
        from datetime import datetime, timezone
        from functions.bootstrap import build
        from functions.config import Settings
        from functions.server import make_app
        from tests.fakes import meta_payloads as mp
        svc = build(Settings.from_env())
        svc.workbook.bootstrap()
        body, headers = mp.signed(mp.whatsapp([mp.wa_text("Jembatan di Desa Pemahan patah",
                                                          message_id="wamid.KILL1", at=datetime.now(timezone.utc))]))
        reply = make_app(svc).test_client().post("/meta", data=body, headers=headers)
        print(reply.status_code, reply.get_json()["tickets"][0], flush=True)
        os.kill(os.getpid(), signal.SIGKILL)  # dies with the message accepted and nothing stored
    """)
    killed = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert killed.returncode == -9, killed.stderr
    status, ticket = killed.stdout.split()
    assert status == "200"
    data = Path(env["KMC_DATA_DIR"])
    assert not (data / "outbox" / "whatsapp.jsonl").exists()  # nobody was told "stored"
    listed = subprocess.run([sys.executable, "main.py", "drain", "--list"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert "Menunggu: 1 pesan" in listed.stdout and ticket in listed.stdout
    drained = subprocess.run([sys.executable, "main.py", "drain"], cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=120)
    assert drained.returncode == 0, drained.stdout + drained.stderr
    assert "1 tersimpan" in drained.stdout and "Menunggu: 0 pesan" in drained.stdout
    shown = subprocess.run([sys.executable, "main.py", "sheet", "show", "--json"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=120, check=True).stdout
    stored = [r["ticket_id"] for tab in json.loads(shown)["tabs"].values() for r in tab]
    assert stored == [ticket]
    sent = [json.loads(line) for line in (data / "outbox" / "whatsapp.jsonl").read_text().splitlines()]
    assert [m["to"] for m in sent if ticket in m["text"]] == [WA]


def test_a_writer_that_dies_mid_job_gives_it_back_and_the_next_writer_stores_it_once(meta_svc, clock):
    door(meta_svc, mp.whatsapp([mp.wa_text("Sampah menumpuk di Pasar Kota", at=clock())]))
    (job,) = meta_svc.queue.lease(10)  # the dying writer took it
    assert meta_svc.queue.lease(10) == []  # leased: no second writer takes it meanwhile
    assert meta_svc.queue.recover() == 1  # the next `serve` takes the dead process's jobs over
    assert [r.action for r in drain(meta_svc).results] == ["created"]
    assert len(rows(meta_svc)) == 1 and len(acks(meta_svc)) == 1


def test_sheets_down_for_an_hour_is_a_wait_never_a_dead_letter(meta_svc, clock):
    from tests.entrypoints.test_web_form import FlakyWorkbook  # appends fail while `down`

    meta_svc.workbook = FlakyWorkbook(meta_svc.workbook)
    for i in range(3):
        door(meta_svc, mp.whatsapp([mp.wa_text(f"Banjir di Kecamatan Delta Pawan ({i})", sender=f"62812555{i:05d}",
                                               at=clock())]))
    now = [1_000_000.0]
    meta_svc.queue.clock = lambda: now[0]
    for _ in range(60):  # an hour of tries, a minute apart
        report = drain_once(meta_svc, meta_svc.queue)
        assert report.results == [] and report.dead == []
        now[0] += 60
    stats = meta_svc.queue.stats()
    assert len(stats.waiting) == 3 and stats.dead == []
    clock.advance(minutes=61)
    notes = queue_notes(meta_svc.queue, meta_svc.now())
    assert any("3 pesan warga menunggu dicatat lebih dari 15 menit" in n for n in notes)
    meta_svc.workbook.down = False
    assert sorted(r.action for r in drain_all(meta_svc, meta_svc.queue).results) == ["created"] * 3
    assert len(rows(meta_svc)) == 3 and meta_svc.queue.stats().waiting == []


# -- poison messages ------------------------------------------------------------------------------

def test_a_poison_message_becomes_a_dead_letter_never_blocks_others_and_can_be_retried(meta_svc, clock, capsys):
    calls = {"n": 0}
    real = STEPS["inbound"]

    def flaky(svc, job):
        if "RACUN" in job.body["text"]:
            calls["n"] += 1
            raise ValueError("cannot handle this message")
        return real(svc, job)

    meta_svc.intake_steps = {**meta_svc.intake_steps, "inbound": flaky}
    door(meta_svc, mp.whatsapp([mp.wa_text("RACUN pesan aneh", sender="6281299900001", at=clock())]))
    door(meta_svc, mp.whatsapp([mp.wa_text("Jalan rusak di Desa Sandai Kiri", sender="6281299900002",
                                           at=clock())]))
    now = [1_000_000.0]
    meta_svc.queue.clock = lambda: now[0]
    first = drain_once(meta_svc, meta_svc.queue)
    assert [r.action for r in first.results] == ["created"]  # the other message is not held up
    for _ in range(POISON_ATTEMPTS):
        now[0] += 120
        drain_once(meta_svc, meta_svc.queue)
    assert calls["n"] == POISON_ATTEMPTS  # tried a bounded number of times, then parked
    (dead,) = meta_svc.queue.stats().dead
    assert dead.attempts == POISON_ATTEMPTS and "ValueError" in dead.error

    # the admin sees it in `drain` and in the digest's system notes
    from functions.services.intake_worker import main_drain

    assert main_drain(meta_svc, list_only=True) == 1
    listed = capsys.readouterr().out
    assert "Surat mati: 1" in listed and f"drain --retry {dead.ticket}" in listed
    daily = daily_job(meta_svc, clock())
    assert any(dead.ticket in p and "Surat mati" in p for p in daily.digest.problems)

    # fixed (here: the step works again), retried, stored once
    meta_svc.intake_steps = {**meta_svc.intake_steps, "inbound": real}
    assert main_drain(meta_svc, retry=dead.ticket) == 0
    assert len(rows(meta_svc)) == 2 and meta_svc.queue.stats().dead == []


# -- order and duplicates: Cloud Tasks promises neither ----------------------------------------------

def conversation_jobs(svc, clock):
    """A complaint and its follow-ups, accepted in three deliveries; the jobs, not yet stored."""
    door(svc, mp.whatsapp([mp.wa_text("Jalan di Desa Sungai Awan Kiri rusak parah", at=clock())]))
    door(svc, mp.whatsapp([mp.wa_image(caption="fotonya min", at=clock() + timedelta(minutes=2))]))
    door(svc, mp.whatsapp([mp.wa_text("motor sering jatuh malam hari", at=clock() + timedelta(minutes=3))]))
    jobs = []
    while True:  # one per round: messages of one conversation are leased one at a time, in order
        got = svc.queue.lease(10)
        if not got:
            return jobs
        jobs += got
        for j in got:
            svc.queue.done(j.key)


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 1, 0), (1, 0, 2), (0, 1, 2, 1, 0)])
def test_a_conversation_gives_one_case_whatever_order_or_how_often_its_messages_run(meta_svc, clock, order):
    jobs = conversation_jobs(meta_svc, clock)
    assert len(jobs) == 3
    for i in order:
        assert run_task(meta_svc, jobs[i], retry_count=0).status == 200
    (row,) = rows(meta_svc)
    text = row["text"]
    for piece in ("Jalan di Desa Sungai Awan Kiri rusak parah", "fotonya min", "motor sering jatuh malam hari"):
        assert text.count(piece) == 1, text
    assert row["link"].count("image:1479537139650973") == 1
    assert len(acks(meta_svc)) == 1 and row["ticket_id"] in acks(meta_svc)[0]["text"]


def test_tasks_of_one_conversation_delivered_at_once_still_make_one_case(meta_svc, clock):
    """Cloud Tasks hands the one `intake` instance up to 10 tasks together."""
    import threading

    jobs = conversation_jobs(meta_svc, clock)
    start = threading.Barrier(len(jobs))

    def deliver(job):
        start.wait()
        run_task(meta_svc, job, retry_count=0)

    threads = [threading.Thread(target=deliver, args=(j,)) for j in reversed(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    (row,) = rows(meta_svc)
    assert all(p in row["text"] for p in ("rusak parah", "fotonya min", "motor sering jatuh"))
    assert len(acks(meta_svc)) == 1


def test_the_local_queue_stores_a_conversation_in_the_order_it_arrived(meta_svc, clock):
    conversation_jobs_accepted = [
        mp.wa_text("Jalan di Desa Sungai Awan Kiri rusak parah", at=clock()),
        mp.wa_text("motor sering jatuh malam hari", at=clock() + timedelta(minutes=1)),
    ]
    for m in conversation_jobs_accepted:
        door(meta_svc, mp.whatsapp([m]))
    report = drain_all(meta_svc, meta_svc.queue)
    assert [r.action for r in report.results] == ["created", "joined"]
    (row,) = rows(meta_svc)
    assert row["text"].splitlines() == ["Jalan di Desa Sungai Awan Kiri rusak parah", "motor sering jatuh malam hari"]


def test_a_task_that_runs_twice_stores_once_and_answers_once(meta_svc, clock):
    door(meta_svc, mp.whatsapp([mp.wa_text("Puskesmas di Kecamatan Sandai sering tutup", at=clock())]))
    (job,) = meta_svc.queue.lease(10)
    first, second = run_task(meta_svc, job, 0), run_task(meta_svc, job, 1)
    assert (first.result.action, second.result.action) == ("created", "redelivered")
    assert len(rows(meta_svc)) == 1 and len(acks(meta_svc)) == 1


def test_a_redelivery_after_the_queue_forgot_the_message_is_still_not_a_second_case(meta_svc, clock, tmp_path):
    """Cloud Tasks keeps a task name about an hour: later, the worker's own idempotency holds."""
    payload = mp.whatsapp([mp.wa_text("Air PDAM tidak mengalir tiga hari", at=clock())])
    door(meta_svc, payload)
    drain(meta_svc)
    meta_svc.queue = LocalQueue(tmp_path / "forgetful.sqlite")
    assert door(meta_svc, payload)["actions"] == ["queued"]
    assert [r.action for r in drain(meta_svc).results] == ["redelivered"]
    assert len(rows(meta_svc)) == 1 and len(acks(meta_svc)) == 1


# -- /jobs/intake: what Cloud Tasks calls ----------------------------------------------------------

def task_post(svc, job: Job, retry: int = 0, token: str = "test-admin-token"):
    return make_app(svc).test_client().post(
        "/jobs/intake", data=job.to_json(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                 "X-CloudTasks-TaskRetryCount": str(retry)})


def test_the_intake_worker_endpoint_stores_a_task_once_and_refuses_strangers(meta_svc, clock):
    door(meta_svc, mp.whatsapp([mp.wa_text("Lampu jalan mati di Jalan Gajah Mada", at=clock())]))
    (job,) = meta_svc.queue.lease(10)
    assert task_post(meta_svc, job, token="salah").status_code == 401 and rows(meta_svc) == []
    reply = task_post(meta_svc, job)
    assert reply.status_code == 200 and reply.get_json()["action"] == "created"
    assert task_post(meta_svc, job, retry=1).get_json()["action"] == "redelivered"
    assert len(rows(meta_svc)) == 1 and len(acks(meta_svc)) == 1
    assert make_app(meta_svc).test_client().post(
        "/jobs/intake", data=b"{not json", headers={"Authorization": "Bearer test-admin-token"}).status_code == 200


def test_the_intake_worker_endpoint_asks_cloud_tasks_to_retry_while_sheets_is_down(meta_svc, clock):
    from functions.model import StorageUnavailable

    door(meta_svc, mp.whatsapp([mp.wa_text("Jembatan putus di Desa Pemahan", at=clock())]))
    (job,) = meta_svc.queue.lease(10)
    real = meta_svc.workbook

    class Down:
        def append(self, cases):
            raise StorageUnavailable("503")

        def __getattr__(self, name):
            return getattr(real, name)

    meta_svc.workbook = Down()
    reply = task_post(meta_svc, job, retry=40)
    assert reply.status_code == 503 and reply.get_json()["dead_letter"] is False  # a wait, never poison
    meta_svc.workbook = real
    assert task_post(meta_svc, job, retry=41).status_code == 200 and len(acks(meta_svc)) == 1


def test_a_task_stored_more_than_15_minutes_late_is_noted_once_a_day_for_the_digest(meta_svc, clock):
    for i in range(3):
        door(meta_svc, mp.whatsapp([mp.wa_text(f"Banjir di Delta Pawan ({i})", sender=f"62812777{i:05d}", at=clock())]))
    jobs = meta_svc.queue.lease(10)
    clock.advance(minutes=40)  # Sheets was down; Cloud Tasks delivers them now
    for job in jobs:
        assert task_post(meta_svc, job, retry=20).status_code == 200
    notes = [e for e in meta_svc.workbook.log_entries("problem") if e.key.startswith("late:")]
    assert len(notes) == 1 and "menunggu lebih dari 15 menit" in notes[0].detail
    assert any("menunggu lebih dari 15 menit" in p for p in daily_job(meta_svc, clock()).digest.problems)


def test_a_poison_task_is_reported_in_the_log_for_the_digest_once(meta_svc, clock):
    door(meta_svc, mp.whatsapp([mp.wa_text("Jalan rusak di Desa Sandai", at=clock())]))
    (job,) = meta_svc.queue.lease(10)
    bad = replace(job, body={**job.body, "channel": "Telegram"})  # a step that can never succeed
    for retry in range(POISON_ATTEMPTS + 1):
        reply = task_post(meta_svc, bad, retry=retry)
        assert reply.status_code == 500
        assert reply.get_json()["dead_letter"] is (retry + 1 >= POISON_ATTEMPTS)
    problems = [e for e in meta_svc.workbook.log_entries("problem") if e.key == f"dead:{job.key}"]
    assert len(problems) == 1 and "Surat mati" in problems[0].detail and WA not in problems[0].detail
    assert any(job.ticket in p for p in daily_job(meta_svc, clock()).digest.problems)


# -- settings -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("env,words", [
    ({"KMC_QUEUE": "rabbit"}, "KMC_QUEUE harus"),
    ({"KMC_QUEUE": "cloudtasks"}, "KMC_TASKS_QUEUE wajib"),
    ({"KMC_QUEUE": "cloudtasks", "KMC_TASKS_QUEUE": "projects/kmc-aduan/locations/asia-southeast2/queues/intake"},
     "https publik"),
    ({"KMC_QUEUE": "cloudtasks", "KMC_TASKS_QUEUE": "projects/kmc-aduan/locations/asia-southeast2/queues/intake",
      "KMC_PUBLIC_URL": "https://asia-southeast2-kmc-aduan.cloudfunctions.net"}, "KMC_TASKS_INVOKER"),
])
def test_queue_settings_are_checked_with_an_indonesian_message(env, words):
    from functions.config import ConfigError, Settings

    with pytest.raises(ConfigError, match=words):
        Settings.from_env(env)


def test_cloud_tasks_settings_derive_the_worker_url_from_the_public_url():
    from functions.config import Settings

    s = Settings.from_env({"KMC_QUEUE": "cloudtasks",
                           "KMC_TASKS_QUEUE": "projects/kmc-aduan/locations/asia-southeast2/queues/intake",
                           "KMC_PUBLIC_URL": "https://asia-southeast2-kmc-aduan.cloudfunctions.net/",
                           "KMC_SERVICE_ACCOUNT": "kmc-runtime@kmc-aduan.iam.gserviceaccount.com"})
    assert s.intake_worker_url == "https://asia-southeast2-kmc-aduan.cloudfunctions.net/intake"
    assert s.tasks_invoker == "kmc-runtime@kmc-aduan.iam.gserviceaccount.com"
    assert Settings.from_env({}).queue == "local"


def test_serve_recovers_leases_and_the_queue_file_lives_in_the_data_dir(settings):
    svc = build(settings)
    assert isinstance(svc.queue, LocalQueue) and svc.queue.path == settings.data_dir / "queue.sqlite"
    assert os.path.exists(settings.data_dir / "queue.sqlite")
