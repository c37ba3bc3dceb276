"""The load scenario, shared by tests/reliability/test_load.py and `scripts/bench.py load`.

Three processes on loopback: this one runs the fake Sheets API (a write quota of 60 requests per
minute, Google's per-user limit) as an HTTP server; `python main.py serve` runs against it with
KMC_BACKEND=google and SHEETS_EMULATOR_HOST; `tests/reliability/load_client.py` sends the burst
and redelivers like Meta. Afterwards the sheets themselves are read: every message must be there
exactly once, and each citizen acknowledged at most once.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SECRET = "test-app-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(data: Path, host: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("KMC_", "SMTP_", "WHATSAPP_", "DIGEST_", "META_", "SHEETS_"))}
    env.update({
        "PYTHONPATH": str(ROOT), "KMC_BACKEND": "google", "KMC_SPREADSHEET_ID": "kmc-aduan",
        "KMC_CONTACTS_SPREADSHEET_ID": "kmc-kontak", "SHEETS_EMULATOR_HOST": host, "KMC_DATA_DIR": str(data),
        "WHATSAPP_APP_SECRET": SECRET, "WHATSAPP_PHONE_NUMBER_ID": "106540352242922",
        "KMC_ADMIN_TOKEN": "test-admin-token", "KMC_SERVICE_ACCOUNT": "kmc@load.iam.gserviceaccount.com",
    })
    return env


def run_burst(count: int, seconds: float, tmp: Path, *, quota: int = 60, deadline: float = 300.0,
              connections: int = 400, outage: tuple[float, float] | None = None, open311_gets: int = 0,
              store_within: float = 300.0) -> dict:
    """Serve under a burst of `count` webhooks spread over `seconds` from at most `connections`
    concurrent connections; returns figures and checks. `outage` = (start, seconds): the Sheets
    API answers 503 to everything in that window (from the burst's start). `open311_gets`
    anonymous Open311 list GETs run alongside. Waits up to `store_within` seconds from the start
    for every message to be stored (the doors answer before storing)."""
    import logging

    from tests.fakes.fake_sheets import FakeSheets, WRITE_KINDS

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the fake's access log is not a figure
    fake = FakeSheets(write_quota_per_minute=quota)
    fake.create("KMC Aduan", "kmc-aduan")
    fake.create("KMC Aduan Kontak", "kmc-kontak")
    data = tmp / "data"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp / "serve.log"
    with fake.serve() as host, open(log_path, "wb") as serve_log:
        env = _env(data, host)
        proc = subprocess.Popen([sys.executable, "main.py", "serve", "--host", "127.0.0.1", "--port", str(port),
                                 "--no-scheduler"], cwd=ROOT, env=env, stdout=serve_log, stderr=subprocess.STDOUT)
        try:
            _wait_healthy(base, proc, log_path)
            with fake.lock:  # the workbook was set up long ago: the burst starts with a fresh quota
                fake.reset_counts()
                fake._writes.clear()
            started = time.monotonic()
            breaker = _outage(fake, outage) if outage else None
            client = subprocess.run(
                [sys.executable, "-m", "tests.reliability.load_client", "--url", base, "--count", str(count),
                 "--seconds", str(seconds), "--deadline", str(deadline), "--secret", SECRET,
                 "--workers", str(connections), "--open311-gets", str(open311_gets)],
                cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                timeout=deadline + 120)
            wall = time.monotonic() - started
            if client.returncode != 0:
                raise RuntimeError(client.stderr[-3000:])
            out = json.loads(client.stdout.strip().splitlines()[-1])
            expected_now = {r["expected"] for r in out["results"].values()}
            while time.monotonic() - started < store_within and not expected_now <= set(_tickets(fake)):
                time.sleep(1.0)  # the writer drains the queue at the pace of the Sheets quota
            stored_s = time.monotonic() - started
            if breaker is not None:
                breaker.join()
            counts = dict(fake.counts)
            rejected = dict(fake.rejected)
            by_sheet = Counter((r.spreadsheet_id, "write" if r.kind in WRITE_KINDS else "read")
                               for r in fake.requests if r.status == 200)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        stored = _tickets(fake)
        contacts = [str(r[0]) for r in fake.values("kmc-kontak", "Kontak")[1:] if r]
    acks = Counter()
    outbox = data / "outbox" / "whatsapp.jsonl"
    if outbox.exists():
        for line in outbox.read_text().splitlines():
            sent = json.loads(line)
            if "Nomor tiket:" in str(sent.get("text", "")):
                acks[sent["to"]] += 1
    expected = {r["expected"] for r in out["results"].values()}
    writes = sum(n for k, n in counts.items() if k in WRITE_KINDS)
    reads = sum(n for k, n in counts.items() if k not in WRITE_KINDS)
    return {
        **{k: v for k, v in out.items() if k != "results"},
        "wall_s": round(wall, 1),
        "stored": len(stored), "stored_unique": len(set(stored)),
        "exactly_once": sorted(stored) == sorted(expected),
        "missing": sorted(expected - set(stored))[:10], "extra": sorted(set(stored) - expected)[:10],
        "contacts_missing": len(expected - set(contacts)),
        "acks_max": max(acks.values(), default=0), "acked": len(acks),
        "write_requests": writes, "read_requests": reads, "requests": dict(sorted(counts.items())),
        "opd_writes": by_sheet[("kmc-aduan", "write")], "contact_writes": by_sheet[("kmc-kontak", "write")],
        "writes_per_complaint": round(writes / max(count, 1), 3),
        "requests_per_complaint": round((writes + reads) / max(count, 1), 3),
        "rejected": rejected, "serve_log": str(log_path),
        "all_stored_s": round(stored_s, 1),
        "snapshot_refreshes": log_path.read_text(errors="replace").count('"public snapshot refreshed"'),
        "outage_503s": rejected.get(503, 0),
    }


def _outage(fake, window: tuple[float, float]):
    """A thread: from `start` s the fake answers 503 to every request, for `seconds` s."""
    import threading

    start, seconds = window

    def run():
        time.sleep(start)
        with fake.lock:
            fake.inject("503", times=10 ** 9)
        time.sleep(seconds)
        with fake.lock:
            fake.faults.clear()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _wait_healthy(base: str, proc: subprocess.Popen, log_path: Path) -> None:
    import requests

    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(base + "/healthz", timeout=2).ok:
                return
        except requests.RequestException:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("serve did not start:\n" + log_path.read_text(errors="replace")[-3000:])
        time.sleep(0.2)


def _tickets(fake) -> list[str]:
    from functions.schema import load_schema

    out = []
    for opd in load_schema().opds:
        try:
            values = fake.values("kmc-aduan", opd.title)
        except Exception:  # noqa: BLE001 - a tab that does not exist holds nothing
            continue
        out += [str(r[0]) for r in values[1:] if r and str(r[0]).strip()]
    return out
