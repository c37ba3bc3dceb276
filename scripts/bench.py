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
