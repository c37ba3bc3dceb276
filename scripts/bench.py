#!/usr/bin/env python
"""Benchmarks: measure and print figures (never assert). `python scripts/bench.py [SECTION...]`.

Each section is a function registered with @section that returns rows of
(metric, value, target); `main()` runs the selected sections (all by default) and prints one
table. Sections that need a fresh interpreter (import time, peak memory) run a subprocess.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

Row = tuple[str, str, str]  # metric, value, target
SECTIONS: dict[str, Callable[[], list[Row]]] = {}


def section(name: str):
    def register(fn):
        SECTIONS[name] = fn
        return fn

    return register


def run_python(code: str, env: dict | None = None) -> dict:
    """Run `code` in a fresh interpreter; it must print one JSON object as its last line."""
    import os

    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, **(env or {})}, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-2000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


COLD_START = """
import json, resource, sys, time, os
t0 = time.perf_counter()
import main
import importlib
from functions.handlers import TARGETS
module = TARGETS[{target!r}][1].partition(":")[0]
try:
    importlib.import_module(module)
except ImportError:
    pass
import_ms = (time.perf_counter() - t0) * 1000
from datetime import datetime, timezone
from functions.bootstrap import services
from functions.model import Channel, Complaint, Contact
from functions.services.intake import intake
svc = services()
svc.workbook.bootstrap()
t1 = time.perf_counter()
if {intake!r}:
    intake(svc, Complaint("jalan di desa kami rusak parah dan berlubang, mohon diperbaiki", Channel.WHATSAPP,
                          datetime.now(timezone.utc).astimezone(svc.settings.tz),
                          Contact("Budi", "081234567890", "6281234567890"), source_id="bench-1"))
first_ms = (time.perf_counter() - t1) * 1000
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
heavy = sorted(m for m in ("pandas", "matplotlib", "openpyxl", "numpy", "PIL") if m in sys.modules)
print(json.dumps(dict(import_ms=import_ms, first_ms=first_ms, peak_mib=peak, heavy=heavy)))
"""

INTAKE_TARGETS = ["meta_webhook", "web_form", "open311", "monitoring_intake"]
JOB_TARGETS = ["intake_worker", "sweep", "daily_digest", "media_monitor"]


@section("cold_start")
def bench_cold_start() -> list[Row]:
    """Import time of each target (main.py + its handler module) and peak RSS after one complaint."""
    rows: list[Row] = []
    for target in INTAKE_TARGETS + JOB_TARGETS:
        with tempfile.TemporaryDirectory() as data:
            intake = target in INTAKE_TARGETS
            best = None
            for _ in range(3):  # best of three: the import time floor, not disk-cache noise
                r = run_python(COLD_START.format(target=target, intake=intake), {"KMC_DATA_DIR": data,
                                                                                 "KMC_BACKEND": "local"})
                best = r if best is None or r["import_ms"] < best["import_ms"] else best
        limit = "256 MiB" if intake else ("512 MiB" if target == "daily_digest" else "256 MiB")
        rows.append((f"{target}: import", f"{best['import_ms']:.0f} ms", "< 300 ms" if intake else "-"))
        if intake:
            rows.append((f"{target}: first complaint (router+sentiment load)", f"{best['first_ms']:.0f} ms", "-"))
        rows.append((f"{target}: peak RSS", f"{best['peak_mib']:.0f} MiB", f"< {limit}"))
        rows.append((f"{target}: heavy modules loaded", ", ".join(best["heavy"]) or "none",
                     "none" if intake else "-"))
    return rows


# -- daily job (issue 7): 30 OPD tabs x 3,000 rows -------------------------------------------------

DAILY_FILL = """
import json, sys, time
from datetime import datetime, timedelta
from pathlib import Path
sys.path.insert(0, {root!r})
from scripts.bench import daily_rows
from functions.schema import load_schema
from functions.stores.local import LocalWorkbook
t = time.perf_counter()
schema = load_schema()
wb = LocalWorkbook(Path({data!r}) / "workbook.sqlite", schema)
wb.bootstrap()
wb.append(daily_rows(schema, {tabs}, {rows}, datetime.fromisoformat({now!r})))
print(json.dumps(dict(fill_s=time.perf_counter() - t)))
"""

DAILY_RUN = """
import json, resource, sys, time
from collections import Counter
from datetime import datetime
sys.path.insert(0, {root!r})
from functions.bootstrap import build
from functions.config import Settings
from functions.schema import load_schema
from functions.services.jobs import daily_job
now = datetime.fromisoformat({now!r})
settings = Settings.from_env(dict(KMC_DATA_DIR={data!r}, DIGEST_TO="bupati@ketapangkab.go.id"))
schema = load_schema()
if {store!r} == "memory":
    from scripts.bench import daily_rows
    from tests.fakes.memory_workbook import MemoryWorkbook
    wb = MemoryWorkbook(schema)
    wb.bootstrap()
    wb.append(daily_rows(schema, {tabs}, {rows}, now))
    wb.requests.clear()
    counter = wb.requests
else:
    from functions.stores.local import LocalWorkbook
    from pathlib import Path
    counter = Counter()
    class Counting:
        def __init__(self, inner):
            self.inner = inner
        def __getattr__(self, name):
            attr = getattr(self.inner, name)
            if not callable(attr):
                return attr
            def call(*a, **k):
                counter[name] += 1
                return attr(*a, **k)
            return call
    wb = Counting(LocalWorkbook(Path({data!r}) / "workbook.sqlite", schema))
rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
svc = build(settings, schema=schema, workbook=wb, clock=lambda: now)
cpu = time.process_time()
wall = time.perf_counter()
report = daily_job(svc, now)
cpu = time.process_time() - cpu
wall = time.perf_counter() - wall
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(dict(cpu_s=cpu, wall_s=wall, requests=sum(counter.values()), detail=dict(counter),
                      email_kb=report.email_bytes / 1024, rss_before=rss_before, peak_mib=peak,
                      learning_cpu_s=report.learning_cpu_s,
                      overdue=len(report.marked_overdue), monthly=report.monthly)))
"""


def daily_rows(schema, tabs: int, rows: int, now):
    """`tabs` x `rows` realistic cases over the last 60 days: answered on time or late, overdue,
    running, a few forwarded and a few negative media items; ~250 characters of text each."""
    import random
    from datetime import timedelta

    from functions.stores.port import NewCase

    rng = random.Random(7)
    keys = [o.key for o in schema.opds][:tabs]
    text = ("Jalan di desa kami rusak parah dan berlubang sejak musim hujan, motor sering jatuh dan anak "
            "sekolah kesulitan lewat. Mohon segera diperbaiki oleh dinas terkait, terima kasih. ")
    out = []
    for i in range(tabs * rows):
        received = now - timedelta(minutes=rng.randrange(60 * 24 * 60))
        due = received + timedelta(hours=48)
        roll = rng.random()
        responded = None
        state = "Berjalan"
        if roll < 0.55:
            responded, state = received + timedelta(hours=rng.uniform(1, 47)), "Tepat Waktu"
        elif roll < 0.75:
            responded, state = due + timedelta(hours=rng.uniform(1, 72)), "Terlambat Ditanggapi"
        if responded is not None and responded > now:
            responded, state = None, "Berjalan"
        if responded is None and due < now - timedelta(hours=24):
            state = "Terlambat"  # steady state: earlier runs marked these; this run marks the last day's
        media = i % 97 == 0
        row = {
            "ticket_id": f"KMC-{received:%y%m%d}-{i:06d}", "received_at": received,
            "channel": "Media Massa" if media else "WhatsApp", "reporter": "Warga", "contact": "0813****3222",
            "text": text + str(i), "location": "Kecamatan Delta Pawan", "link": "https://berita.test/x" if media else "",
            "category": "Jalan rusak", "sentiment": "Negatif", "status": "Selesai" if responded else "Baru",
            "response": "Sudah ditindaklanjuti oleh tim lapangan." if responded else "", "responder": "Petugas",
            "forward_to": "", "deadline": due, "responded_at": responded, "sla": state, "reply_sent_at": responded,
            "note": "",
        }
        if i % 50 == 0:
            row["forwarded_at"] = received + timedelta(hours=2)
            row["forward_history"] = f"{received + timedelta(hours=2):%Y-%m-%d %H:%M} TRIASE → {keys[i % tabs]}"
        out.append(NewCase(keys[i % tabs], row))
    return out


@section("routing")
def bench_routing_section() -> list[Row]:
    """Routing table and detector load, routing + sentiment of one complaint, and quality on the dev sets."""
    from functions.routing import load_rules
    from functions.services.evaluation import TARGET_COMPLAINT_MS, TARGET_LOAD_MS, bench_routing

    b = bench_routing()
    rows: list[Row] = [
        ("routing table load", f"{b['rules_load_ms']:.0f} ms (CPU {b['rules_load_cpu_ms']:.0f} ms)",
         f"< {TARGET_LOAD_MS:.0f} ms"),
        ("sentiment detector load", f"{b['sentiment_load_ms']:.0f} ms", "< 1000 ms"),
        ("route + sentiment, median / p95", f"{b['complaint_median_ms']:.2f} / {b['complaint_p95_ms']:.2f} ms",
         f"< {TARGET_COMPLAINT_MS:.0f} ms"),
    ]
    rules = load_rules()
    from functions.services.evaluation import evaluate_routing, read_labelled

    for path in sorted((ROOT / "tests" / "data").glob("routing-holdout*.csv")):
        report = evaluate_routing(read_labelled(path, "opd"), rules)
        rows.append((f"{path.name}: accuracy on routed / coverage",
                     f"{report.routed_accuracy * 100:.1f} % / {report.coverage * 100:.1f} %", ">= 90 % / >= 80 %"))
    return rows


@section("daily")
def bench_daily(tabs: int = 30, rows: int = 3000) -> list[Row]:
    """The daily job over 30 OPD tabs x 3,000 rows on the local store and on the in-memory fake:
    CPU seconds, store requests, email size and peak memory, on an ordinary day and on the 1st
    (with the monthly evaluation)."""
    from functions.schema import load_schema

    tabs = min(tabs, len(load_schema().opds))
    rows_out: list[Row] = []
    ordinary, first = "2026-11-20T07:00:00+07:00", "2026-12-01T07:00:00+07:00"
    with tempfile.TemporaryDirectory() as data:
        fill = run_python(DAILY_FILL.format(root=str(ROOT), data=data, tabs=tabs, rows=rows, now=ordinary))
        rows_out.append((f"local store: fill {tabs} x {rows} rows", f"{fill['fill_s']:.1f} s", "-"))
        for store in ("local", "memory"):
            for label, now in (("ordinary day", ordinary), ("1st of month", first)):
                r = run_python(DAILY_RUN.format(root=str(ROOT), data=data, tabs=tabs, rows=rows, now=now,
                                                store=store))
                name = f"{store}, {label}"
                rows_out += [
                    (f"{name}: CPU without the routing-learning step",
                     f"{r['cpu_s'] - r['learning_cpu_s']:.2f} s (wall {r['wall_s']:.2f} s in all)", "< 5 s"),
                    (f"{name}: CPU of the routing-learning step (issue 18, trains on the newest 12,000)",
                     f"{r['learning_cpu_s']:.2f} s", "< 540 s timeout at 1/3 vCPU"),
                    (f"{name}: store requests", f"{r['requests']} {r['detail']}", "constant"),
                    (f"{name}: digest email", f"{r['email_kb']:.0f} KB", "< 1 MB"),
                    (f"{name}: peak RSS", f"{r['peak_mib']:.0f} MiB (data loaded: {r['rss_before']:.0f} MiB)",
                     "< 512 MiB"),
                ]
    return rows_out


# -- Google Sheets backend (issue 3): requests against the fake Sheets API, in-process ---------------

def _sheets_env(vt=None, **fake_kw):
    """A fake Sheets API behind `responses` + a GoogleWorkbook/ContactBook factory on it."""
    import contextlib

    import requests
    import responses

    from functions.schema import load_schema
    from functions.stores.google import GoogleContactBook, GoogleWorkbook
    from functions.stores.google.http import SheetsHTTPClient
    from tests.fakes.fake_sheets import FakeSheets, VirtualTime

    vt = vt or VirtualTime()
    fake = FakeSheets(clock=vt.clock, **fake_kw)
    schema = load_schema()
    sid, cid = fake.create("KMC Aduan"), fake.create("KMC Aduan Kontak")

    def client(**kw):
        return SheetsHTTPClient(requests.Session, clock=vt.clock, sleep=vt.sleep,
                                service_account_email="kmc@bench.iam.gserviceaccount.com", **kw)

    def books(c=None, **kw):
        c = c or client()
        return (GoogleWorkbook(c, sid, schema, clock=vt.clock, sleep=vt.sleep, **kw),
                GoogleContactBook(c, cid, clock=vt.clock, sleep=vt.sleep))

    stack = contextlib.ExitStack()
    rsps = stack.enter_context(responses.RequestsMock(assert_all_requests_are_fired=False))
    fake.install(rsps)
    return stack, fake, schema, sid, cid, client, books


def _intake_case(schema, i: int, now):
    from functions.model import Contact
    from functions.stores.port import ContactRecord, NewCase

    ticket = f"KMC-{now:%y%m%d}-{i:05d}"
    opd = schema.opds[1 + i % (len(schema.opds) - 2)].key
    row = {"ticket_id": ticket, "received_at": now, "channel": "WhatsApp", "reporter": "Warga",
           "contact": "0813****3222", "text": f"Lampu jalan mati sudah seminggu ({i})", "status": "Baru",
           "sla": "Berjalan", "deadline": now}
    return ticket, NewCase(opd, row), ContactRecord(ticket, "WhatsApp", Contact("Warga", "081328383222", "6281328383222"), now)


def _intake(wb, contacts, schema, i, now) -> bool:
    """What intake does per complaint: redelivery check, contact record, OPD row."""
    ticket, case, record = _intake_case(schema, i, now)
    if wb.find(ticket) is not None:
        return False
    contacts.put(record)
    return wb.append([case])[0]


def _count(fake, sid):
    from tests.fakes.fake_sheets import WRITE_KINDS

    w = sum(1 for r in fake.requests if r.spreadsheet_id == sid and r.kind in WRITE_KINDS and r.status == 200)
    rd = sum(1 for r in fake.requests if r.spreadsheet_id == sid and r.kind not in WRITE_KINDS and r.status == 200)
    meta = sum(1 for r in fake.requests if r.spreadsheet_id == sid and r.kind == "spreadsheets.get")
    return w, rd, meta


@section("sheets")
def bench_sheets(tabs: int = 30, rows: int = 3000, burst: int = 1000) -> list[Row]:
    """Google Sheets backend on the fake Sheets API: intake, sweep, daily and a burst, and the
    obvious approach (one append_row per complaint, update_cell per overdue row) for comparison."""
    out: list[Row] = []
    out += _bench_sheets_intake()
    out += _bench_sheets_jobs(tabs, rows)
    out += _bench_sheets_burst(burst)
    return out


def _bench_sheets_intake(n: int = 100) -> list[Row]:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    now = datetime(2026, 11, 20, 9, 0, tzinfo=ZoneInfo("Asia/Jakarta"))
    stack, fake, schema, sid, cid, client, books = _sheets_env()
    with stack:
        setup, _ = books()
        setup.bootstrap()
        wb, contacts = books()
        _intake(wb, contacts, schema, 0, now)  # the instance's first complaint warms it up
        fake.reset_counts()
        for i in range(1, n + 1):
            _intake(wb, contacts, schema, i, now)
            wb.sleep(30)  # steady traffic: a complaint every 30 s
        w, r, meta = _count(fake, sid)
        cw, cr, cmeta = _count(fake, cid)
        fake.reset_counts()
        again = sum(_intake(wb, contacts, schema, i, now) for i in range(1, 21))  # Meta redelivers 20
        rw, _, _ = _count(fake, sid)
        return [
            ("intake (warm): OPD sheet writes / complaint", f"{w / n:.2f}", "<= 1"),
            ("intake (warm): contact sheet writes / complaint", f"{cw / n:.2f}", "<= 1"),
            ("intake (warm): metadata reads", f"{meta + cmeta}", "0"),
            ("intake (warm): reads / complaint (redelivery check, ticket column)", f"{(r + cr) / n:.2f}", "bounded"),
            ("intake: 20 redeliveries -> new rows / writes", f"{again} / {rw}", "0 / 0"),
        ]


def _bench_sheets_jobs(tabs: int, rows: int) -> list[Row]:
    import time
    import tracemalloc
    from datetime import datetime

    from functions.bootstrap import build
    from functions.config import Settings
    from functions.services.jobs import daily_job, sweep_job

    now = datetime.fromisoformat("2026-11-20T07:00:00+07:00")
    out: list[Row] = []
    stack, fake, schema, sid, cid, client, books = _sheets_env()
    with stack, tempfile.TemporaryDirectory() as data:
        tabs = min(tabs, len(schema.opds))
        filler, filler_contacts = books(client(writes_per_minute=1e6, reads_per_minute=1e6, burst=1e6))
        filler.bootstrap()
        cases = daily_rows(schema, tabs, rows, now)
        t = time.perf_counter()
        for i in range(0, len(cases), 3000):
            filler.append(cases[i:i + 3000])
        out.append((f"fill {tabs} x {rows} rows into the fake", f"{time.perf_counter() - t:.0f} s", "-"))
        # The sweep's usual work: 30 fresh staff answers to stamp and send (and, some sweeps a day,
        # forwards to move: a forward costs one more write and check, deletes go only at the
        # positions of a fresh read).
        from functions.model import Contact
        from functions.stores.port import CellUpdate, ContactRecord

        waiting = [c for c in cases if not c.row["response"] and c.row["deadline"] > now][:63]

        def answers(batch):
            filler.update([CellUpdate(c.row["ticket_id"], {"status": "Selesai", "response": "Sudah diperbaiki."})
                           for c in batch], staff=True)
            for k, c in enumerate(batch):  # the citizens to answer on WhatsApp
                filler_contacts.put(ContactRecord(c.row["ticket_id"], "WhatsApp",
                                                  Contact("Warga", f"0813{k:08d}", f"62813{k:08d}"),
                                                  c.row["received_at"]))

        def forwards(batch):
            filler.update([CellUpdate(c.row["ticket_id"], {"forward_to": "DLH" if c.tab != "DLH" else "PUTR"})
                           for c in batch], staff=True)

        settings = Settings.from_env({"KMC_BACKEND": "google", "KMC_SPREADSHEET_ID": sid,
                                      "KMC_CONTACTS_SPREADSHEET_ID": cid, "KMC_DATA_DIR": data,
                                      "DIGEST_TO": "bupati@ketapangkab.go.id"})
        ours: dict[str, int] = {}
        # 5 = the overlap lease's claim + 4; a forward adds its second commit step (deletes at the
        # positions of a fresh read: write + check); the first daily creates the Model Rute tab
        # (metadata read + addSheet), later ones write the model in one request
        # (docs/deploy.md "Sheets requests per scheduled job")
        from datetime import timedelta

        runs = [("sweep", " (30 answers)", lambda: answers(waiting[:30]), sweep_job, "<= 5, constant", now),
                ("sweep", " (30 answers, 3 forwards)", lambda: (answers(waiting[30:60]), forwards(waiting[60:])),
                 sweep_job, "<= 7, constant", now),
                ("daily", " (first: creates the model tab)", lambda: None, daily_job, "<= 8, constant", now),
                ("daily", " (next day)", lambda: None, daily_job, "<= 6, constant", now + timedelta(days=1))]
        for name, label, prepare, job, target, at in runs:
            prepare()
            wb, contacts = books()  # a cold instance, as Cloud Scheduler starts one
            svc = build(settings, schema=schema, workbook=wb, contacts=contacts, clock=lambda: at)
            fake.reset_counts()
            tracemalloc.start()
            t = time.perf_counter()
            job(svc, at)
            took = time.perf_counter() - t
            peak = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
            detail = {k: v for k, v in sorted(fake.counts.items())}
            ours.setdefault(name, sum(detail.values()))  # the first daily is the one compared
            out.append((f"{name} at {tabs} x {rows}{label}, cold instance: Sheets requests",
                        f"{sum(detail.values())} {detail} in {took:.1f} s", target))
            # Python allocations during the job, the in-process fake's JSON answers included
            # (an upper bound for the function: the real API's answers arrive as bytes).
            out.append((f"{name}{label} on the Sheets adapter: peak traced memory (job + fake)", f"{peak:.0f} MiB",
                        "< 512" if name == "daily" else "-"))
        # The obvious approach on the same data: read everything, then update_cell per overdue row.
        overdue = sum(1 for c in cases if c.row["sla"] == "Berjalan" and c.row["responded_at"] is None
                      and c.row["deadline"] < now)
        naive_daily = 1 + tabs + overdue  # open_by_key + get_all_values per tab + one update_cell per row
        out.append(("naive daily (get_all_values per tab, update_cell per overdue row)",
                    f"{naive_daily} requests ({overdue} overdue rows)", "-"))
        out.append(("daily: naive / ours", f"{naive_daily / max(ours['daily'], 1):.0f}x", "-"))
    return out


def _bench_sheets_burst(n: int) -> list[Row]:
    """`n` complaints within one minute against 60 writes/min (and 60 reads/min), time compressed 10x."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor
    from datetime import datetime
    from zoneinfo import ZoneInfo

    import gspread

    from functions.model import StorageUnavailable

    scale = 10.0

    class ScaledTime:  # one "minute" lasts 6 real seconds for the fake quota, pacing and batching alike
        def __init__(self):
            self.t0 = time.monotonic()
            self.slept = 0.0

        def clock(self):
            return 1000 + (time.monotonic() - self.t0) * scale

        def sleep(self, s):
            time.sleep(max(0.0, s) / scale)

    st = ScaledTime()
    now = datetime(2026, 11, 20, 9, 0, tzinfo=ZoneInfo("Asia/Jakarta"))
    stack, fake, schema, sid, cid, client, books = _sheets_env(
        vt=st, write_quota_per_minute=60, read_quota_per_minute=60)
    out: list[Row] = []
    with stack:
        setup, _ = books()
        setup.bootstrap()
        wb, contacts = books()
        _intake(wb, contacts, schema, 0, now)
        fake.reset_counts()
        attempts, failures = [0], [0]
        lock = threading.Lock()

        def deliver(i: int, at: float) -> None:
            """Meta delivers at virtual time `at`; on a non-200 it redelivers 30 s later."""
            while True:
                wait = at - st.clock()
                if wait > 0:
                    st.sleep(wait)
                with lock:
                    attempts[0] += 1
                try:
                    _intake(wb, contacts, schema, i, now)
                    return
                except StorageUnavailable:
                    with lock:
                        failures[0] += 1
                    at = st.clock() + 30

        start = st.clock()
        with ThreadPoolExecutor(max_workers=200) as pool:
            for i in range(1, n + 1):
                pool.submit(deliver, i, start + 60.0 * i / n)
        drained = st.clock() - start
        w, r, _ = _count(fake, sid)
        cw, cr, _ = _count(fake, cid)
        landed = [t for o in schema.opds for t in (x[0] if x else "" for x in fake.values(sid, o.title)[1:]) if t]
        expected = {f"KMC-{now:%y%m%d}-{i:05d}" for i in range(0, n + 1)}
        exactly_once = len(landed) == len(set(landed)) and set(landed) == expected
        out += [
            (f"burst: {n} complaints in 1 min vs 60 writes/min", f"all landed exactly once: {exactly_once}", "True"),
            ("burst: write requests (OPD + contacts)", f"{w} + {cw} in {drained / 60:.1f} min", "<= 60/min"),
            ("burst: complaints per OPD write request", f"{n / max(w, 1):.1f}", "-"),
            ("burst: read requests (redelivery checks)", f"{r + cr}", "<= 60/min"),
            ("burst: 429 answers / webhook retries (Meta redelivered)", f"{fake.rejected[429]} / {failures[0]}", "-"),
        ]
        # The obvious approach, with real gspread code: one append_row per complaint, per sheet.
        fake.reset_counts()
        naive_fake_quota = fake.write_quota
        fake.write_quota = None
        c = client(writes_per_minute=1e6, reads_per_minute=1e6, burst=1e6)
        gc = gspread.Client.__new__(gspread.Client)
        gc.http_client = c
        ws = gc.open_by_key(sid).worksheet("PUTR")
        cs = gc.open_by_key(cid).worksheet("Kontak")
        sample = 50
        for i in range(sample):
            ws.append_row([f"NAIVE-{i}", "x"], value_input_option="RAW")
            cs.append_row([f"NAIVE-{i}", "x"], value_input_option="RAW")
        fake.write_quota = naive_fake_quota
        per = fake.write_requests / sample
        out += [
            ("naive burst: write requests per complaint (append_row x2)", f"{per:.0f} -> {per * n:.0f} for {n}",
             "-"),
            ("naive burst: minutes of quota needed at 60 writes/min", f"{per * n / 60:.0f} min", "1"),
            ("burst: naive / ours (write requests)", f"{per * n / max(w + cw, 1):.0f}x", "-"),
        ]
    return out


