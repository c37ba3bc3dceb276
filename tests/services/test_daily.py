"""The daily job as leadership and OPD heads receive it: headline numbers, the ranking's sample
rule, oldest overdue cases with links, negative coverage, chart, capacity, monthly evaluation,
idempotency, and a constant number of store requests."""
from __future__ import annotations

import io
import re
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from functions.bootstrap import build
from functions.config import Settings
from functions.digest.data import build_digest, wilson_centre
from functions.digest.render import render_digest
from functions.mail.port import MailError
from functions.model import Channel, Sentiment, Sla
from functions.services.jobs import daily_job, sweep_job
from functions.services.staff import staff_edit
from functions.stores.port import NewCase
from functions.services.intake import intake
from tests.conftest import complaint
from tests.fakes.clock import WIB, FakeClock
from tests.fakes.mailbox import RecordingMailer
from tests.fakes.memory_workbook import MemoryWorkbook

LEADERS = "bupati@ketapangkab.go.id,sekda@ketapangkab.go.id,kominfo@ketapangkab.go.id"
HEADS = {"PUTR": "kadis.putr@ketapangkab.go.id", "DLH": "kadis.dlh@ketapangkab.go.id"}


def settings_for(tmp_path, **env) -> Settings:
    return Settings.from_env({"KMC_DATA_DIR": str(tmp_path / "data"), "DIGEST_TO": LEADERS, **env})


@pytest.fixture
def mailer():
    return RecordingMailer()


@pytest.fixture
def dsvc(tmp_path, schema, clock, mailer):
    opds = tuple(replace(o, head_email=HEADS.get(o.key, "")) for o in schema.opds)
    svc = build(settings_for(tmp_path), clock=clock, schema=replace(schema, opds=opds), mailer=mailer)
    svc.workbook.bootstrap()
    return svc


def answer(svc, ticket, text="Sudah ditindaklanjuti.", status="Diproses"):
    staff_edit(svc.workbook, svc.schema, ticket, [f"status={status}", f"response={text}"], "KMC")


def digest_mails(mailer):
    return mailer.tagged("digest-")


def test_headline_numbers(dsvc, clock, mailer):
    monday = clock()
    road = intake(dsvc, complaint("jalan rusak parah banyak lubang", clock, source_id="a"))  # PUTR, due Wed 08:00
    clock.advance(minutes=30)
    health = intake(dsvc, complaint("puskesmas tutup jam 10 pagi pasien disuruh pulang", clock, source_id="e"))
    clock.set(monday + timedelta(hours=1))
    garbage = intake(dsvc, complaint("sampah menumpuk di pasar tidak diangkut", clock, source_id="b"))
    clock.set(monday + timedelta(days=1, hours=3))  # Tuesday 11:00
    answer(dsvc, garbage.ticket_id)
    sweep_job(dsvc)
    clock.set(monday + timedelta(days=2, hours=1))  # Wednesday 09:00: one hour late
    answer(dsvc, road.ticket_id)
    sweep_job(dsvc)
    clock.set(monday + timedelta(days=2, hours=4))  # Wednesday 12:00
    intake(dsvc, complaint("lampu jalan PJU mati", clock, source_id="d"))
    clock.set(monday + timedelta(days=3, hours=-1))  # Thursday 07:00

    report = daily_job(dsvc)
    d = report.digest
    assert report.marked_overdue == [health.ticket_id]
    assert d.headline == {"new_yesterday": 1, "on_time_yesterday": 0, "late_yesterday": 1, "overdue": 1,
                          "running": 1, "compliance": pytest.approx(1 / 3)}
    (mail,) = digest_mails(mailer)
    assert mail.to == tuple(LEADERS.split(","))
    assert "1 aduan terlambat, kepatuhan 33%" in mail.subject
    assert re.search(r"Aduan baru kemarin\s+: 1\n", mail.text)
    assert re.search(r"Ditanggapi terlambat kemarin\s+: 1\n", mail.text)
    assert re.search(r"BELUM DITANGGAPI, lewat batas 2x24 jam: 1\n", mail.text)
    assert "Kepatuhan 30 hari: 33% (1 dari 3 aduan jatuh tempo" in mail.text
    assert "33%" in mail.html and "belum ditanggapi, lewat batas 2x24 jam" in mail.html


