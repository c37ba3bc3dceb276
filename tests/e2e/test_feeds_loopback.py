"""Media monitoring end to end: real-looking RSS 2.0 and Atom feeds from a loopback HTTP server,
the real router and negativity detector, the embedded store and the outbox mailer.

The sites: three honest outlets (one RSS in UTF-8 with an ETag, one Atom with Last-Modified,
one RSS in windows-1252), one in ISO-8859-1 declared only by its Content-Type, one with broken
XML, one huge, one that never answers in time, one redirecting in a loop and one gone (404).
"""
from __future__ import annotations

import email
from dataclasses import replace
from email import policy
from pathlib import Path

import pytest

from functions.bootstrap import build
from functions.config import Settings
from functions.model import TRIAGE, Sentiment
from functions.services.jobs import daily_job
from functions.services.media import media_job
from functions.services.media_config import FetchLimits, load_media_config
from tests.fakes.feed_server import FeedServer, Route

FULL_ARTICLE_MARKER = "PARAGRAF-KETIGA-ARTIKEL-LENGKAP"

TRIBUN = f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel>
  <title>Tribun Pontianak</title>
  <link>https://pontianak.tribunnews.com</link>
  <description>Berita Kalimantan Barat</description>
  <language>id</language>
  <item>
    <title>Jalan Rusak Parah di Sandai, Warga Tanam Pohon Pisang</title>
    <link>https://pontianak.tribunnews.com/2026/11/02/jalan-rusak-parah-di-sandai-warga-tanam-pohon-pisang</link>
    <guid>https://pontianak.tribunnews.com/2026/11/02/jalan-rusak-parah-di-sandai-warga-tanam-pohon-pisang</guid>
    <pubDate>Mon, 02 Nov 2026 06:15:00 +0700</pubDate>
    <description><![CDATA[<p>Warga Desa Sandai Kiri, Kecamatan Sandai, menanam pohon pisang di badan jalan yang berlubang sebagai bentuk protes. Jalan itu rusak parah sejak setahun lalu.</p>]]></description>
    <content:encoded><![CDATA[<p>Warga Desa Sandai Kiri menanam pohon pisang.</p><p>Paragraf kedua.</p><p>{FULL_ARTICLE_MARKER}: kutipan panjang narasumber.</p>]]></content:encoded>
  </item>
  <item>
    <title>Bupati Ketapang Resmikan Jembatan Baru di Kendawangan</title>
    <link>https://pontianak.tribunnews.com/2026/11/02/bupati-ketapang-resmikan-jembatan-baru</link>
    <pubDate>Mon, 02 Nov 2026 05:00:00 +0700</pubDate>
    <description>Jembatan sepanjang 60 meter itu menghubungkan dua desa dan memperlancar arus hasil kebun.</description>
  </item>
  <item>
    <title>Pontianak Gelar Lomba Sampan di Sungai Kapuas</title>
    <link>https://pontianak.tribunnews.com/2026/11/02/lomba-sampan-sungai-kapuas</link>
    <pubDate>Mon, 02 Nov 2026 04:00:00 +0700</pubDate>
    <description>Ratusan peserta mengikuti lomba sampan tahunan.</description>
  </item>
  <item>
    <title>Antrean Kendaraan Mengular di Pelabuhan Ketapang Banyuwangi, Penumpang Kecewa</title>
    <link>https://pontianak.tribunnews.com/2026/11/02/antrean-pelabuhan-ketapang-banyuwangi</link>
    <pubDate>Mon, 02 Nov 2026 03:00:00 +0700</pubDate>
    <description>Penumpang menunggu berjam-jam menuju Gilimanuk, Bali.</description>
  </item>
  <item>
    <title>&lt;b&gt;Sampah Menumpuk&lt;/b&gt; di Pasar Delta Pawan, Warga Keluhkan Bau</title>
    <link>https://pontianak.tribunnews.com/2026/11/02/sampah-menumpuk-di-pasar-delta-pawan?utm_source=rss</link>
    <pubDate>Mon, 02 Nov 2026 02:30:00 +0700</pubDate>
    <description>Tumpukan sampah di Pasar Delta Pawan sudah sepekan tidak diangkut petugas kebersihan.</description>
  </item>
  <item>
    <title>Warga Simpang Hulu Keluhkan Jembatan Ambruk dan Rusak Parah</title>
    <link>https://pontianak.tribunnews.com/2026/09/20/jembatan-ambruk-simpang-hulu</link>
    <pubDate>Sun, 20 Sep 2026 09:00:00 +0700</pubDate>
    <description>Berita lama: jembatan kayu ambruk.</description>
  </item>
