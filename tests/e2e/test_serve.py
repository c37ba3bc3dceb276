"""`python main.py serve` as a person starts it: every path mounted, jobs behind the token."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path

import pytest

from functions.server import Scheduler, next_daily, next_hourly, next_sweep
from tests.fakes.clock import WIB, FakeClock

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(cli_env):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "main.py", "serve", "--port", str(port), "--no-scheduler"],
                            cwd=ROOT, env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(base + "/healthz", timeout=1)
            break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail(proc.stdout.read().decode())
    yield base
    proc.terminate()
    proc.wait(timeout=10)


def request(url, method="GET", token=None):
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


@pytest.mark.parametrize("path,target", [
    ("/meta/healthz", "meta_webhook"), ("/form/healthz", "web_form"), ("/open311/healthz", "open311"),
    ("/monitoring/healthz", "monitoring_intake"), ("/jobs/sweep/healthz", "sweep"),
    ("/jobs/daily/healthz", "daily_digest"), ("/jobs/media/healthz", "media_monitor"),
])
def test_every_target_is_mounted_under_its_path(server, path, target):
    status, body = request(server + path)
    assert status == 200 and json.loads(body)["function"] == target


def test_jobs_need_the_admin_token_over_http(server):
    assert request(server + "/jobs/sweep", "POST")[0] == 401
    status, body = request(server + "/jobs/sweep", "POST", token="test-admin-token")
    assert status == 200 and json.loads(body)["summary"].startswith("sweep:")
    status, body = request(server + "/jobs/daily?dry_run=1", "POST", token="test-admin-token")
    assert status == 200 and json.loads(body)["dry_run"] is True


@pytest.mark.parametrize("now,expected", [
    (datetime(2026, 11, 2, 8, 7, 30, tzinfo=WIB), datetime(2026, 11, 2, 8, 15, tzinfo=WIB)),
    (datetime(2026, 11, 2, 8, 45, tzinfo=WIB), datetime(2026, 11, 2, 9, 0, tzinfo=WIB)),
])
def test_sweep_runs_on_the_quarter_hour(now, expected):
    assert next_sweep(now) == expected


def test_daily_runs_at_seven_wib_and_media_hourly():
    assert next_daily(datetime(2026, 11, 2, 6, 59, tzinfo=WIB)) == datetime(2026, 11, 2, 7, 0, tzinfo=WIB)
    assert next_daily(datetime(2026, 11, 2, 7, 0, tzinfo=WIB)) == datetime(2026, 11, 3, 7, 0, tzinfo=WIB)
    assert next_hourly(datetime(2026, 11, 2, 7, 30, tzinfo=WIB)) == datetime(2026, 11, 2, 8, 0, tzinfo=WIB)


class _Svc:
    def __init__(self, clock):
        self.now = clock


class _Report:
    def summary(self):
        return "ok"


def test_scheduler_runs_due_jobs_and_survives_a_failing_one():
    clock = FakeClock(datetime(2026, 11, 2, 7, 0, tzinfo=WIB))
    ran = []

    def good(svc):
        ran.append(svc.now())
        return _Report()

    def bad(svc):
        raise RuntimeError("boom")

    scheduler = Scheduler(_Svc(clock), [("bad", lambda now: now, bad), ("good", lambda now: now, good)])
    scheduler.start()
    deadline = time.monotonic() + 10
    while not ran and time.monotonic() < deadline:
        time.sleep(0.05)
    scheduler.stop.set()
    scheduler.join(timeout=5)
    assert ran, "the good job must run even though another job failed"