# -- reliability (issue 10): intake latency per target, the HTTP burst, naive routing ----------------

def _pcts(ms: list[float]) -> str:
    import statistics

    ordered = sorted(ms)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return f"p50 {statistics.median(ordered):.1f} / p95 {p95:.1f} ms"


def _intake_requests(svc, client, target: str, i: int):
    """One complaint through `target`'s HTTP handler: (method, path, kwargs) ready for the test client."""
    from tests.fakes import meta_payloads as mp

    now = svc.now()
    if target == "meta_webhook":
        body, headers = mp.signed(mp.whatsapp([mp.wa_text(
            f"Jalan di desa kami rusak parah dan berlubang, mohon diperbaiki ({i})", sender=f"62858{i:08d}",
            at=now, message_id=f"wamid.BENCH{i:08d}{int(now.timestamp())}")]))
        return "/meta", dict(data=body, headers=headers)
    if target == "web_form":
        import re

        remote = {"REMOTE_ADDR": f"10.9.{i // 250}.{i % 250 + 1}"}
        page = client.get("/form", environ_base=remote).get_data(as_text=True)
        hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page))
        return "/form", dict(data={**hidden, "isi": f"Lampu PJU di Jalan Gajah Mada mati dua minggu ({i})",
                                   "kecamatan": "Delta Pawan", "nama": "Warga", "setuju": "ya"},
                             environ_base=remote)
    if target == "open311":
        return "/open311/v2/requests.json", dict(data={
            "api_key": "bench-key", "service_code": "lainnya", "address_string": "Jl. Poros Sukabangun",
            "description": f"Sampah menumpuk di depan pasar sudah seminggu ({i})"})
    return "/monitoring", dict(json={"platform": "Facebook", "url": f"https://www.facebook.com/groups/x/posts/{i}/",
                                     "text": f"Banjir di Sandai, warga kecewa ({i})", "sentiment": "Netral"},
                               headers={"Authorization": "Bearer bench-admin"})