</channel>
</rss>
""".encode("utf-8")

ANTARA = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>ANTARA News Kalimantan Barat</title>
  <id>https://kalbar.antaranews.com/</id>
  <updated>2026-11-02T07:45:00+07:00</updated>
  <entry>
    <title>Jalan rusak parah di Sandai, warga tanam pohon pisang</title>
    <link href="https://kalbar.antaranews.com/berita/600001/jalan-rusak-parah-di-sandai-warga-tanam-pohon-pisang"/>
    <id>tag:kalbar.antaranews.com,2026:600001</id>
    <updated>2026-11-02T06:40:00+07:00</updated>
    <summary>Ketapang (ANTARA) - Warga Sandai menanam pohon pisang di jalan berlubang.</summary>
  </entry>
  <entry>
    <title>Pasien RSUD Agoesdjam Keluhkan Pelayanan Lambat di IGD</title>
    <link href="https://kalbar.antaranews.com/berita/600002/pasien-rsud-agoesdjam-keluhkan-pelayanan-lambat"/>
    <id>tag:kalbar.antaranews.com,2026:600002</id>
    <updated>2026-11-02T07:10:00+07:00</updated>
    <summary type="html">&lt;p&gt;Keluarga pasien mengaku menunggu berjam-jam tanpa kejelasan di Instalasi Gawat Darurat.&lt;/p&gt;</summary>
  </entry>
  <entry>
    <title>DPRD Ketapang Gelar Rapat Paripurna Pembahasan APBD 2027</title>
    <link href="https://kalbar.antaranews.com/berita/600003/dprd-ketapang-rapat-paripurna-apbd-2027"/>
    <id>tag:kalbar.antaranews.com,2026:600003</id>
    <updated>2026-11-02T07:20:00+07:00</updated>
    <summary>Rapat dihadiri seluruh fraksi.</summary>
  </entry>
  <entry>
    <title>Air PDAM Tirta Pawan Keruh dan Sering Mati, Warga Protes</title>
    <link href="https://kalbar.antaranews.com/berita/600004/air-pdam-tirta-pawan-keruh"/>
    <id>tag:kalbar.antaranews.com,2026:600004</id>
    <summary>Pelanggan di Kecamatan Delta Pawan mengeluhkan air keruh selama sepekan.</summary>
  </entry>
</feed>
""".encode("utf-8")

KAYONG = """<?xml version="1.0" encoding="windows-1252"?>
<rss version="2.0">
<channel>
  <title>Suara Kayong</title>
  <link>https://suarakayong.co.id</link>
  <description>Berita Ketapang dan Kayong Utara</description>
  <item>
    <title>\u201cKebakaran Lahan\u201d di Matan Hilir Selatan \u2013 Warga Keluhkan Asap Tebal dan Sesak Napas</title>
    <link>https://suarakayong.co.id/2026/11/kebakaran-lahan-matan-hilir-selatan</link>
    <pubDate>Mon, 02 Nov 2026 01:00:00 +0000</pubDate>
    <description>Kebakaran lahan gambut di Kecamatan Matan Hilir Selatan membuat asap tebal menyelimuti permukiman; warga mengeluh sesak napas.</description>
  </item>
  <item>
    <title>Dana Desa di Kecamatan Marau Diduga Diselewengkan, Warga Protes</title>
    <guid isPermaLink="false">sk-2026-11-02-marau</guid>
    <pubDate>Mon, 02 Nov 2026 00:30:00 +0000</pubDate>
    <description>Warga mendatangi kantor desa menuntut transparansi penggunaan dana desa.</description>
  </item>
  <item>
    <title>Festival Budaya Tanah Kayong Meriah, Ribuan Warga Hadir</title>
    <pubDate>Sun, 01 Nov 2026 13:00:00 +0000</pubDate>
    <description>Festival tahunan ini menampilkan tari dan musik tradisional.</description>
  </item>
</channel>
</rss>
""".encode("cp1252")

