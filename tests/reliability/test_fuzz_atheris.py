"""Coverage-guided fuzzing with atheris (libFuzzer) of the parsers that read outside bytes: Meta
webhook bodies, news feeds, and citizen text / tickets / CSRF tokens / phone numbers / dates.
Each target runs in its own process for a bounded number of inputs (10x more with `--long`),
seeded with realistic inputs; any exception other than our own refusals fails the test with the
crashing input. atheris ships wheels for Linux x86-64 only; elsewhere this test is skipped.
"""
from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

pytest.importorskip("atheris", reason="atheris wheels exist for Linux x86-64 only (requirements-dev.txt)")

from tests.fakes import meta_payloads as mp  # noqa: E402
from tests.fakes.clock import WIB  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
AT = datetime(2026, 11, 2, 8, 0, tzinfo=WIB)
RSS = (b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Kabar</title><item>'
       b'<title>Jalan rusak di Sandai dikeluhkan warga</title><link>https://kabar.example/a</link>'
       b'<pubDate>Mon, 02 Nov 2026 07:00:00 +0700</pubDate><description>Warga kecewa</description></item>'
       b'</channel></rss>')
ATOM = (b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>K</title><entry><title>Banjir di '
        b'Delta Pawan</title><link href="https://kabar.example/b"/><updated>2026-11-02T07:00:00+07:00</updated>'
        b'</entry></feed>')


def seeds(target: str) -> list[bytes]:
    if target == "meta":
        return [mp.encode(p) for p in (
            mp.whatsapp([mp.wa_text("Jalan rusak", at=AT), mp.wa_location(name="Sandai", at=AT), mp.wa_contacts(at=AT)],
                        statuses=[mp.wa_status("wamid.x", "failed", at=AT, error_code=131047)]),
            mp.messenger([mp.dm_event("6254021434668112", text="Air mati", at=AT)], at=AT),
            mp.page_comment("Jembatan patah", at=AT), mp.instagram_comment("Lampu mati", at=AT))]
    if target == "feed":
        return [RSS, ATOM]
    return [b"KMC-261102-AB3X9", "Jalan rusak \u202e di 0812-3456-7890".encode()]


RUNS = {"meta": 20_000, "feed": 1_500, "text": 20_000}


@pytest.mark.parametrize("target", sorted(RUNS))
def test_parsers_survive_coverage_guided_fuzzing(target, tmp_path, long_run):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i, seed in enumerate(seeds(target)):
        (corpus / f"seed{i}").write_bytes(seed)
    runs = RUNS[target] * (10 if long_run else 1)
    done = subprocess.run(
        [sys.executable, "-m", "tests.reliability.atheris_fuzz", target, f"-runs={runs}",
         f"-max_total_time={600 if long_run else 60}", "-rss_limit_mb=1024", f"-artifact_prefix={tmp_path}/",
         str(corpus)], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "Done" in done.stderr  # the fuzzer ran to its bound
