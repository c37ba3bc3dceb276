"""Load: `python main.py serve` (KMC_BACKEND=google) against the fake Sheets API with Google's
60 writes/minute quota, under a burst of signed webhooks from a second process on loopback that
redelivers like Meta. Default: 200 webhooks in 12 s (the same rate as the real target); with
`--long`: 1,000 in one minute. Figures are printed (`-s` shows them); times are never asserted.
"""
from __future__ import annotations

import json

from tests.reliability.load import run_burst


def test_a_burst_of_signed_webhooks_is_stored_exactly_once_within_the_write_quota(tmp_path, long_run):
    count, seconds = (1000, 60.0) if long_run else (200, 12.0)
    r = run_burst(count, seconds, tmp_path)
    print(f"\nLOAD {count} webhooks in {seconds:.0f} s -> " + json.dumps(
        {k: r[k] for k in ("accepted", "redelivered", "statuses", "latency_ms", "drained_s", "throughput_per_s",
                           "write_requests", "read_requests", "requests_per_complaint", "rejected")}))
    assert r["accepted"] == count and r["mismatched"] == 0  # every delivery answered 200 in the end, right ticket
    assert r["exactly_once"], (r["missing"], r["extra"])  # every message stored once, nothing else
    assert r["stored"] == r["stored_unique"] == count
    assert r["contacts_missing"] == 0  # every case has its private contact record
    assert r["acked"] == count and r["acks_max"] == 1  # every citizen acknowledged, once
    # The request budget of DESIGN.md: at most one write per complaint to each spreadsheet in steady
    # state; a burst shares writes. (The fake answers 429 above 60 writes a minute, so staying in
    # budget is also what made every delivery succeed.)
    assert r["opd_writes"] <= count and r["contact_writes"] <= count
    assert r["write_requests"] < count / 2
