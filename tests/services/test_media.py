"""The media job and its alerts, over feeds served on loopback and the embedded store.

The detector is a small fake (negative when the text has a complaint word) so these tests
state the job's rules — relevance, memory, near-duplicates, dates, alerts, failures — not the
lexicon's; the router is the real one.
"""
from __future__ import annotations

import email
import socket
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from email import policy
from pathlib import Path
from xml.sax.saxutils import escape

import pytest

from functions.bootstrap import build
from functions.feeds.fetch import FeedFetcher, check_url
from functions.feeds.model import FeedFailure
from functions.feeds.parse import parse_feed, plain_text
from functions.config import Settings
from functions.mail.outbox import OutboxMailer
from functions.model import Sentiment, StorageUnavailable
from functions.schema import load_schema
from functions.journal import FEED_STATE, MEDIA_SEEN
from functions.services.media import media_job
from functions.services.media_config import FetchLimits, load_media_config
from functions.services.media_memory import similarity, title_key
from tests.fakes.clock import WIB
from tests.fakes.feed_server import FeedServer, Route

NEGATIVE_WORDS = ("rusak", "keluh", "protes", "banjir", "mati", "kecewa", "ambruk", "korban")


def fake_classify(text: str) -> tuple[Sentiment, float]:
    if any(w in text.lower() for w in NEGATIVE_WORDS):
        return Sentiment.NEGATIVE, 0.9
    return Sentiment.NEUTRAL, 0.1


def rss(*items: dict, title: str = "Kabar Ketapang") -> bytes:
    parts = []
    for it in items:
        fields = [f"<title>{escape(it['title'])}</title>"]
        if it.get("link", True):
            fields.append(f"<link>{escape(it.get('link') or 'https://kabarketapang.example/' + str(abs(hash(it['title']))))}</link>")
        if it.get("date"):
            fields.append(f"<pubDate>{it['date']}</pubDate>")
        if it.get("lead"):
            fields.append(f"<description>{escape(it['lead'])}</description>")
        if it.get("source"):
            fields.append(f'<source url="https://{it["source"].lower().replace(" ", "")}.example">{escape(it["source"])}</source>')
        parts.append("<item>" + "".join(fields) + "</item>")
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{escape(title)}</title>'
            + "".join(parts) + "</channel></rss>").encode()


TODAY = "Mon, 02 Nov 2026 07:00:00 +0700"
JALAN = {"title": "Jalan Rusak di Sandai Dikeluhkan Warga", "date": TODAY,
         "link": "https://kabarketapang.example/jalan-rusak-sandai", "lead": "Warga Sandai menanam pisang."}
LAMPU = {"title": "Lampu Jalan Mati di Air Upas Sebulan", "date": TODAY,
         "link": "https://kabarketapang.example/lampu-air-upas"}
JEMBATAN = {"title": "Bupati Ketapang Resmikan Jembatan di Kendawangan", "date": TODAY,
            "link": "https://kabarketapang.example/jembatan"}


@pytest.fixture
def server():
    srv = FeedServer().start()
    yield srv
    srv.stop()


def make_svc(tmp_path, clock, server, paths, *, env=None, **overrides):
    settings = Settings.from_env({
        "KMC_DATA_DIR": str(tmp_path / "data"),
        "DIGEST_TO": "kominfo@example.go.id",
        "KMC_MEDIA_FEEDS": ",".join(server.url(p) for p in paths),
        "KMC_FEEDS_ALLOW_PRIVATE": "true",
        **(env or {}),
    })
    cfg = replace(load_media_config(), fetch=FetchLimits(1, 1, 3, 1, 3))
    overrides.setdefault("media_config", cfg)
    svc = build(settings, clock=clock, classify=fake_classify, **overrides)
    svc.workbook.bootstrap()
    return svc


def cases(svc) -> list[tuple[str, dict]]:
    return [(tab, r) for tab, rows in svc.workbook.read_all().items() for r in rows]