def _row(ticket, received, due, responded=None, state=Sla.RUNNING, **extra):
    return {"ticket_id": ticket, "received_at": received, "deadline": due, "responded_at": responded,
            "sla": str(state), "response": "ya" if responded else "", "text": "aduan", "status": "Baru", **extra}


def _record(prefix, on_time, late, overdue, now):
    rows = []
    for i in range(on_time + late + overdue):
        received = now - timedelta(days=5, hours=i)
        due = received + timedelta(hours=48)
        if i < on_time:
            rows.append(_row(f"{prefix}-{i}", received, due, received + timedelta(hours=3), Sla.ON_TIME))
        elif i < on_time + late:
            rows.append(_row(f"{prefix}-{i}", received, due, due + timedelta(hours=3), Sla.LATE))
        else:
            rows.append(_row(f"{prefix}-{i}", received, due, None, Sla.OVERDUE))
    return rows


def test_ranking_needs_a_minimum_sample_so_two_lucky_cases_cannot_top_it():
    now = datetime(2026, 11, 20, 7, 0, tzinfo=WIB)
    tabs = {
        "DISDIK": _record("A", 2, 0, 0, now),  # 100 % of 2
        "DLH": _record("B", 18, 1, 1, now),  # 90 % of 20
        "PUTR": _record("C", 6, 2, 2, now),  # 60 % of 10
        "DINSOS": _record("E", 5, 0, 0, now),  # 100 % of 5: enough, but less sure than DLH's 90 % of 20
        "TRIASE": _record("D", 10, 0, 0, now),  # KMC's own triage is never ranked
    }
    titles = {k: k.title() for k in tabs}
    digest = build_digest(tabs, titles, now)
    assert [(line.key, line.rank) for line in digest.ranked] == [("DLH", 1), ("DINSOS", 2), ("PUTR", 3)]
    assert {line.key for line in digest.unranked} == {"DISDIK", "TRIASE"}
    assert wilson_centre(2, 2) < wilson_centre(18, 20)
    assert wilson_centre(0, 2) > wilson_centre(4, 20)  # two unlucky cases do not sink an OPD below 20 %
    _, text, html = render_digest(digest, sheet_url="https://example.test/sheet")
    ranking = text.split("PERINGKAT PERANGKAT DAERAH")[1].split("Belum diperingkat")[0]
    assert ranking.index("Dlh") < ranking.index("Dinsos") < ranking.index("Putr")
    assert "Disdik" not in ranking and "Disdik: 2/2 tepat waktu" in text
    assert html.index(">Dlh<") < html.index(">Putr<") < html.index("Belum diperingkat") < html.index(">Disdik<")


def test_each_head_gets_only_their_overdue_cases_and_a_rerun_sends_nothing_new(dsvc, clock, mailer):
    roads = [intake(dsvc, complaint(f"jalan rusak parah berlubang nomor {i}", clock, source_id=f"r{i}")).ticket_id
             for i in range(2)]
    garbage = intake(dsvc, complaint("sampah menumpuk di pasar tidak diangkut", clock, source_id="g")).ticket_id
    health = intake(dsvc, complaint("puskesmas tutup jam 10 pagi pasien disuruh pulang", clock, source_id="h"))
    clock.advance(days=2, hours=23)
    first = daily_job(dsvc)
    assert first.opd_sent == {"PUTR": 2, "DLH": 1}  # DINKES has no head email configured
    (putr,) = mailer.to("kadis.putr@ketapangkab.go.id")
    assert all(t in putr.text and t in putr.html for t in roads) and garbage not in putr.text
    assert health.ticket_id not in putr.text and "PUTR" in putr.subject
    (dlh,) = mailer.to("kadis.dlh@ketapangkab.go.id")
    assert garbage in dlh.text and "umur 2 hari 23 jam" in dlh.text
    sent_before = len(mailer.sent)

    second = daily_job(dsvc)  # a Cloud Scheduler retry, or someone running it by hand
    assert second.already_sent and second.opd_sent == {} and len(mailer.sent) == sent_before
    keys = {e.key for e in dsvc.workbook.log_entries("digest")}
    assert keys == {f"{first.day}", f"{first.day}:PUTR", f"{first.day}:DLH"}