BENCH_ENV = {"WHATSAPP_APP_SECRET": "test-app-secret", "WHATSAPP_PHONE_NUMBER_ID": "106540352242922",
             "KMC_ADMIN_TOKEN": "bench-admin", "KMC_OPEN311_KEYS": "bench-key", "KMC_FORM_SECRET": "bench-form"}


def _time_target(make_svc, target: str, n: int, *, fresh: bool = False) -> list[float]:
    import time

    from functions.server import make_app

    svc = make_svc()
    client = make_app(svc).test_client()
    times = []
    for i in range(n + 3):
        if fresh:  # the naive handler: everything built per request, no instance caches
            from functions import routing, schema

            schema.load_schema.cache_clear()
            routing._load_rules.cache_clear()
            svc = make_svc()
            client = make_app(svc).test_client()
        path, kw = _intake_requests(svc, client, target, i + (10_000 if fresh else 0))
        t = time.perf_counter()
        reply = client.post(path, **kw)
        took = (time.perf_counter() - t) * 1000
        if reply.status_code not in (200, 201):
            raise RuntimeError(f"{target}: HTTP {reply.status_code} {reply.get_data(as_text=True)[:300]}")
        if i >= 3:  # the instance's first complaints load the router: cold_start reports those
            times.append(took)
    return times