def mails(svc) -> list[email.message.EmailMessage]:
    return [email.message_from_bytes(f.read_bytes(), policy=policy.default)
            for f in sorted(Path(svc.settings.outbox_dir).glob("*.eml"))]


# --- relevance ------------------------------------------------------------------------------

@pytest.mark.parametrize("text,relevant", [
    ("Jalan rusak di Kecamatan Sandai", True),  # a kecamatan
    ("Warga Sei Laur keluhkan jembatan", True),  # a spelling variant of Sungai Laur
    ("Banjir di Tumbang Titi", True),
    ("Pelayanan RSUD dr. Agoesdjam dikeluhkan", True),  # an institution, punctuation ignored
    ("Air PDAM Tirta Pawan keruh", True),
    ("Wakil Bupati Ketapang tinjau pasar", True),  # an official by title
    ("Sekda Ketapang pimpin apel", True),
    ("DPRD Ketapang sahkan perda", True),
    ("Banjir rendam Ketapang, ratusan rumah terendam", True),  # "Ketapang" alone, no other region
    ("Antrean di Pelabuhan Ketapang mengular", False),  # the Banyuwangi harbour
    ("Ketapang, Banyuwangi: kapal tertunda", False),
    ("Warga Ketapang, Sampang, Madura protes", False),
    ("Banjir di Hulu Sungai Selatan", False),  # South Kalimantan, not our Hulu Sungai
    ("Pontianak gelar lomba sampan", False),
    ("Bupati Ketapang kunjungi Jakarta", True),  # a strong term wins over another region
])
def test_relevance_terms(text, relevant):
    assert (load_media_config().relevance.match(text) is not None) is relevant


def test_configured_terms_make_items_relevant(tmp_path):
    cfg = load_media_config()
    assert cfg.relevance.match("Proyek Jalan Lingkar Bumi Kayong molor") is None
    extra = replace(cfg.relevance, strong=cfg.relevance.strong + ("jalan lingkar bumi kayong",))
    assert replace(cfg, relevance=extra).relevance.match("Proyek Jalan Lingkar Bumi Kayong molor")


# --- near-duplicate titles ------------------------------------------------------------------

@pytest.mark.parametrize("a,b,same", [
    ("Jalan Rusak Parah di Sandai, Warga Tanam Pohon Pisang",
     "Jalan rusak parah di Sandai, warga tanam pohon pisang", True),
    ("Jalan Rusak Parah di Sandai, Warga Tanam Pohon Pisang",
     "Jalan Rusak Parah di Sandai Warga Tanam Pisang", True),
    ("Warga Sandai Keluhkan Jalan Rusak Parah", "Jalan Rusak Parah, Warga Sandai Keluhkan", True),
    ("Jalan Rusak Parah di Sandai, Warga Tanam Pohon Pisang",
     "Jalan Rusak Parah di Marau, Warga Blokir Jalan", False),
    ("Banjir Rendam Kendawangan", "Bupati Resmikan Jembatan Kendawangan", False),
])
def test_title_similarity(a, b, same):
    assert (similarity(title_key(a), title_key(b)) >= load_media_config().title_similarity) is same


# --- the job --------------------------------------------------------------------------------

def test_negative_items_become_cases_and_others_are_only_counted(tmp_path, clock, server):
    server.routes["/f"] = Route(rss(JALAN, LAMPU, JEMBATAN, {"title": "Lomba sampan di Pontianak", "date": TODAY}))
    svc = make_svc(tmp_path, clock, server, ["/f"])
    report = media_job(svc)
    stored = cases(svc)
    assert sorted(tab for tab, _ in stored) == ["DISHUB", "PUTR"]
    assert all(r["channel"] == "Media Massa" and r["sentiment"] == "Negatif" for _, r in stored)
    assert (report.relevant_new, report.negative, report.non_negative, report.irrelevant) == (3, 2, 1, 1)
    assert "3 relevan baru: 2 negatif (2 aduan baru), 1 netral/positif" in report.summary()


