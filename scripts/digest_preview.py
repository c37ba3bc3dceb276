#!/usr/bin/env python
"""Render a realistic daily digest (and an OPD head's overdue list) to HTML files for review,
with the chart inlined, and optionally screenshot it with headless Chromium.

    python scripts/digest_preview.py [OUT_DIR] [--screenshot docs/screenshots/digest.png]

Synthetic data: 30 days of complaints over a dozen OPDs, answered on time, late or not at all,
some forwarded, two negative news items. Nothing is sent; nothing touches the network.
"""
from __future__ import annotations

import argparse
import base64
import random
import shutil
import subprocess
import sys
import tempfile
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from functions.bootstrap import build  # noqa: E402
from functions.config import Settings  # noqa: E402
from functions.schema import load_schema  # noqa: E402
from functions.services.jobs import daily_job  # noqa: E402
from functions.stores.port import NewCase  # noqa: E402
from tests.fakes.mailbox import RecordingMailer  # noqa: E402
from tests.fakes.memory_workbook import MemoryWorkbook  # noqa: E402

WIB_NOW = "2026-11-27T07:00:00+07:00"
# OPD: (share of on-time answers, late, never answered, cases in 30 days, sample complaints)
PROFILE = {
    "DLH": (0.92, 0.05, 0.03, 38, ["Sampah menumpuk di depan Pasar Rangga Sentap sudah seminggu",
                                   "Bau limbah dari parit dekat perumahan di Sukaharja"]),
    "PUTR": (0.55, 0.20, 0.25, 44, ["Jalan di Desa Sungai Awan Kiri rusak parah, banyak lubang",
                                    "Jembatan kayu di Dusun Pelang patah, anak sekolah memutar jauh"]),
    "DISHUB": (0.70, 0.15, 0.15, 26, ["Lampu PJU di Jalan Gajah Mada mati dua minggu",
                                      "Lampu lalu lintas di simpang Jalan Merdeka mati"]),
    "DINKES": (0.80, 0.10, 0.10, 21, ["Puskesmas Sandai sering tutup jam 11, pasien disuruh pulang",
                                      "Obat di Pustu Desa Kuala Satong kosong"]),
    "DISDUKCAPIL": (0.88, 0.08, 0.04, 25, ["KTP elektronik belum jadi tiga bulan, katanya blanko habis",
                                           "Akta kelahiran anak saya salah nama, sudah dua kali urus"]),
    "PDAM": (0.40, 0.25, 0.35, 18, ["Air PDAM di Kelurahan Sampit tidak mengalir tiga hari",
                                    "Tagihan air melonjak padahal meteran tidak jalan"]),
    "DINSOS": (0.75, 0.10, 0.15, 12, ["Bansos PKH ibu saya tidak cair lagi padahal terdaftar DTKS"]),
    "DISDIK": (1.0, 0.0, 0.0, 2, ["Atap SD di Desa Kuala Satong bocor, murid belajar kehujanan"]),
    "SATPOLPP": (0.60, 0.20, 0.20, 9, ["PKL berjualan di trotoar Jalan Diponegoro"]),
    "BPBD": (0.95, 0.05, 0.0, 11, ["Banjir setinggi lutut di Kecamatan Matan Hilir Selatan"]),
    "TRIASE": (0.85, 0.10, 0.05, 14, ["Min, mau tanya cara daftar bantuan modal usaha?"]),
}
CATEGORY = {"DLH": "Sampah dan lingkungan", "PUTR": "Jalan dan jembatan", "DISHUB": "Lampu jalan / lalu lintas",
            "DINKES": "Puskesmas dan layanan kesehatan", "DISDUKCAPIL": "KTP, KK, akta", "PDAM": "Air bersih",
            "DINSOS": "Bansos / PKH / DTKS", "DISDIK": "Sekolah", "SATPOLPP": "Ketertiban umum",
            "BPBD": "Bencana", "TRIASE": "Belum jelas"}
KECAMATAN = ["Delta Pawan", "Benua Kayong", "Matan Hilir Utara", "Sandai", "Kendawangan", "Muara Pawan"]


