"""The load client: a burst of signed WhatsApp webhooks to /meta, redelivered like Meta does.

Run as its own process (`python -m tests.reliability.load_client --url http://127.0.0.1:PORT
--count 1000 --seconds 60`): message i is first sent at start + seconds * i / count; a delivery
that does not get a 200 (error status, timeout, refused connection) is sent again after a
backoff (2, 4, 8 ... s, at most `--max-wait`), until `--deadline` seconds after the start.
Prints one JSON object: outcomes, latency percentiles, throughput, and the tickets received.
Only 127.0.0.1 is allowed.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TEXTS = ["Jalan di desa kami rusak parah dan berlubang, mohon segera diperbaiki",
         "Sampah menumpuk di depan pasar sudah seminggu tidak diangkut",
         "Lampu jalan PJU mati di Jalan Gajah Mada, gelap sekali malam hari",
         "Air PDAM tidak mengalir tiga hari di Kelurahan Sampit",
         "Puskesmas tutup siang hari, warga tidak dilayani"]


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)
    return {"p50": round(statistics.median(ordered), 1), "p90": at(0.90), "p95": at(0.95), "p99": at(0.99),
            "max": round(ordered[-1], 1)}


def run(url: str, count: int, seconds: float, *, deadline: float, max_wait: float, timeout: float,
        secret: str, workers: int, gets_count: int = 0, gets_workers: int = 40) -> dict:
    import requests

    from functions import tickets
    from tests.fakes import meta_payloads as mp

    if urlsplit(url).hostname not in {"127.0.0.1", "localhost"}:
        raise SystemExit("the load client sends to loopback only")
    now = datetime.now(timezone.utc)
    wib = now.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Jakarta"))
    lock = threading.Lock()
    statuses: Counter[str] = Counter()
    latencies: list[float] = []
    accepted_latency: list[float] = []
    results: dict[str, dict] = {}
    local = threading.local()
    start = time.monotonic() + 0.5

    def session():
        if not hasattr(local, "s"):
            local.s = requests.Session()
        return local.s

    def deliver(i: int) -> None:
        sender = f"62857{i:08d}"
        message = mp.wa_text(f"{TEXTS[i % len(TEXTS)]} (laporan {i})", sender=sender, at=now,
                             message_id=f"wamid.LOAD{i:08d}{int(now.timestamp())}")
        body, headers = mp.signed(mp.whatsapp([message]), secret)
        expected = tickets.make_ticket("KMC", wib, message["id"])
        due = start + seconds * i / count
        attempts, wait, first_sent = 0, 2.0, None
        while True:
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            attempts += 1
            t0 = time.monotonic()
            first_sent = first_sent or t0
            try:
                reply = session().post(url + "/meta", data=body, headers=headers, timeout=timeout)
                status, got = str(reply.status_code), reply
            except requests.RequestException as e:
                status, got = type(e).__name__, None
            took = (time.monotonic() - t0) * 1000
            with lock:
                statuses[status] += 1
                latencies.append(took)
            if status == "200":
                ticket = (got.json().get("tickets") or [""])[0]
                with lock:
                    accepted_latency.append(took)
                    results[sender] = {"ticket": ticket, "expected": expected, "attempts": attempts,
                                       "accepted_after_s": round(time.monotonic() - first_sent, 2),
                                       "done_at": time.monotonic() - start}
                return
            if time.monotonic() - start > deadline:
                with lock:
                    results[sender] = {"ticket": "", "expected": expected, "attempts": attempts,
                                       "gave_up": status}
                return
            due = time.monotonic() + wait  # Meta redelivers later, less and less often
            wait = min(wait * 2, max_wait)

    get_latency: list[float] = []
    get_status: Counter[str] = Counter()

    def open311_list(_: int) -> None:
        pause = start - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        t0 = time.monotonic()
        try:
            status = str(session().get(url + "/open311/v2/requests.json", timeout=timeout).status_code)
        except requests.RequestException as e:
            status = type(e).__name__
        with lock:
            get_status[status] += 1
            get_latency.append((time.monotonic() - t0) * 1000)

    with ThreadPoolExecutor(max_workers=workers) as pool, ThreadPoolExecutor(max_workers=max(1, gets_workers)) as gets:
        for i in range(gets_count):
            gets.submit(open311_list, i)
        for i in range(count):
            pool.submit(deliver, i)
    done = [r for r in results.values() if r.get("ticket")]
    drained = max((r["done_at"] for r in done), default=0.0)
    return {
        "count": count, "seconds": seconds, "accepted": len(done),
        "attempts": sum(r["attempts"] for r in results.values()),
        "redelivered": sum(1 for r in results.values() if r["attempts"] > 1),
        "statuses": dict(statuses),
        "latency_ms": percentiles(latencies), "accepted_latency_ms": percentiles(accepted_latency),
        "drained_s": round(drained, 1), "throughput_per_s": round(len(done) / drained, 1) if drained else 0.0,
        "mismatched": sum(1 for r in done if r["ticket"] != r["expected"]),
        "first_attempt_ok": sum(1 for r in done if r["attempts"] == 1),
        "open311_gets": dict(get_status), "open311_latency_ms": percentiles(get_latency),
        "results": results,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--deadline", type=float, default=240.0, help="stop redelivering after this many seconds")
    parser.add_argument("--max-wait", type=float, default=20.0)
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds before a delivery counts as failed")
    parser.add_argument("--workers", type=int, default=400)
    parser.add_argument("--secret", default="test-app-secret")
    parser.add_argument("--open311-gets", type=int, default=0, help="anonymous Open311 list GETs alongside")
    parser.add_argument("--open311-workers", type=int, default=40)
    args = parser.parse_args(argv)
    out = run(args.url.rstrip("/"), args.count, args.seconds, deadline=args.deadline, max_wait=args.max_wait,
              timeout=args.timeout, secret=args.secret, workers=args.workers, gets_count=args.open311_gets,
              gets_workers=args.open311_workers)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
