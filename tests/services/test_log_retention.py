"""The Log is pruned by the daily job (journal.cutoffs) and keeps what a later run or page needs.

A year of daily runs on the embedded store: the Log stays bounded (before this it grew by every
entry ever written), while the dedupe windows, the archive mapping, the feed validators, the
alert history of /monitoring/riwayat and the problems since the previous digest survive.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from functions import journal
from functions.bootstrap import build
from functions.config import Settings
from functions.feeds.model import Fetched, Validators
from functions.journal import ARCHIVE_SPREADSHEET, MSG_LOG, PROBLEM, LogEntry
from functions.services.alerts import AlertItem, alert_sender
from functions.services.conversation import FloodLimiter, Inbound, handle_inbound
from functions.services.intake import intake
from functions.services.jobs import daily_job, sweep_job
from functions.services.media import media_job
from functions.services.media_config import load_media_config
from functions.stores.port import Changes
from tests.conftest import complaint
from tests.fakes import meta_payloads as mp
from tests.fakes.clock import WIB
from tests.fakes.mailbox import RecordingMailer
from tests.fakes.messenger import FakeMessenger

FEED = "https://berita.example/rss"
EMPTY_RSS = b'<?xml version="1.0"?><rss version="2.0"><channel><title>Berita</title></channel></rss>'
HEADS = {"PUTR": "kadis.putr@ketapangkab.go.id"}


class ConditionalFeed:
    """A feed server that honours If-None-Match: 304 while the client sends the ETag it gave."""

    def __init__(self):
        self.asked: list[Validators] = []

    def fetch(self, url, validators=Validators()):
        self.asked.append(validators)
        if validators.etag == '"v1"':
            return Fetched(url, 304, b"", "", validators)
        return Fetched(url, 200, EMPTY_RSS, "application/rss+xml", Validators('"v1"'))


@pytest.fixture
def feed():
    return ConditionalFeed()


@pytest.fixture
def mailer():
    return RecordingMailer()


@pytest.fixture
def ysvc(tmp_path, schema, clock, mailer, feed):
    opds = tuple(replace(o, head_email=HEADS.get(o.key, "")) for o in schema.opds)
    settings = Settings.from_env({"KMC_DATA_DIR": str(tmp_path / "data"), "DIGEST_TO": "bupati@example.go.id"})
    svc = build(settings, clock=clock, schema=replace(schema, opds=opds), mailer=mailer,
                media_config=replace(load_media_config(), feeds=(FEED,)), feed_fetcher=feed)
    svc.workbook.bootstrap()
    return svc


def at_seven(clock, start: datetime, day: int) -> datetime:
    return clock.set(start.replace(hour=7, minute=0) + timedelta(days=day))


def test_a_year_of_daily_runs_keeps_the_log_bounded_and_what_later_runs_need(ysvc, clock, mailer, feed,
                                                                            monkeypatch):
    # the digest's chart (matplotlib, ~1 s a day) is not what this year is about
    monkeypatch.setattr("functions.digest.chart.render_chart", lambda series: b"\x89PNG grafik")
    start = clock()
    wb = ysvc.workbook
    wb.log_add(LogEntry(ARCHIVE_SPREADSHEET, journal.archive_key(2025), start, "1AbCarsip2025"))
    alerted = intake(ysvc, complaint("jalan ambruk di Sandai, warga terisolasi", clock, source_id="berita"))
    sizes, written, full_reads = {}, 0, 0
    for day in range(365):
        now = at_seven(clock, start, day)
        # what the doors record every day: a follow-up message processed, a problem for the digest
        wb.log_add(LogEntry(MSG_LOG, f"wamid.hari-{day}", now, alerted.ticket_id))
        text = f"Tab PUTR: kolom 'Catatan' tidak ditemukan (hari {day})"
        wb.log_add(LogEntry(PROBLEM, journal.write_problem_key(now, text), now, text))
        written += 2
        if day == 100:  # a media finding alerted to the head: /monitoring/riwayat lists it for a year
            report = alert_sender(ysvc, now)([AlertItem(alerted.ticket_id, "PUTR", "Media Massa", "Borneo",
                                                        "[Borneo] Jalan ambruk", "https://b.example/1", now, None)])
            assert report.sent
        if day % 3 == 0:  # the media job need not run daily: its state is refreshed when a day old
            media = media_job(ysvc, now + timedelta(minutes=5))
            full_reads += media.fetched
        assert not daily_job(ysvc, now + timedelta(minutes=10)).busy
        sizes[day] = len(wb.log_entries())
    written += 365 * 2  # at least a digest and a problem-reported entry a day

    # bounded: the Log stopped growing once every kind reached its retention
    assert sizes[364] <= sizes[200] + 5 and sizes[364] < written / 4
    # the feed's validators survived every pruning: only the first run read the feed whole, every
    # later one asked conditionally and got 304
    assert full_reads == 1 and feed.asked[-1].etag == '"v1"' and media.unchanged == 1
    # the archive's year -> spreadsheet mapping is kept for ever
    assert wb.log_has(ARCHIVE_SPREADSHEET, journal.archive_key(2025))
    # message ids dedupe for longer than Meta redelivers (7 days); older ones went
    assert wb.log_has(MSG_LOG, "wamid.hari-340") and not wb.log_has(MSG_LOG, "wamid.hari-300")
    # riwayat (reads only the Log) still shows the alert of 265 days ago
    from functions.channels.monitoring import findings_history

    [row] = [r for r in findings_history(ysvc) if r["ticket"] == alerted.ticket_id]
    assert row["opd"] == "PUTR" and row["alerted"]

    # a problem recorded after the last digest, then a 20-day outage of the daily job: still listed
    now = clock.advance(hours=3)
    text = "Tab DLH: baris tidak ditemukan saat menulis (dihapus atau diubah petugas?)"
    wb.log_add(LogEntry(PROBLEM, journal.write_problem_key(now, text), now, text))
    after = at_seven(clock, start, 385)
    daily_job(ysvc, after)
    assert text in mailer.tagged("digest-")[-1].text


def test_a_redelivered_whatsapp_message_within_meta_s_window_is_still_a_duplicate_after_pruning(
        svc, clock, settings):
    """Meta retries an unacknowledged webhook with exponential backoff for up to 7 days
    (https://hookdeck.com/webhooks/platforms/guide-to-whatsapp-webhooks-features-and-best-practices,
    "Retry mechanism: Exponential backoff for up to 7 days"): the message id must dedupe that long,
    through the daily job's pruning."""
    messenger = FakeMessenger()
    sender = "6281234567801"

    def inbound(text, minutes=0, message_id=None):
        return Inbound(channel="WhatsApp", message_id=message_id or mp.wamid(), sender=sender,
                       sent_at=clock() + timedelta(minutes=minutes), kind="text", text=text,
                       name="Budi Santoso", phone=sender)

    first = handle_inbound(svc, inbound("Parit di Jalan Merdeka tersumbat"), messenger=messenger,
                           limiter=FloodLimiter())
    follow = inbound("air naik ke rumah warga tiap hujan", minutes=3)
    assert handle_inbound(svc, follow, messenger=messenger, limiter=FloodLimiter()).action == "joined"
    for day in range(1, 8):  # a week of daily runs, each pruning the Log
        clock.advance(days=1)
        daily_job(svc)
    again = handle_inbound(svc, follow, messenger=messenger, limiter=FloodLimiter())
    assert again.action == "duplicate"
    assert svc.workbook.find(first.ticket).row["text"].count("air naik") == 1