def test_a_seen_link_is_a_no_op_even_when_the_feed_is_served_again_in_full(tmp_path, clock, server):
    server.routes["/f"] = Route(rss(JALAN, JEMBATAN))  # no ETag, no Last-Modified
    svc = make_svc(tmp_path, clock, server, ["/f"])
    media_job(svc)
    clock.advance(hours=1)
    again = media_job(svc)
    assert again.fetched == 1 and again.already_seen == 2 and again.relevant_new == 0
    assert len(cases(svc)) == 1 and len(mails(svc)) == 1


def test_the_same_story_from_another_outlet_next_hour_is_skipped(tmp_path, clock, server):
    server.routes["/a"] = Route(rss(JALAN))
    svc = make_svc(tmp_path, clock, server, ["/a", "/b"])
    server.routes["/b"] = Route(b"", status=404)
    media_job(svc)
    clock.advance(hours=1)
    other = dict(JALAN, title="Jalan rusak di Sandai dikeluhkan warga!", link="https://lain.example/jalan")
    server.routes["/b"] = Route(rss(other, title="Media Lain"))
    report = media_job(svc)
    assert report.near_duplicates == 1 and report.cases_created == 0
    # days later the same words are a new story (titles are compared over `title_days`)
    clock.advance(days=4)
    late = dict(other, link="https://lain.example/jalan-lagi", date="Fri, 06 Nov 2026 09:00:00 +0700")
    server.routes["/b"] = Route(rss(late, title="Media Lain"))
    assert media_job(svc).cases_created == 1


def test_dates_old_items_are_skipped_future_or_missing_dates_mean_now(tmp_path, clock, server):
    old = dict(JALAN, link="https://k.example/lama", date="Mon, 05 Oct 2026 07:00:00 +0700")
    future = dict(LAMPU, date="Tue, 01 Dec 2026 07:00:00 +0700")
    undated = {"title": "Banjir di Kendawangan, warga mengungsi", "link": "https://k.example/banjir"}
    server.routes["/f"] = Route(rss(old, future, undated))
    svc = make_svc(tmp_path, clock, server, ["/f"])
    report = media_job(svc)
    assert report.stale == 1 and report.cases_created == 2 and report.notes["no_date"] == 1
    assert {r["received_at"] for _, r in cases(svc)} == {clock()}


def test_google_news_titles_lose_the_outlet_suffix_and_keep_the_outlet(tmp_path, clock, server):
    item = dict(JALAN, title="Jalan Rusak di Sandai Dikeluhkan Warga - Pontianak Post", source="Pontianak Post",
                lead="")
    server.routes["/g"] = Route(rss(item, title='"Kabupaten Ketapang" - Google Berita'))
    svc = make_svc(tmp_path, clock, server, ["/g"])
    media_job(svc)
    [(_, row)] = cases(svc)
    assert row["text"] == "[Pontianak Post] Jalan Rusak di Sandai Dikeluhkan Warga"


def test_dry_run_reads_but_writes_and_sends_nothing(tmp_path, clock, server):
    server.routes["/f"] = Route(rss(JALAN), etag='"1"')
    svc = make_svc(tmp_path, clock, server, ["/f"])
    report = media_job(svc, dry_run=True)
    assert report.negative == 1 and report.cases_created == 0
    assert cases(svc) == [] and mails(svc) == [] and svc.workbook.log_entries() == []
    assert "UJI COBA" in report.summary()
    assert media_job(svc).cases_created == 1  # and the real run still finds it


def test_feed_state_is_written_only_when_it_changes(tmp_path, clock, server):
    server.routes["/f"] = Route(rss(JALAN), etag='"1"')
    svc = make_svc(tmp_path, clock, server, ["/f"])
    media_job(svc)
    for _ in range(3):
        clock.advance(hours=1)
        assert media_job(svc).unchanged == 1
    assert len(svc.workbook.log_entries(FEED_STATE)) == 1
    server.routes["/f"] = Route(rss(JALAN, LAMPU), etag='"2"')
    clock.advance(hours=1)
    report = media_job(svc)
    assert report.fetched == 1 and report.cases_created == 1 and report.already_seen == 1
    assert len(svc.workbook.log_entries(FEED_STATE)) == 2
    assert server.requests_to("/f")[-1].headers["If-None-Match"] == '"1"'