@section("intake")
def bench_intake(n: int = 60) -> list[Row]:
    """One complaint through each intake target's HTTP handler on a warm instance: on the local
    store, and on the Google adapter over the in-process fake Sheets API (our CPU and request
    count; network round trips excluded). Naive: a handler that builds its services per request."""
    from functions.bootstrap import build
    from functions.config import Settings

    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as data:
        settings = Settings.from_env({"KMC_DATA_DIR": data, **BENCH_ENV})
        shared = build(settings)
        shared.workbook.bootstrap()
        for target in INTAKE_TARGETS:
            times = _time_target(lambda: shared, target, n)
            rows.append((f"{target}: one complaint, local store (warm)", _pcts(times), "< 300 ms"))
        naive = _time_target(lambda: build(settings), "meta_webhook", max(10, n // 4), fresh=True)
        warm = _time_target(lambda: shared, "meta_webhook", n)
        rows.append(("naive meta_webhook: services + rules built per request", _pcts(naive), "-"))
        rows.append(("meta_webhook: naive / ours (median)",
                     f"{sorted(naive)[len(naive) // 2] / sorted(warm)[len(warm) // 2]:.1f}x", "-"))

    stack, fake, schema, sid, cid, client, books = _sheets_env()
    with stack, tempfile.TemporaryDirectory() as data:
        settings = Settings.from_env({"KMC_DATA_DIR": data, "KMC_BACKEND": "google", "KMC_SPREADSHEET_ID": sid,
                                      "KMC_CONTACTS_SPREADSHEET_ID": cid, **BENCH_ENV})
        setup, _ = books()
        setup.bootstrap()
        wb, contacts = books()
        svc = build(settings, schema=schema, workbook=wb, contacts=contacts)
        for target in INTAKE_TARGETS:
            fake.reset_counts()
            times = _time_target(lambda: svc, target, n)
            per = sum(fake.counts.values()) / (n + 3)
            rows.append((f"{target}: one complaint, Google adapter on the fake (warm)",
                         f"{_pcts(times)}; {per:.1f} Sheets requests", "-"))
    return rows


@section("load")
def bench_load(count: int = 1000, seconds: float = 60.0) -> list[Row]:
    """`python main.py serve` (Google backend) against the fake Sheets API with 60 writes/min,
    under `count` signed webhooks in `seconds` from a second process that redelivers like Meta
    (tests/reliability/load.py; the same scenario as tests/reliability/test_load.py --long)."""
    import os

    from tests.reliability.load import run_burst

    count = int(os.environ.get("KMC_BENCH_BURST", count))
    with tempfile.TemporaryDirectory() as tmp:
        r = run_burst(count, seconds, Path(tmp))
    lat = r["latency_ms"]
    return [
        (f"HTTP burst: {count} webhooks in {seconds:.0f} s, 60 writes/min",
         f"{r['accepted']} accepted, stored exactly once: {r['exactly_once']}", "all, True"),
        ("HTTP burst: all stored, seconds after the first was sent", f"{r['drained_s']:.0f} s "
                                                                    f"({r['throughput_per_s']:.1f} /s)",
         f"{seconds:.0f} s of arrivals + latency"),
        ("HTTP burst: latency of a delivery", f"p50 {lat['p50'] / 1000:.1f} / p95 {lat['p95'] / 1000:.1f} / "
                                              f"p99 {lat['p99'] / 1000:.1f} / max {lat['max'] / 1000:.1f} s", "-"),
        ("HTTP burst: redelivered by the client (non-200)", f"{r['redelivered']} {r['statuses']}", "-"),
        ("HTTP burst: Sheets requests (writes OPD + contacts / reads)",
         f"{r['opd_writes']} + {r['contact_writes']} / {r['read_requests']}", "<= 60 writes/min"),
        ("HTTP burst: Sheets requests per complaint", f"{r['requests_per_complaint']:.3f}", "<= 2"),
        ("HTTP burst: citizens acknowledged / most acks to one", f"{r['acked']} / {r['acks_max']}", f"{count} / 1"),
    ]


@section("burst")
def bench_burst() -> list[Row]:
    """Issue 14: doors that answer in milliseconds. `serve` (Google backend, its local intake queue)
    against the fake Sheets API at 60 writes/min: 200 signed webhooks at once from 40 connections
    (client timeout 30 s, Meta-style redelivery); the same with Sheets answering 503 to everything
    for 2 minutes in the middle; the same with 200 anonymous Open311 list GETs alongside."""
    from tests.reliability.load import run_burst

    scenarios = [("burst", {}), ("burst + Sheets 503 for 120 s", {"outage": (5.0, 120.0)}),
                 ("burst + 200 Open311 GETs", {"open311_gets": 200})]
    rows: list[Row] = []
    for name, kw in scenarios:
        with tempfile.TemporaryDirectory() as tmp:
            r = run_burst(200, 0.0, Path(tmp), connections=40, deadline=300.0, **kw)
        lat = r["latency_ms"]
        rows += [
            (f"{name}: webhook answer latency", f"p50 {lat['p50']:.0f} / p99 {lat['p99']:.0f} / max {lat['max']:.0f} ms",
             "p50 <= 250, p99 <= 1000 ms"),
            (f"{name}: answered 200 at the first attempt", f"{r['first_attempt_ok']}/200 {r['statuses']}", "200/200"),
            (f"{name}: stored exactly once / all stored after", f"{r['exactly_once']} ({r['stored']} rows) / "
                                                               f"{r['all_stored_s']:.0f} s", "True / <= 300 s"),
            (f"{name}: citizens acknowledged / most acks to one", f"{r['acked']} / {r['acks_max']}", "200 / 1"),
            (f"{name}: Sheets requests writes / reads (503s)", f"{r['write_requests']} / {r['read_requests']} "
                                                              f"({r['outage_503s']})", "writes <= 60/min"),
        ]
        if kw.get("open311_gets"):
            g = r["open311_latency_ms"]
            rows.append((f"{name}: Open311 GETs answered / latency", f"{r['open311_gets']} / p50 {g['p50']:.0f} "
                                                                     f"p99 {g['p99']:.0f} ms", "200 x 200"))
            rows.append((f"{name}: Sheets reads for the GETs (snapshot refreshes)", str(r["snapshot_refreshes"]),
                         "<= 2"))
    return rows


def naive_route(text: str, rules):
    """The obvious router: a regex per keyword over the lower-cased text, sum of weights per OPD."""
    import re

    from functions.model import Route, TRIAGE

    compiled = _naive_patterns(rules)
    low = text.lower()
    scores: dict[str, float] = {}
    for opd, weight, patterns in compiled:
        if all(p.search(low) for p in patterns):
            scores[opd] = scores.get(opd, 0.0) + weight
    ranked = sorted(scores.items(), key=lambda kv: -kv[1])
    if not ranked or ranked[0][1] < 1 or (len(ranked) > 1 and ranked[1][1] == ranked[0][1]):
        return Route(TRIAGE, "", 0.0)
    return Route(ranked[0][0], "", 1.0)


_NAIVE: dict[int, list] = {}


def _naive_patterns(rules):
    import re

    key = id(rules)
    if key not in _NAIVE:
        out = []
        for rule in rules.rules:
            for kw in rule.keywords:
                text = kw.source.rsplit(":", 1)[0] if ":" in kw.source else kw.source
                parts = []
                for part in text.split("&"):
                    word = part.strip().lower().rstrip("!")
                    tail = r"\w*" if word.endswith("*") else r"\b"
                    parts.append(re.compile(r"\b" + re.escape(word.rstrip("*")) + tail))
                out.append((rule.opd, kw.weight, parts))
        _NAIVE[key] = out
    return _NAIVE[key]


@section("routing_naive")
def bench_routing_naive() -> list[Row]:
    """The routing section's figures against the obvious router (a regex per keyword, no word
    forms, slang or negative cues), in the same run: time per complaint and held-out accuracy."""
    import statistics
    import time

    from functions.routing import document, load_rules, route
    from functions.services.evaluation import evaluate_routing, read_labelled

    rules = load_rules()
    sets = sorted((ROOT / "tests" / "data").glob("routing-holdout*.csv"))
    texts = [t for path in sets for t, _ in read_labelled(path, "opd")]
    ours, naive = [], []
    for text in texts * 3:
        document.cache_clear()
        t = time.perf_counter()
        route(text, rules)
        ours.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        naive_route(text, rules)
        naive.append((time.perf_counter() - t) * 1000)
    keywords = sum(len(r.keywords) for r in rules.rules)
    rows: list[Row] = [
        (f"route one complaint: ours / naive ({keywords} keywords)",
         f"{statistics.median(ours):.2f} / {statistics.median(naive):.2f} ms (median)", "< 5 ms"),
    ]
    for path in sets:
        items = read_labelled(path, "opd")
        a = evaluate_routing(items, rules)
        b = evaluate_routing(items, rules, route_fn=naive_route)
        rows.append((f"{path.name}: accuracy on routed / coverage / all correct, ours vs naive",
                     f"{a.routed_accuracy * 100:.1f} / {a.coverage * 100:.1f} / {a.correct / a.total * 100:.1f} % vs "
                     f"{b.routed_accuracy * 100:.1f} / {b.coverage * 100:.1f} / {b.correct / b.total * 100:.1f} %",
                     ">= 90 / >= 80 / -"))
    return rows


# -- routing learned from history (issue 18) --------------------------------------------------------

MODEL_INTAKE = """
import json, sys, time
t0 = time.perf_counter()
import main
from functions.channels import meta
import_ms = (time.perf_counter() - t0) * 1000
from datetime import datetime, timezone
from functions.bootstrap import services
from functions.model import Channel, Complaint, Contact
from functions.services.intake import intake
svc = services()
svc.workbook.bootstrap()
svc.workbook.write_routing_model(open({model!r}, encoding="utf-8").read())
t1 = time.perf_counter()
r = intake(svc, Complaint("got depan rumah mampet, air tergenang tiap hujan", Channel.WHATSAPP,
                         datetime.now(timezone.utc).astimezone(svc.settings.tz),
                         Contact("Budi", "081234567890", "6281234567890"), source_id="bench-model"))
first_ms = (time.perf_counter() - t1) * 1000
heavy = sorted(m for m in ("sklearn", "scipy", "numpy", "pandas") if m in sys.modules)
print(json.dumps(dict(import_ms=import_ms, first_ms=first_ms, heavy=heavy, opd=r.opd)))
"""


MODEL_TRAIN = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
import pandas, matplotlib  # the daily function has them loaded already
from scripts.make_routing_devset import generate
from functions.routing import load_rules
from functions.routing_model import load_thresholds
from functions.services.route_learning import Example, learn
examples = [Example(t, o) for t, o, _ in generate(7, {months}, 400)]
t0 = time.perf_counter()
report = learn(examples, load_rules(), load_thresholds())
print(json.dumps(dict(n=len(examples), seconds=time.perf_counter() - t0,
                      peak_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)))
"""


@section("routing_model")
def bench_routing_model() -> list[Row]:
    """Training in the job on the simulated history (SMOKE-TEST DATA we wrote), the stored model's
    size, its load time at intake, and routing (rules + model) + sentiment per complaint."""
    import statistics
    import time

    from functions.routing import document, load_rules
    from functions.routing_model import decide, dumps, load_thresholds, loads
    from functions.sentiment import classify, load_detector
    from functions.services.evaluation import _BENCH_TEXTS, read_labelled
    from functions.services.route_learning import examples_from_pairs, train

    rules, thr, det = load_rules(), load_thresholds(), load_detector()
    history = examples_from_pairs(read_labelled(ROOT / "tests" / "data" / "routing-sim-history.csv", "opd"))
    t0 = time.perf_counter()
    model = train(history, rules, thr)
    train_s = time.perf_counter() - t0
    text = dumps(model)
    loads_ms = []
    for _ in range(5):
        t0 = time.perf_counter()
        loads(text)
        loads_ms.append((time.perf_counter() - t0) * 1e3)
    times = []
    for _ in range(40):
        for sample in _BENCH_TEXTS:
            document.cache_clear()
            t0 = time.perf_counter()
            decide(sample, rules, model, thr)
            classify(sample, det)
            times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    with tempfile.TemporaryDirectory() as data:
        path = Path(data) / "model.json"
        path.write_text(text, encoding="utf-8")
        cold = run_python(MODEL_INTAKE.format(model=str(path)), {"KMC_DATA_DIR": data, "KMC_BACKEND": "local"})
    big = run_python(MODEL_TRAIN.format(root=str(ROOT), months=32))
    return [
        (f"train on {len(history)} simulated cases (daily job, scikit-learn)", f"{train_s:.1f} s", "-"),
        (f"daily learning step on {big['n']} cases (holdout trial + final; capped at max_examples)",
         f"{big['seconds']:.0f} s, peak RSS {big['peak_mib']:.0f} MiB", "within 540 s / 512 MiB"),
        ("stored model", f"{len(text) / 1000:.0f} k chars, {len(model.weights)} features, "
                         f"{-(-len(text) // 45_000)} Sheets cells", "cells <= 50,000 chars"),
        ("model load at intake (JSON parse + checks), median", f"{statistics.median(loads_ms):.1f} ms", "-"),
        ("route (rules + model) + sentiment, median", f"{statistics.median(times):.2f} ms", "< 5 ms"),
        ("route (rules + model) + sentiment, p95 / max",
         f"{times[int(0.95 * (len(times) - 1))]:.2f} / {times[-1]:.2f} ms", "< 5 ms"),
        ("intake import (meta_webhook) with a stored model", f"{cold['import_ms']:.0f} ms", "< 300 ms"),
        ("first complaint incl. model + rules load", f"{cold['first_ms']:.0f} ms", "-"),
        ("heavy modules loaded at intake with a model", ", ".join(cold["heavy"]) or "none", "none"),
    ]


def main(argv: list[str]) -> int:
    names = argv or list(SECTIONS)
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        print(f"unknown section(s): {', '.join(unknown)}; known: {', '.join(SECTIONS)}", file=sys.stderr)
        return 2
    table: list[tuple[str, str, str, str]] = []
    for name in names:
        print(f"… {name}", file=sys.stderr)
        table += [(name, *row) for row in SECTIONS[name]()]
    widths = [max(len(r[i]) for r in table + [("section", "metric", "value", "target")]) for i in range(4)]
    header = ("section", "metric", "value", "target")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("  ".join("-" * w for w in widths))
    for row in table:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