def test_a_reminder_is_not_repeated_after_the_daily_pruned_the_log(ysvc, clock, mailer):
    start = clock()
    case = intake(ysvc, complaint("jalan rusak parah banyak lubang", clock, source_id="a"))
    clock.set(start + timedelta(hours=36))
    assert sweep_job(ysvc).reminded == {"PUTR": [case.ticket_id]}
    daily_job(ysvc, clock() + timedelta(minutes=1))
    clock.advance(minutes=30)
    assert sweep_job(ysvc).reminded == {}
    assert len([m for m in mailer.sent if "Pengingat" in m.subject]) == 1


def test_the_local_store_expires_only_the_named_kinds_before_their_cutoff_in_the_commit(svc, clock):
    wb, now = svc.workbook, clock()
    old, recent = now - timedelta(days=40), now - timedelta(days=2)
    for kind in (MSG_LOG, ARCHIVE_SPREADSHEET):
        wb.log_add(LogEntry(kind, "lama", old, ""))
        wb.log_add(LogEntry(kind, "baru", recent, ""))
    wb.log_add(LogEntry(MSG_LOG, "ulang", old, "pertama"))
    cutoff = now - timedelta(days=30)
    report = wb.commit(Changes(log=[LogEntry(MSG_LOG, "ulang", now, "kedua")], log_expire={MSG_LOG: cutoff}))
    left = {(e.kind, e.key): e for e in wb.log_entries()}
    assert set(left) == {(MSG_LOG, "baru"), (MSG_LOG, "ulang"), (ARCHIVE_SPREADSHEET, "lama"),
                         (ARCHIVE_SPREADSHEET, "baru")}
    # an expired key recorded again in the same commit is the new entry, not lost with the old one
    assert report.logged == 1 and left[(MSG_LOG, "ulang")].detail == "kedua"


def test_pruning_compares_times_not_text_across_offsets(svc):
    """Entries carry their offset; 2026-01-01T06:00+07:00 is before 2026-01-01T00:00Z."""
    wb = svc.workbook
    wib = datetime(2026, 1, 1, 6, 0, tzinfo=WIB)  # 2025-12-31T23:00Z
    wb.log_add(LogEntry(MSG_LOG, "wib", wib, ""))
    cutoff = datetime.fromisoformat("2026-01-01T00:00:00+00:00")
    wb.commit(Changes(log_expire={MSG_LOG: cutoff}))
    assert not wb.log_has(MSG_LOG, "wib")