def sample_workbook(schema, now: datetime) -> MemoryWorkbook:
    rng = random.Random(27)
    workbook = MemoryWorkbook(schema, usage=(2_350_000, 10_000_000), with_links=True, sheet_id="1KmCAduanKetapang")
    workbook.bootstrap()
    cases = []
    n = 0
    for opd, (on_time, late, never, count, texts) in PROFILE.items():
        for _ in range(count):
            n += 1
            received = now - timedelta(minutes=rng.randrange(60 * 24 * 31))
            due = received + timedelta(hours=48)
            roll = rng.random()
            if roll < on_time:
                responded = received + timedelta(hours=rng.uniform(1, 46))
            elif roll < on_time + late:
                responded = due + timedelta(hours=rng.uniform(2, 60))
            else:
                responded = None
            if responded and responded > now:
                responded = None
            state = ("Tepat Waktu" if responded and responded <= due else "Terlambat Ditanggapi" if responded
                     else "Terlambat" if due < now - timedelta(hours=20) else "Berjalan")
            row = {
                "ticket_id": f"KMC-{received:%y%m%d}-{rng.randrange(36 ** 5):05X}"[:16],
                "received_at": received, "channel": rng.choice(["WhatsApp", "WhatsApp", "Formulir Web", "Facebook"]),
                "reporter": "Warga", "contact": "0813****3222", "text": rng.choice(texts),
                "location": f"Kecamatan {rng.choice(KECAMATAN)}", "category": CATEGORY[opd], "sentiment": "Negatif",
                "status": "Selesai" if responded else "Baru", "response": "Sudah ditindaklanjuti." if responded else "",
                "deadline": due, "responded_at": responded, "sla": state,
            }
            if n % 17 == 0:
                row["forward_history"] = f"{received + timedelta(hours=3):%Y-%m-%d %H:%M} TRIASE → {opd}"
            cases.append(NewCase(opd, row))
    for i, (opd, title, link) in enumerate([
        ("PUTR", "Jalan poros Ketapang–Sukadana rusak, warga tanam pisang di tengah jalan", "https://berita.test/a"),
        ("DINKES", "Warga keluhkan antrean panjang dan dokter tidak ada di RSUD", "https://berita.test/b"),
    ]):
        received = now - timedelta(hours=5 + 6 * i)
        cases.append(NewCase(opd, {
            "ticket_id": f"KMC-261126-M{i}EDIA", "received_at": received, "channel": "Media Massa",
            "reporter": "Pontianak Post" if i == 0 else "Tribun Ketapang", "text": title, "link": link,
            "sentiment": "Negatif", "status": "Baru", "deadline": received + timedelta(hours=48), "sla": "Berjalan",
        }))
    workbook.append(cases)
    workbook.log_add_many([])
    from functions.stores.port import LogEntry

    workbook.log_add(LogEntry("problem", "x:forward", now - timedelta(hours=3),
                              "KMC-261125-7QH2A (PUTR): Teruskan ke \"Dinas Jalan\" tidak dikenal; isi dengan kode "
                              "OPD (mis. PUTR, DINKES, TRIASE). Aduan tetap di tab ini."))
    return workbook


def inline_images(mail) -> str:
    html = mail.html
    for image in mail.images:
        data = base64.b64encode(image.data).decode()
        html = html.replace(f"cid:{image.cid}", f"data:image/{image.subtype};base64,{data}")
    return html


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, default=Path(tempfile.mkdtemp(prefix="kmc-digest-")))
    parser.add_argument("--screenshot", type=Path, help="PNG to write with headless Chromium (phone width)")
    args = parser.parse_args(argv)
    now = datetime.fromisoformat(WIB_NOW)
    schema = load_schema()
    heads = {"PUTR": "kadis.putr@ketapangkab.go.id"}
    schema = replace(schema, opds=tuple(replace(o, head_email=heads.get(o.key, "")) for o in schema.opds))
    mailer = RecordingMailer()
    with tempfile.TemporaryDirectory() as data:
        settings = Settings.from_env({"KMC_DATA_DIR": data, "DIGEST_TO": "bupati@ketapangkab.go.id"})
        svc = build(settings, schema=schema, workbook=sample_workbook(schema, now), mailer=mailer,
                    clock=lambda: now)
        report = daily_job(svc, now)
    args.out.mkdir(parents=True, exist_ok=True)
    digest = next(m for m in mailer.sent if m.tag.startswith("digest-"))
    (args.out / "digest.html").write_text(inline_images(digest), encoding="utf-8")
    (args.out / "digest.txt").write_text(digest.text, encoding="utf-8")
    opd = next(m for m in mailer.sent if m.tag.startswith("terlambat-"))
    (args.out / "opd-overdue.html").write_text(opd.html, encoding="utf-8")
    print(f"{report.summary()}\n{args.out / 'digest.html'}  ({report.email_bytes / 1024:.0f} KB as email)")
    if args.screenshot:
        browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
        if not browser:
            print("no chromium found: apt-get install -y chromium", file=sys.stderr)
            return 1
        args.screenshot.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        "--force-device-scale-factor=1", "--window-size=480,2900",
                        f"--screenshot={args.screenshot.resolve()}", (args.out / "digest.html").resolve().as_uri()],
                       check=True, capture_output=True, timeout=120)
        print(args.screenshot)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