# ISO-8859-1 declared only by the HTTP Content-Type (no XML declaration).
BORNEO = """<rss version="2.0"><channel><title>Borneo Caf\u00e9 News</title>
  <item>
    <title>Elpiji 3 Kg Langka di Sungai Melayu Rayak, Warga Kecewa dan Kesulitan Memasak</title>
    <link>https://borneonews.example/elpiji-langka-sungai-melayu-rayak</link>
    <pubDate>Mon, 02 Nov 2026 07:30:00 +0700</pubDate>
    <description>Warga dan pemilik caf\u00e9 di dekat pasar mengeluhkan elpiji yang sulit didapat sepekan terakhir.</description>
  </item>
</channel></rss>
""".encode("latin-1")

# Not well-formed: a bare "&" in a title, an unclosed <b>, no </rss>.
BROKEN = b"""<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Berita Kendawangan</title>
<item><title>Banjir Rendam Puluhan Rumah di Kendawangan & Warga Mengungsi</title><link>https://beritakendawangan.example/banjir</link><pubDate>Mon, 02 Nov 2026 05:00:00 +0700</pubDate><description>Banjir setinggi satu meter merendam puluhan rumah warga <b>sejak Minggu malam.</description></item>
<item><title>Warga Air Upas Keluhkan Lampu Jalan Mati Sebulan</title><link>https://beritakendawangan.example/lampu-jalan-air-upas</link><description>Lampu penerangan jalan umum di jalan utama Air Upas padam sejak sebulan lalu.</description></item>
</channel>"""

EXPECTED_CASES = {
    # (title fragment) -> OPD tab
    "Jalan Rusak Parah di Sandai": "PUTR",
    "Sampah Menumpuk di Pasar Delta Pawan": "DLH",
    "Pasien RSUD Agoesdjam": "RSUD",
    "Air PDAM Tirta Pawan": "PDAM",
    "Kebakaran Lahan": "BPBD",
    "Dana Desa di Kecamatan Marau": "DPMD",
    "Elpiji 3 Kg Langka": "DISPERINDAGKOP",
    "Banjir Rendam Puluhan Rumah": "BPBD",
    "Lampu Jalan Mati": "DISHUB",
}


@pytest.fixture
def server():
    srv = FeedServer({
        "/tribun/rss": Route(TRIBUN, etag='"tribun-v1"'),
        "/antara/atom": Route(ANTARA, content_type="application/atom+xml",
                              last_modified="Mon, 02 Nov 2026 00:45:00 GMT"),
        "/kayong/feed": Route(KAYONG, content_type="application/rss+xml", etag='W/"kayong-7"'),
        "/borneo/rss": Route(BORNEO, content_type="application/rss+xml; charset=ISO-8859-1",
                             last_modified="Mon, 02 Nov 2026 00:30:00 GMT"),
        "/kendawangan/rss": Route(BROKEN, content_type="text/xml; charset=utf-8"),
        "/besar/rss": Route(stream_bytes=3 * 1024 * 1024),
        "/lambat/rss": Route(TRIBUN, delay=3.0),
        "/putar/a": Route(status=302, location="/putar/b"),
        "/putar/b": Route(status=302, location="/putar/a"),
        "/hilang/rss": Route(status=404),
    }).start()
    yield srv
    srv.stop()


FEEDS = ["/tribun/rss", "/antara/atom", "/kayong/feed", "/borneo/rss", "/kendawangan/rss",
         "/besar/rss", "/lambat/rss", "/putar/a", "/hilang/rss"]