# --- alerts ---------------------------------------------------------------------------------

def test_one_alert_per_opd_to_its_head_listing_every_item(tmp_path, clock, server):
    schema = load_schema()
    heads = tuple(replace(o, head_email="kadis.putr@ketapangkab.go.id") if o.key == "PUTR" else o
                  for o in schema.opds)
    second_road = {"title": "Jembatan Ambruk di Marau, Warga Terisolasi", "date": TODAY,
                   "link": "https://kabarketapang.example/jembatan-ambruk-marau"}
    server.routes["/f"] = Route(rss(JALAN, second_road, LAMPU))
    svc = make_svc(tmp_path, clock, server, ["/f"], schema=replace(schema, opds=heads),
                   is_grave=lambda text: "Ambruk" in text)
    report = media_job(svc)
    by_to = {m["To"]: m for m in mails(svc)}
    assert set(by_to) == {"kadis.putr@ketapangkab.go.id", "kominfo@example.go.id"}
    putr = by_to["kadis.putr@ketapangkab.go.id"]
    assert putr["Subject"] == "[KMC] PENTING: 2 informasi negatif di media massa untuk PUTR"
    text = putr.get_body(("plain",)).get_content()
    assert text.startswith("Yth. Kepala Dinas Pekerjaan Umum dan Tata Ruang,")
    assert text.index("[PENTING] [Kabar Ketapang] Jembatan Ambruk") < text.index("Jalan Rusak di Sandai")
    assert "https://kabarketapang.example/jalan-rusak-sandai" in text and "No. Tiket: KMC-261102-" in text
    html = putr.get_body(("html",)).get_content()
    assert "Jembatan Ambruk di Marau" in html and "<script" not in html
    fallback = by_to["kominfo@example.go.id"].get_body(("plain",)).get_content()
    assert "belum diisi; email ini dikirim ke alamat cadangan KMC" in fallback  # DISHUB has no head_email
    assert [opd for opd, _, _ in report.alerts.sent] == ["PUTR", "DISHUB"]


def test_without_digest_recipients_alerts_go_to_kmc_itself(tmp_path, clock, server):
    server.routes["/f"] = Route(rss(JALAN))
    svc = make_svc(tmp_path, clock, server, ["/f"], env={"DIGEST_TO": "", "MAIL_FROM": "KMC <kmc@ketapangkab.go.id>"})
    media_job(svc)
    assert [m["To"] for m in mails(svc)] == ["kmc@ketapangkab.go.id"]


class FlakyMailer(OutboxMailer):
    """Refuses mail for one OPD, delivers the rest to the outbox."""

    def __init__(self, outbox, refuse_tag):
        super().__init__(outbox, "KMC <kmc@localhost>")
        self.refuse_tag = refuse_tag

    def send(self, mail):
        if mail.tag == self.refuse_tag:
            raise ConnectionRefusedError("smtp down")
        return super().send(mail)


def test_a_failing_alert_email_is_reported_and_does_not_stop_the_others(tmp_path, clock, server):
    server.routes["/f"] = Route(rss(JALAN, LAMPU))
    svc = make_svc(tmp_path, clock, server, ["/f"],
                   mailer=FlakyMailer(tmp_path / "data" / "outbox", "alert-PUTR"))
    report = media_job(svc)
    assert report.alerts.failed and report.alerts.failed[0][0] == "PUTR"
    assert [opd for opd, _, _ in report.alerts.sent] == ["DISHUB"]
    assert len(cases(svc)) == 2  # the cases are stored whatever the mail does
    assert "GAGAL (PUTR)" in report.summary()