def test_a_failed_email_is_sent_by_the_retry_and_nothing_else_twice(dsvc, clock, mailer):
    intake(dsvc, complaint("jalan rusak parah berlubang", clock, source_id="r"))
    intake(dsvc, complaint("sampah menumpuk di pasar tidak diangkut", clock, source_id="g"))
    clock.advance(days=3)
    mailer.failing = {"kadis.dlh@ketapangkab.go.id"}
    first = daily_job(dsvc)
    assert first.opd_sent == {"PUTR": 1} and any("DLH" in p for p in first.problems)
    mailer.failing = set()
    retry = daily_job(dsvc)
    assert retry.already_sent and retry.opd_sent == {"DLH": 1}
    assert [len(mailer.to(a)) for a in ("kadis.putr@ketapangkab.go.id", "kadis.dlh@ketapangkab.go.id")] == [1, 1]
    assert len(digest_mails(mailer)) == 1


def test_leadership_digest_failure_fails_the_job_so_the_scheduler_retries(dsvc, clock, mailer):
    intake(dsvc, complaint("jalan rusak parah berlubang", clock))
    clock.advance(days=3)
    mailer.failing = {"bupati@ketapangkab.go.id"}
    with pytest.raises(MailError):
        daily_job(dsvc)
    assert not dsvc.workbook.log_entries("digest")
    mailer.failing = set()
    assert not daily_job(dsvc).already_sent and len(digest_mails(mailer)) == 1


def test_negative_media_of_the_last_24_hours_has_its_own_section(dsvc, clock, mailer):
    start = clock()
    old = intake(dsvc, complaint("Berita: jalan provinsi rusak parah, warga kecewa", clock, channel=Channel.MASS_MEDIA,
                                sentiment=Sentiment.NEGATIVE, source_id="https://berita.test/1"))
    clock.set(start + timedelta(hours=30))
    news = intake(dsvc, complaint("Warga keluhkan sampah menumpuk di pasar, bau menyengat", clock,
                                 channel=Channel.MASS_MEDIA, sentiment=Sentiment.NEGATIVE,
                                 link="https://berita.test/2", source_id="https://berita.test/2"))
    post = intake(dsvc, complaint("Puskesmas tutup terus, pelayanan buruk!", clock, channel=Channel.SOCIAL_MEDIA,
                                 sentiment=Sentiment.NEGATIVE, source_id="https://fb.test/p/3"))
    praise = intake(dsvc, complaint("Terima kasih jalan sudah diperbaiki", clock, channel=Channel.SOCIAL_MEDIA,
                                   sentiment=Sentiment.POSITIVE, source_id="https://fb.test/p/4"))
    clock.set(start + timedelta(hours=47))
    daily_job(dsvc)
    (mail,) = digest_mails(mailer)
    section = mail.text.split("PEMBERITAAN NEGATIF")[1].split("30 HARI TERAKHIR")[0]
    assert news.ticket_id in section and post.ticket_id in section and "https://berita.test/2" in section
    assert old.ticket_id not in section and praise.ticket_id not in section
    html_section = mail.html.split("Pemberitaan negatif")[1]
    assert news.ticket_id in html_section and 'href="https://berita.test/2"' in html_section


