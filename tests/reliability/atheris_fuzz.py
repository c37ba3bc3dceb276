"""Coverage-guided fuzzing (atheris / libFuzzer) of the parsers that read outside bytes.

`python -m tests.reliability.atheris_fuzz TARGET [libFuzzer flags]`, TARGET one of:
  meta    signed-webhook bodies -> json -> parse_delivery (must never raise)
  feed    feed bytes -> parse_feed (only FeedFailure)
  text    citizen text, tickets, CSRF tokens, phone numbers, W3C dates (only our own refusals)
Run by tests/reliability/test_fuzz_atheris.py with a bounded number of runs; a crash prints the
input and exits non-zero.
"""
from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import atheris  # noqa: E402

with atheris.instrument_imports(include=["functions"]):
    from functions import tickets  # noqa: E402
    from functions.channels import csrf  # noqa: E402
    from functions.feeds.model import FeedFailure  # noqa: E402
    from functions.feeds.parse import parse_feed  # noqa: E402
    from functions.channels.meta_parse import parse_delivery  # noqa: E402
    from functions.channels.open311 import Open311Error, parse_w3  # noqa: E402
    from functions.model import InvalidComplaint  # noqa: E402
    from functions.text import clean_text, mask_phone, normalise_phone, valid_phone  # noqa: E402

WIB = ZoneInfo("Asia/Jakarta")
NOW = datetime(2026, 11, 2, 8, 0, tzinfo=WIB)
KEY = b"k" * 32


def meta(data: bytes) -> None:
    try:
        payload = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return  # the handler answers 400 / ignores these before parsing
    delivery = parse_delivery(payload, tz=WIB, now=NOW, phone_number_id="106540352242922")
    for m in delivery.messages:
        assert m.message_id and isinstance(m.text, str)


def feed(data: bytes) -> None:
    try:
        parsed = parse_feed(data, url="https://feed.example/rss", content_type="application/rss+xml")
    except FeedFailure:
        return
    for item in parsed.items:
        assert isinstance(item.title, str) and len(item.title) <= 401


def text(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    raw = fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 600))
    try:
        cleaned = clean_text(raw)
        assert cleaned and cleaned == cleaned.strip()
    except InvalidComplaint as e:
        assert e.message
    ticket = tickets.parse_ticket(raw, "KMC")
    assert ticket is None or tickets.parse_ticket(ticket, "KMC") == ticket
    assert csrf.verify(KEY, raw, NOW, cookie=raw[:40], origin_ok=False) != ""  # never accepted unsigned
    masked = mask_phone(raw)
    assert "****" in masked or len(normalise_phone(raw)) < 8
    valid_phone(raw)
    try:
        parse_w3(raw, "start_date", WIB)
    except Open311Error:
        pass


TARGETS = {"meta": meta, "feed": feed, "text": text}


def main() -> None:
    target = TARGETS[sys.argv[1]]
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