class FailingAfter:
    """A workbook whose appends fail after `n` rows (the Sheets API going away mid-run)."""

    def __init__(self, inner, n):
        self.inner, self.n = inner, n

    def append(self, cases):
        if self.n <= 0:
            raise StorageUnavailable("sheets down")
        self.n -= len(cases)
        return self.inner.append(cases)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_storage_failure_stops_the_run_alerts_what_was_stored_and_the_next_run_resumes(tmp_path, clock, server):
    server.routes["/f"] = Route(rss(JALAN, LAMPU), etag='"x"')
    svc = make_svc(tmp_path, clock, server, ["/f"])
    real = svc.workbook
    svc.workbook = FailingAfter(real, 1)
    with pytest.raises(StorageUnavailable):
        media_job(svc)
    assert len(cases(svc)) == 1 and len(mails(svc)) == 1  # the stored one was alerted
    # nothing remembered (the next run reads the feed again); only the alert that went is recorded
    assert real.log_entries(FEED_STATE) == [] and real.log_entries(MEDIA_SEEN) == []
    assert [e.kind for e in real.log_entries()] == ["notify"]
    svc.workbook = real
    clock.advance(hours=1)
    report = media_job(svc)
    assert report.fetched == 1 and report.cases_created == 1 and len(cases(svc)) == 2
    assert len(mails(svc)) == 2  # only the new case is alerted


# --- fetching and parsing -------------------------------------------------------------------

def test_a_trickling_server_cannot_hold_the_job(server):
    server.routes["/pelan"] = Route(rss(JALAN), trickle=0.05)
    with pytest.raises(FeedFailure) as e:
        FeedFetcher(allow_private=True, read_timeout=1, total_seconds=0.5).fetch(server.url("/pelan"))
    assert e.value.reason == "timeout"


def test_a_declared_huge_body_is_refused_before_reading(server):
    server.routes["/besar"] = Route(b"x" * 300_000)
    with pytest.raises(FeedFailure) as e:
        FeedFetcher(allow_private=True, max_bytes=100_000).fetch(server.url("/besar"))
    assert e.value.reason == "too_large" and "Content-Length" in str(e.value)


def test_a_feed_briefly_unavailable_is_retried_once_on_the_shared_http_policy(server):
    """The fetch runs on functions/http_client.py: a 503 is retried after a jittered pause (at
    most RETRIES more tries); a feed still failing after that is an http_error for this run."""
    server.routes["/sibuk"] = Route(rss(JALAN), unavailable=1)
    pauses: list[float] = []
    got = FeedFetcher(allow_private=True, sleep=pauses.append).fetch(server.url("/sibuk"))
    assert got.status == 200 and b"Sandai" in got.body and len(pauses) == 1
    assert [s.status for s in server.requests_to("/sibuk")] == [503, 200]
    server.routes["/mati"] = Route(rss(JALAN), unavailable=5)
    with pytest.raises(FeedFailure) as e:
        FeedFetcher(allow_private=True, sleep=pauses.append).fetch(server.url("/mati"))
    assert e.value.reason == "http_error" and len(server.requests_to("/mati")) == 2


def test_redirects_are_followed_up_to_the_limit_and_each_hop_is_checked(server):
    server.routes["/ok"] = Route(rss(JALAN))
    for i in range(4):
        server.routes[f"/r{i}"] = Route(status=301, location=f"/r{i + 1}" if i < 3 else "/ok")
    fetcher = FeedFetcher(allow_private=True, max_redirects=5)
    assert fetcher.fetch(server.url("/r0")).url == server.url("/ok")
    with pytest.raises(FeedFailure) as e:
        FeedFetcher(allow_private=True, max_redirects=2).fetch(server.url("/r0"))
    assert e.value.reason == "redirect_loop"
    server.routes["/ke-file"] = Route(status=302, location="file:///etc/passwd")
    with pytest.raises(FeedFailure) as e:
        fetcher.fetch(server.url("/ke-file"))
    assert e.value.reason == "refused"