@pytest.fixture
def svc(tmp_path, server, clock):
    settings = Settings.from_env({
        "KMC_DATA_DIR": str(tmp_path / "data"),
        "KMC_ADMIN_TOKEN": "test-admin-token",
        "DIGEST_TO": "bupati@example.go.id",
        "KMC_MEDIA_FEEDS": ",".join(server.url(p) for p in FEEDS),
        "KMC_FEEDS_ALLOW_PRIVATE": "true",
    })
    fast = replace(load_media_config(), fetch=FetchLimits(connect_timeout_seconds=1, read_timeout_seconds=0.5,
                                                          total_seconds=2, max_megabytes=0.5, max_redirects=5))
    services = build(settings, clock=clock, media_config=fast)
    services.workbook.bootstrap()
    return services


def all_rows(svc):
    return [(tab, row) for tab, rows in svc.workbook.read_all().items() for row in rows]


def outbox(svc, tag: str) -> list[email.message.EmailMessage]:
    files = sorted(Path(svc.settings.outbox_dir).glob(f"*-{tag}*.eml"))
    return [email.message_from_bytes(f.read_bytes(), policy=policy.default) for f in files]


def test_two_runs_over_real_feeds(svc, server):
    first = media_job(svc)

    # every feed was tried; each failure is counted by its reason and did not stop the others
    assert first.feeds == 9 and first.fetched == 5 and first.unchanged == 0
    assert dict(first.failed) == {"too_large": 1, "timeout": 1, "redirect_loop": 1, "http_error": 1}
    assert first.broken == 1
    assert first.encodings == {"windows-1252": 1, "iso-8859-1": 1}
    assert first.notes["html_title"] == 1
    assert first.notes["no_date"] >= 2 and first.notes["no_link"] >= 2
    assert first.near_duplicates == 1 and first.stale == 1 and first.irrelevant == 2

    rows = all_rows(svc)
    assert len(rows) == len(EXPECTED_CASES) == first.cases_created == first.negative
    for fragment, opd in EXPECTED_CASES.items():
        [(tab, row)] = [(t, r) for t, r in rows if fragment.lower() in r["text"].lower()]
        assert tab in {opd, TRIAGE}, (fragment, tab)
        assert row["channel"] == "Media Massa" and row["sentiment"] == str(Sentiment.NEGATIVE)
    assert {tab for tab, _ in rows} == set(EXPECTED_CASES.values())  # the router placed them all

    by_text = {r["text"].split("]")[0] + "]": r for _, r in rows}
    assert set(by_text) == {"[Tribun Pontianak]", "[ANTARA News Kalimantan Barat]", "[Suara Kayong]",
                            "[Borneo Café News]", "[Berita Kendawangan]"}
    jalan = next(r for _, r in rows if "Sandai" in r["text"])
    assert jalan["text"].startswith("[Tribun Pontianak] Jalan Rusak Parah di Sandai, Warga Tanam Pohon Pisang — Warga Desa")
    assert FULL_ARTICLE_MARKER not in jalan["text"]  # a summary, not the article
    assert jalan["link"].startswith("https://pontianak.tribunnews.com/2026/11/02/jalan-rusak")
    assert jalan["received_at"].isoformat() == "2026-11-02T06:15:00+07:00"  # the item's own date
    sampah = next(r for _, r in rows if "Sampah" in r["text"])
    assert "<b>" not in sampah["text"] and "Sampah Menumpuk di Pasar" in sampah["text"]
    kebakaran = next(r for _, r in rows if "Kebakaran" in r["text"])
    assert "\u201cKebakaran Lahan\u201d di Matan Hilir Selatan \u2013 Warga" in kebakaran["text"]
    elpiji = next(r for _, r in rows if "Elpiji" in r["text"])
    assert "caf\u00e9" in elpiji["text"]
    pdam = next(r for _, r in rows if "PDAM" in r["text"])
    assert pdam["received_at"] == svc.now()  # no date in the feed: found now
    marau = next(r for _, r in rows if "Marau" in r["text"])
    assert marau["link"] == ""  # no link: still a case, identified by outlet + title

    # alerts: one email per OPD, listing its items, to the fallback address (no head_email yet)
    alerts = {m["Subject"]: m for m in outbox(svc, "alert")}
    assert len(alerts) == len(set(EXPECTED_CASES.values())) == len(first.alerts.sent)
    bpbd = next(m for s, m in alerts.items() if s.endswith("untuk BPBD"))
    body = bpbd.get_body(("plain",)).get_content()
    assert "Banjir Rendam Puluhan Rumah" in body and "Kebakaran Lahan" in body
    assert "bupati@example.go.id" in bpbd["To"]
    assert "informasi negatif di media massa" in bpbd["Subject"]

    # second run: every honest feed answers 304 to a conditional GET; nothing new anywhere
    before = len(server.seen)
    second = media_job(svc)
    assert second.unchanged == 4 and second.fetched == 1  # the broken feed has no validators
    assert second.relevant_new == 0 and second.cases_created == 0 and not second.alerts.sent
    assert len(all_rows(svc)) == len(EXPECTED_CASES)
    assert len(outbox(svc, "alert")) == len(alerts)
    again = {s.path: s for s in server.seen[before:]}
    assert again["/tribun/rss"].headers.get("If-None-Match") == '"tribun-v1"'
    assert again["/antara/atom"].headers.get("If-Modified-Since") == "Mon, 02 Nov 2026 00:45:00 GMT"
    assert again["/kayong/feed"].headers.get("If-None-Match") == 'W/"kayong-7"'
    assert {again[p].status for p in ("/tribun/rss", "/antara/atom", "/kayong/feed", "/borneo/rss")} == {304}
    assert "tidak berubah" in second.summary()


