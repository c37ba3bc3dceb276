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
svc = services()
svc.workbook.bootstrap()
t1 = time.perf_counter()
if {intake!r}:
    svc.intake(Complaint("jalan di desa kami rusak parah dan berlubang, mohon diperbaiki", Channel.WHATSAPP,
                         datetime.now(timezone.utc).astimezone(svc.settings.tz),
                         Contact("Budi", "081234567890", "6281234567890"), source_id="bench-1"))
first_ms = (time.perf_counter() - t1) * 1000
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
heavy = sorted(m for m in ("pandas", "matplotlib", "openpyxl", "numpy") if m in sys.modules)
print(json.dumps(dict(import_ms=import_ms, first_ms=first_ms, peak_mib=peak, heavy=heavy)))
"""

INTAKE_TARGETS = ["meta_webhook", "web_form", "open311", "monitoring_intake"]
JOB_TARGETS = ["sweep", "daily_digest", "media_monitor"]


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
                    (f"{name}: CPU", f"{r['cpu_s']:.2f} s (wall {r['wall_s']:.2f} s)", "< 5 s"),
                    (f"{name}: store requests", f"{r['requests']} {r['detail']}", "constant"),
                    (f"{name}: digest email", f"{r['email_kb']:.0f} KB", "< 1 MB"),
                    (f"{name}: peak RSS", f"{r['peak_mib']:.0f} MiB (data loaded: {r['rss_before']:.0f} MiB)",
                     "< 512 MiB"),
                ]
    return rows_out


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