def resolver(table):
    def resolve(host, port, **kw):
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                for a in table[host]]
    return resolve


@pytest.mark.parametrize("url,addresses,refused", [
    ("https://news.google.com/rss", ["142.250.4.100"], False),
    ("http://intranet.example/rss", ["10.1.2.3"], True),
    ("http://metadata.example/computeMetadata", ["169.254.169.254"], True),
    ("http://localhost.example/rss", ["127.0.0.1"], True),
    ("http://v6.example/rss", ["::1"], True),
    ("http://mapped.example/rss", ["::ffff:192.168.1.1"], True),
    ("http://mixed.example/rss", ["142.250.4.100", "192.168.0.9"], True),
    ("ftp://news.google.com/rss", ["142.250.4.100"], True),
    ("https://user:pw@news.google.com/rss", ["142.250.4.100"], True),
])
def test_ssrf_guard(url, addresses, refused):
    from urllib.parse import urlsplit

    resolve = resolver({urlsplit(url).hostname: addresses})
    if refused:
        with pytest.raises(FeedFailure) as e:
            check_url(url, allow_private=False, resolve=resolve)
        assert e.value.reason == "refused"
    else:
        check_url(url, allow_private=False, resolve=resolve)


def test_parsing_never_opens_local_files(tmp_path):
    secret = tmp_path / "secret.xml"
    secret.write_bytes(rss(JALAN))
    with pytest.raises(FeedFailure):  # the body is a path: it is not a feed, it is not opened
        parse_feed(str(secret).encode(), url="http://x/")


@pytest.mark.parametrize("raw,plain", [
    ("<b>Sampah</b> menumpuk", "Sampah menumpuk"),
    ("&lt;i&gt;Banjir&lt;/i&gt; &amp; longsor", "Banjir & longsor"),
    ("Jalan<br/>rusak <script>alert(1)</script>parah", "Jalan rusak parah"),
    ("  spasi\n\tberlebih  ", "spasi berlebih"),
])
def test_plain_text(raw, plain):
    assert plain_text(raw) == plain


def test_long_leads_are_cut_at_a_sentence(tmp_path):
    lead = "Kalimat pertama tentang jalan rusak di Sandai. " * 20
    [item] = parse_feed(rss(dict(JALAN, lead=lead)), url="http://x/").items
    assert len(item.lead) <= 300 and item.lead.endswith(".")


def test_an_item_that_cannot_be_stored_is_skipped_and_the_run_goes_on(tmp_path, clock, server):
    giant = dict(LAMPU, title="Warga Sandai keluhkan jalan rusak " + "sangat " * 2000)
    server.routes["/f"] = Route(rss(giant, JALAN))

    def picky_router(text):
        from functions.routing import load_rules, route

        if "sangat sangat" in text:
            raise RuntimeError("router bug")
        return route(text, load_rules())

    svc = make_svc(tmp_path, clock, server, ["/f"], route=picky_router)
    report = media_job(svc)
    assert report.notes["item_error"] == 1 and report.cases_created == 1
    assert "1 berita gagal diproses" in report.summary()


def test_titles_are_capped(tmp_path):
    [item] = parse_feed(rss(dict(JALAN, title="Jalan rusak di Sandai " + "panjang " * 200)), url="http://x/").items
    assert len(item.title) <= 401 and item.title.endswith("…")


# --- on the Google store (gspread over the fake Sheets API) ---------------------------------

class StaticFeeds:
    """A fetcher serving fixed bodies and honouring ETags (stands in for HTTP where
    `responses` already owns `requests` for the Sheets API)."""

    def __init__(self, feeds: dict[str, tuple[bytes, str]]):
        self.feeds = feeds
        self.conditional: list[str] = []

    def fetch(self, url, validators):
        from functions.feeds.model import Fetched, Validators

        body, etag = self.feeds[url]
        if validators.etag == etag:
            self.conditional.append(url)
            return Fetched(url, 304, b"", "", validators)
        return Fetched(url, 200, body, "application/rss+xml", Validators(etag))