def test_daily_digest_lists_the_negative_coverage(svc, clock):
    media_job(svc)
    clock.advance(hours=1)
    before = set(Path(svc.settings.outbox_dir).glob("*.eml"))
    daily_job(svc)
    sent = [email.message_from_bytes(f.read_bytes(), policy=policy.default)
            for f in set(Path(svc.settings.outbox_dir).glob("*.eml")) - before]
    [digest] = [m for m in sent if "bupati@example.go.id" in m["To"]]  # the leadership digest
    text = digest.get_body(("plain",)).get_content()
    assert "PEMBERITAAN NEGATIF" in text.upper()
    section = text.upper().split("PEMBERITAAN NEGATIF", 1)[1]
    for fragment in ("JALAN RUSAK PARAH DI SANDAI", "PASIEN RSUD AGOESDJAM", "AIR PDAM TIRTA PAWAN"):
        assert fragment in section


def test_loopback_feeds_are_refused_unless_allowed(tmp_path, server, clock):
    settings = Settings.from_env({"KMC_DATA_DIR": str(tmp_path / "d"),
                                  "KMC_MEDIA_FEEDS": server.url("/tribun/rss") + ",file:///etc/passwd"})
    services = build(settings, clock=clock)
    services.workbook.bootstrap()
    report = media_job(services)
    assert dict(report.failed) == {"refused": 2}
    assert server.requests_to("/tribun/rss") == []  # never contacted
    assert all_rows(services) == []


def test_cli_media_dry_run_then_real_run(tmp_path, server, cli_env):
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    env = dict(cli_env, KMC_MEDIA_FEEDS=server.url("/tribun/rss") + "," + server.url("/hilang/rss"),
               KMC_FEEDS_ALLOW_PRIVATE="true")

    def media(*args):
        done = subprocess.run([sys.executable, "main.py", "media", "--now", "2026-11-02T08:00", *args],
                              cwd=root, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    subprocess.run([sys.executable, "main.py", "bootstrap"], cwd=root, env=env, check=True,
                   capture_output=True, timeout=120)
    dry = media("--dry-run")
    assert dry.startswith("media: 2 feed (1 dibaca, 0 tidak berubah, 1 gagal: http_error 1)")
    assert "UJI COBA" in dry and "! feed 127.0.0.1" in dry
    assert not list((Path(cli_env["KMC_DATA_DIR"]) / "outbox").glob("*.eml"))
    real = media()
    assert "2 aduan baru" in real and "peringatan: 2 email (PUTR, DLH)" in real
