"""Jobs may overlap (a Cloud Scheduler retry, two instances, a CLI run next to `serve`): a daily
that runs several times at once still sends one digest per date, and a sweep that runs several
times at once answers each citizen once (issue 16, items 5 and 6).

The local store is exercised with real parallel processes and real parallel HTTP requests; the
Google store's Log claim with two adapter instances racing on the fake Sheets API."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from datetime import datetime, timedelta
from pathlib import Path

import requests

from functions.bootstrap import build
from functions.config import Settings
from functions.model import Channel, Complaint, Contact
from functions.server import make_app
from functions.services.staff import staff_edit
from functions.services.intake import intake
from tests.adapters.sheets_env import sheets_env
from tests.e2e.test_feeds_loopback import server  # noqa: F401 - fixture: the loopback news sites
from tests.fakes.clock import WIB
from tests.fakes.loopback import LoopbackServer

ROOT = Path(__file__).resolve().parents[2]
RECEIVED = datetime(2026, 11, 2, 8, 0, tzinfo=WIB)
DAILY_AT = "2026-11-05T07:00:00+07:00"


def _seed(env: dict, answered: int = 0) -> list[str]:
    """Cases from three WhatsApp citizens; the first `answered` of them answered by staff."""
    svc = build(Settings.from_env(env))
    svc.workbook.bootstrap()
    tickets = []
    for i in range(3):
        receipt = intake(svc, Complaint(f"jalan rusak berlubang di desa nomor {i}", Channel.WHATSAPP, RECEIVED,
                                       Contact(f"Warga {i}", f"08132838320{i}", f"628132838320{i}"),
                                       source_id=f"wamid.overlap{i}"))
        tickets.append(receipt.ticket_id)
    for ticket in tickets[:answered]:
        staff_edit(svc.workbook, svc.schema, ticket, ["status=Diproses", "response=Sudah kami tinjau."], "KMC")
    return tickets


def _digests(env: dict) -> list[Path]:
    return sorted((Path(env["KMC_DATA_DIR"]) / "outbox").glob("*digest*.eml"))


def _in_parallel(env: dict, n: int, *args: str) -> list[subprocess.CompletedProcess]:
    procs = [subprocess.Popen([sys.executable, "main.py", *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(n)]
    return [subprocess.CompletedProcess(p.args, p.wait(timeout=180), *p.communicate()) for p in procs]


def test_six_daily_processes_at_once_send_one_digest(cli_env):
    _seed(cli_env)
    results = _in_parallel(cli_env, 6, "daily", "--now", DAILY_AT)
    assert all(r.returncode == 0 for r in results), [r.stderr[-300:] for r in results]
    assert len(_digests(cli_env)) == 1
    said = "\n".join(r.stdout for r in results)
    assert said.count("rekap dikirim ke") == 1  # the others say they did nothing


def test_six_sweep_processes_at_once_answer_each_citizen_once(cli_env):
    _seed(cli_env, answered=2)
    results = _in_parallel(cli_env, 6, "sweep", "--now", "2026-11-02T10:00:00+07:00")
    assert all(r.returncode == 0 for r in results), [r.stderr[-300:] for r in results]
    sent = [json.loads(line) for line in
            (Path(cli_env["KMC_DATA_DIR"]) / "outbox" / "whatsapp.jsonl").read_text().splitlines()]
    answers = [m for m in sent if "Sudah kami tinjau" in json.dumps(m, ensure_ascii=False)]
    assert len(answers) == 2  # two answered citizens, once each


def test_eight_daily_posts_at_once_send_one_digest(cli_env):
    _seed(cli_env)
    svc = build(Settings.from_env(cli_env), clock=lambda: datetime.fromisoformat(DAILY_AT))
    loop = LoopbackServer(make_app(svc))
    barrier = threading.Barrier(8)
    codes: list[int] = []

    def post():
        barrier.wait()
        reply = requests.post(f"{loop.url}/jobs/daily", headers={"Authorization": "Bearer test-admin-token"},
                              timeout=60)
        codes.append(reply.status_code)

    try:
        threads = [threading.Thread(target=post) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        loop.close()
    assert len(_digests(cli_env)) == 1
    assert sorted(set(codes)) in ([200], [200, 409])  # 409: busy, Cloud Scheduler may retry


def test_a_killed_run_does_not_block_the_next_one(cli_env, tmp_path):
    """The local lock is the kernel's: a process that dies holding it releases it."""
    _seed(cli_env)
    script = ("import sys,time; sys.path.insert(0, %r)\n"
              "from functions.bootstrap import build\nfrom functions.config import Settings\n"
              "svc = build(Settings.from_env())\n"
              "with svc.workbook.job_lock('daily') as held:\n"
              "    print('held' if held else 'busy', flush=True); time.sleep(60)\n") % str(ROOT)
    holder = subprocess.Popen([sys.executable, "-c", script], env=cli_env, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        busy = subprocess.run([sys.executable, "main.py", "daily", "--now", DAILY_AT], cwd=ROOT, env=cli_env,
                              capture_output=True, text=True, timeout=120)
        assert "daily lain sedang berjalan" in busy.stdout and _digests(cli_env) == []
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    after = subprocess.run([sys.executable, "main.py", "daily", "--now", DAILY_AT], cwd=ROOT, env=cli_env,
                           capture_output=True, text=True, timeout=120)
    assert "rekap dikirim ke" in after.stdout and len(_digests(cli_env)) == 1


# -- the Log claim (Google Sheets has no conditional write) ------------------------------------

class RacingWorkbook:
    """One Cloud Functions instance's store; every instance reaches its append at the same time."""

    def __init__(self, inner, barrier: threading.Barrier):
        self.inner, self.barrier = inner, barrier

    def log_add(self, entry, **kw):
        from functions.services.lease import LEASE_LOG

        if entry.kind == LEASE_LOG:
            self.barrier.wait(timeout=30)
        return self.inner.log_add(entry, **kw)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_instances_claiming_the_sheet_lease_at_once_let_exactly_one_run():
    from functions.services.lease import claim

    with sheets_env() as env:
        env.workbook().bootstrap()
        barrier = threading.Barrier(3)
        stores = [RacingWorkbook(env.workbook(), barrier) for _ in range(3)]
        now = RECEIVED
        won: list[bool] = []

        def run(store, holder):
            won.append(claim(store, "daily", holder, now, timedelta(minutes=60)) is not None)

        threads = [threading.Thread(target=run, args=(s, f"holder{i}")) for i, s in enumerate(stores)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(won) == [False, False, True]
        # the sheet now says who holds it; a later run on a fresh instance waits its turn
        assert claim(env.workbook(), "daily", "late", now + timedelta(minutes=5), timedelta(minutes=60)) is None


def test_a_sheet_lease_is_released_after_the_run_and_expires_after_a_crash():
    from functions.services.lease import claim, exclusive

    with sheets_env() as env:
        env.workbook().bootstrap()
        ttl = timedelta(minutes=60)
        with exclusive(env.workbook(), "sweep", now=RECEIVED, ttl=ttl) as held:
            assert held
            with exclusive(env.workbook(), "sweep", now=RECEIVED, ttl=ttl) as second:
                assert not second  # overlapping: does nothing
        with exclusive(env.workbook(), "sweep", now=RECEIVED + timedelta(minutes=1), ttl=ttl) as again:
            assert again  # released: the next run goes ahead at once
        # a holder that crashed (claimed, never released) is overtaken once its lease is old
        assert claim(env.workbook(), "sweep", "crashed", RECEIVED + timedelta(minutes=2), ttl) is not None
        assert claim(env.workbook(), "sweep", "next", RECEIVED + timedelta(minutes=30), ttl) is None
        assert claim(env.workbook(), "sweep", "next", RECEIVED + timedelta(minutes=63), ttl) is not None


# -- same class, beyond the list: overlapping media runs alerted each head once per run -----------


def test_four_media_processes_at_once_alert_each_head_once(cli_env, server):  # noqa: F811
    env = dict(cli_env, KMC_MEDIA_FEEDS=server.url("/tribun/rss"), KMC_FEEDS_ALLOW_PRIVATE="true")
    subprocess.run([sys.executable, "main.py", "bootstrap"], cwd=ROOT, env=env, check=True, capture_output=True,
                   timeout=120)
    results = _in_parallel(env, 4, "media", "--now", "2026-11-02T08:00")
    assert all(r.returncode == 0 for r in results), [r.stderr[-300:] for r in results]
    alerts = sorted((Path(env["KMC_DATA_DIR"]) / "outbox").glob("*alert*.eml"))
    assert len(alerts) == 2  # PUTR and DLH, once each (as one run alone sends)


def test_parallel_starts_do_not_trip_over_each_other_s_write_probe(tmp_path):
    """Same class, found by the tests above: every process checked the data dir with one shared
    probe file, so one run deleted another's probe and that run failed with "not writable"."""
    from functions.stores.local import prepare_dir

    errors: list[Exception] = []

    def start():
        for _ in range(200):
            try:
                prepare_dir(tmp_path / "data")
            except Exception as e:  # noqa: BLE001 - collected for the assertion
                errors.append(e)

    threads = [threading.Thread(target=start) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and list((tmp_path / "data").iterdir()) == []