def test_the_job_keeps_its_state_in_the_sheet_and_an_unchanged_run_costs_one_read(tmp_path, clock):
    from tests.adapters.sheets_env import sheets_env

    feeds = StaticFeeds({"https://a.example/rss": (rss(JALAN, JEMBATAN), '"a1"'),
                         "https://b.example/rss": (rss(LAMPU, title="Kabar Lain"), '"b1"')})
    settings = Settings.from_env({"KMC_DATA_DIR": str(tmp_path / "d"), "DIGEST_TO": "kominfo@example.go.id",
                                  "KMC_MEDIA_FEEDS": ",".join(feeds.feeds)})
    with sheets_env() as env:
        env.workbook().bootstrap()
        env.contacts().bootstrap()

        def instance():  # a fresh Cloud Functions instance: cold caches, state only in the sheet
            return build(settings, clock=clock, classify=fake_classify, workbook=env.workbook(),
                         contacts=env.contacts(), feed_fetcher=feeds)

        env.fake.reset_counts()
        first = media_job(instance())
        assert first.cases_created == 2 and first.non_negative == 1
        # rows + contacts + ONE Log append (feed state, links seen and the alerts sent, together)
        assert env.fake.write_requests == 2 * first.cases_created + 1
        clock.advance(hours=1)
        env.fake.reset_counts()
        second = media_job(instance())
        assert second.unchanged == 2 and feeds.conditional == list(feeds.feeds)
        assert (env.fake.read_requests, env.fake.write_requests) == (1, 0)
        assert sorted(env.tickets("PUTR") + env.tickets("DISHUB")) == sorted(first.tickets)


def test_entity_definitions_are_never_expanded(tmp_path):
    secret = tmp_path / "rahasia.txt"
    secret.write_text("RAHASIA-LOKAL")
    chain = "".join(f'<!ENTITY l{i} "' + f"&l{i - 1};" * 10 + '">' for i in range(2, 10))
    doc = (f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY l1 "lol">{chain}'
           f'<!ENTITY x SYSTEM "file://{secret}">]><rss version="2.0"><channel><title>T</title>'
           f"<item><title>Banjir Ketapang &l9; &x;</title><link>http://a.example/b</link></item>"
           f"</channel></rss>").encode()
    parsed = parse_feed(doc, url="http://x/")
    [item] = parsed.items
    assert "lollol" not in item.title and "RAHASIA" not in item.title and parsed.broken


@pytest.mark.parametrize("doc,stripped", [
    (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "b"><!ENTITY c "&a;&a;">]><rss/>', b'<?xml version="1.0"?><rss/>'),
    (b'<!-- x --><!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" "x.dtd">\n<rss/>',
     b"<!-- x -->\n<rss/>"),
    (b"<rss><title>&lt;!DOCTYPE&gt;</title></rss>", b"<rss><title>&lt;!DOCTYPE&gt;</title></rss>"),
])
def test_the_doctype_is_removed_before_parsing(doc, stripped):
    """Nested entity definitions cost feedparser's lenient parser seconds of CPU per kilobyte."""
    from functions.feeds.parse import strip_doctype

    assert strip_doctype(doc)[0] == stripped


def test_a_feed_with_thousands_of_items_is_read_up_to_the_cap(tmp_path, clock, server):
    flood = [{"title": f"Warga Sandai keluhkan jalan rusak nomor {i} {'x' * (i % 7)}", "date": TODAY,
              "link": f"https://banjir.example/{i}"} for i in range(1000)]
    server.routes["/f"] = Route(rss(*flood))
    svc = make_svc(tmp_path, clock, server, ["/f"])
    report = media_job(svc, dry_run=True)
    assert report.items == 1000 and report.notes["too_many"] == 800
    assert "800 berita melebihi batas per feed" in report.summary()