def test_chart_is_inline_and_its_numbers_are_in_both_parts(dsvc, clock, mailer):
    start = clock()
    for i in range(3):
        intake(dsvc, complaint(f"jalan rusak parah nomor {i}", clock, source_id=f"x{i}"))
    clock.set(start + timedelta(days=1, hours=-1))  # Tuesday 07:00
    daily_job(dsvc)
    (mail,) = digest_mails(mailer)
    (image,) = mail.images
    assert image.data[:8] == b"\x89PNG\r\n\x1a\n" and f'src="cid:{image.cid}"' in mail.html
    assert re.search(r"Sen 02/11\s+3\s+0\s+0\s+0\n", mail.text)  # Monday: 3 received
    assert "<td>Sen 02/11</td><td style=\"text-align:right;\">3</td>" in mail.html


def test_links_to_rows_when_the_store_offers_them_and_sheet_show_locally(tmp_path, schema, clock, mailer):
    workbook = MemoryWorkbook(schema, with_links=True, sheet_id="1AbC")
    svc = build(settings_for(tmp_path), clock=clock, workbook=workbook, mailer=mailer)
    workbook.bootstrap()
    receipt = intake(svc, complaint("jalan rusak parah", clock))
    clock.advance(days=3)
    daily_job(svc)
    (mail,) = digest_mails(mailer)
    link = re.search(r'href="(https://docs.google.com/spreadsheets/d/1AbC/edit#gid=\d+&amp;range=A2)"', mail.html)
    assert link and receipt.ticket_id in mail.html
    assert "https://docs.google.com/spreadsheets/d/1AbC/edit#gid=" in mail.text

    local_mailer = RecordingMailer()
    local = build(settings_for(tmp_path / "local"), clock=clock, mailer=local_mailer)
    local.workbook.bootstrap()
    intake(local, complaint("jalan rusak parah", clock))
    clock.advance(days=3)
    daily_job(local)
    assert "Lihat: python main.py sheet show PUTR" in local_mailer.sent[0].text


@pytest.mark.parametrize("usage,warning,footnote", [
    (8_200_000, True, False),
    ((1_000_000, 10_000_000), False, True),
    (None, False, False),  # the store does not offer cell_usage()
])
def test_capacity_warning_at_eighty_percent(tmp_path, schema, clock, mailer, usage, warning, footnote):
    workbook = MemoryWorkbook(schema, usage=usage)
    svc = build(settings_for(tmp_path), clock=clock, workbook=workbook, mailer=mailer)
    workbook.bootstrap()
    daily_job(svc)
    (mail,) = digest_mails(mailer)
    assert ("PERINGATAN KAPASITAS" in mail.text) == warning
    assert ("Peringatan kapasitas" in mail.html) == warning
    assert ("Kapasitas lembar kerja: 10% dari 10.000.000 sel" in mail.text) == footnote


def test_monthly_evaluation_on_the_first_of_the_month(tmp_path, schema, mailer):
    clock = FakeClock(datetime(2026, 10, 5, 8, 0, tzinfo=WIB))
    svc = build(settings_for(tmp_path), clock=clock, mailer=mailer)
    svc.workbook.bootstrap()
    start = clock()
    fast, slow, silent, moved = (
        intake(svc, complaint(text, clock, source_id=str(i))).ticket_id
        for i, text in enumerate(["jalan rusak parah", "jembatan kayu patah", "jalan berlubang di Sandai",
                                  "aspal jalan berlubang di Kendawangan"]))
    assert {svc.workbook.find(t).tab for t in (fast, slow, silent, moved)} == {"PUTR"}
    clock.set(start + timedelta(hours=1))
    staff_edit(svc.workbook, svc.schema, moved, ["forward_to=DLH"], "KMC")
    sweep_job(svc)
    for ticket, hours, status in ((fast, 2, "Selesai"), (slow, 10, "Diproses"), (moved, 5, "Selesai")):
        clock.set(start + timedelta(hours=hours))
        answer(svc, ticket, status=status)
        sweep_job(svc)

    clock.set(datetime(2026, 11, 1, 7, 0, tzinfo=WIB))
    report = daily_job(svc)
    assert report.monthly == "evaluasi-kmc-aduan-2026-10.xlsx"
    lines = {m["key"]: m for m in report.digest.monthly.lines}
    putr, dlh = lines["PUTR"], lines["DLH"]
    assert (putr["cases"], putr["on_time"], putr["unanswered"], putr["still_open"], putr["forwarded_away"]) == (3, 2, 1, 2, 1)
    assert putr["on_time_pct"] == 66.7 and putr["median_hours"] == 6.0
    assert (dlh["cases"], dlh["on_time_pct"], dlh["median_hours"], dlh["median_age_hours"]) == (1, 100.0, 4.0, 5.0)
    (mail,) = digest_mails(mailer)
    assert "evaluasi Oktober 2026" in mail.subject
    assert "EVALUASI BULANAN — Oktober 2026" in mail.text and "Evaluasi bulanan — Oktober 2026" in mail.html
    (attachment,) = mail.attachments
    from openpyxl import load_workbook

    rows = [[c.value for c in r] for r in load_workbook(io.BytesIO(attachment.data)).active.iter_rows()]
    header = next(r for r in rows if r[0] == "Peringkat")
    by_title = {r[1]: dict(zip(header, r)) for r in rows[rows.index(header) + 1:]}
    assert by_title["PUTR"]["Diteruskan ke OPD Lain"] == 1 and by_title["PUTR"]["Median Waktu Tanggapan (jam)"] == 6
    assert by_title["Total"]["Aduan"] == 4

    clock.set(datetime(2026, 11, 2, 7, 0, tzinfo=WIB))
    assert daily_job(svc).monthly == "" and not mailer.sent[-1].attachments


def test_email_stays_under_one_megabyte_with_thousands_of_overdue_cases(tmp_path, schema, clock, mailer):
    workbook = MemoryWorkbook(schema)
    workbook.bootstrap()
    now = clock()
    long_text = "Jalan rusak parah, mohon segera diperbaiki. " * 40
    cases = [NewCase(schema.opds[1 + i % 25].key, _row(f"KMC-261020-{i:05d}", now - timedelta(days=3, minutes=i),
                                                         now - timedelta(days=1, minutes=i), text=long_text))
             for i in range(3000)]
    workbook.append(cases)
    svc = build(settings_for(tmp_path), clock=clock, workbook=workbook, mailer=mailer)
    report = daily_job(svc)
    assert len(report.marked_overdue) == 3000
    assert report.email_bytes < 1_000_000
    (mail,) = digest_mails(mailer)
    assert "dan 2990 aduan lainnya" in mail.text


def _filled(schema, tabs: int, rows: int, now) -> MemoryWorkbook:
    workbook = MemoryWorkbook(schema)
    workbook.bootstrap()
    keys = [o.key for o in schema.opds][:tabs]
    workbook.append([NewCase(keys[i % tabs], _row(f"KMC-261020-{i:05d}", now - timedelta(hours=50 + i % 7),
                                                   now + timedelta(hours=-2 if i % 2 else 5)))
                     for i in range(tabs * rows)])
    workbook.requests.clear()
    return workbook


def test_store_requests_do_not_grow_with_tabs_and_rows(tmp_path, schema, clock):
    counts = []
    for tabs, rows in ((3, 5), (25, 60)):
        workbook = _filled(schema, tabs, rows, clock())
        svc = build(settings_for(tmp_path / str(tabs)), clock=clock, workbook=workbook, mailer=RecordingMailer())
        daily_job(svc)
        counts.append(dict(workbook.requests))
    assert counts[0] == counts[1]
    assert sum(counts[0].values()) <= 6


def test_dry_run_sends_nothing_and_records_nothing(dsvc, clock, mailer):
    intake(dsvc, complaint("jalan rusak parah", clock))
    clock.advance(days=3)
    report = daily_job(dsvc, dry_run=True)
    assert report.delivered == "dry-run" and report.opd_sent == {"PUTR": 1}
    assert mailer.sent == [] and dsvc.workbook.log_entries("digest") == []
