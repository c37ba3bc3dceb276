"""`python main.py demo`: the whole complaint cycle on a fresh data dir, narrated.

Complaints go through the real intake service (and the real HTTP handlers of each channel),
staff answer through the same path as `edit`, the clock moves past 2 x 24 hours, then the
sweep and the daily job run. Prints what happened and where to look.
"""
from __future__ import annotations

import contextlib
import sys
import tempfile
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from .config import Settings
from .model import Channel, Complaint, Contact
from .timefmt import long_wib

if TYPE_CHECKING:
    from .services.context import Services

# (hours after start, channel, name, phone, text)
DEMO_COMPLAINTS = [
    (0.5, Channel.WHATSAPP, "Budi Santoso", "081234567801",
     "Assalamualaikum min, jalan di Desa Sungai Awan Kiri rusak parah, banyak lubang, motor sering jatuh"),
    (1.0, Channel.WHATSAPP, "Siti Aminah", "081234567802",
     "sampah di depan pasar kota numpuk sudah seminggu dak diangkut, baunya minta ampun"),
    (1.5, Channel.WEB_FORM, "Rudi Hartono", "081234567803",
     "Lampu jalan (PJU) di Jalan Gajah Mada mati sudah 2 minggu, gelap dan rawan"),
    (2.0, Channel.WHATSAPP, "", "081234567804",
     "KTP elektronik saya sudah 3 bulan belum jadi, katanya blanko habis"),
    (3.0, Channel.WEB_FORM, "Dewi Lestari", "081234567805",
     "Air PDAM di Kelurahan Sampit tidak mengalir 3 hari, pipa bocor di dekat masjid"),
    (4.0, Channel.WHATSAPP, "Ahmad Fauzi", "081234567806",
     "Puskesmas di Kecamatan Sandai sering tutup jam 11, pasien disuruh pulang"),
    (5.0, Channel.WHATSAPP, "Yusuf", "081234567807",
     "bansos PKH ibu saya tdk cair lagi, padahal masih terdaftar di DTKS"),
    (6.0, Channel.WEB_FORM, "Maria Ulfa", "081234567808",
     "Parit di Jalan Merdeka tersumbat, aek naik ke rumah warga tiap hujan"),
    (7.0, Channel.WHATSAPP, "Hendra", "081234567809",
     "listrik PLN padam tiap malam di Kendawangan, mohon diteruskan"),
    (8.0, Channel.WHATSAPP, "Nur Hasanah", "081234567810",
     "Banyak pedagang kaki lima berjualan di trotoar Jalan Diponegoro, pejalan kaki terpaksa turun ke jalan"),
    (9.0, Channel.WEB_FORM, "Agus Salim", "081234567811",
     "Sekolah SD di Desa Kuala Satong atapnya bocor, murid belajar kehujanan"),
    (10.0, Channel.WHATSAPP, "Lina", "081234567812",
     "min, mau tanya, gimana cara daftar ya?"),
]

# (complaint index, hours after start, status, response, responder)
DEMO_ANSWERS = [
    (1, 6.0, "Selesai", "Sampah sudah diangkut pagi ini dan jadwal angkut ditambah.", "Rina (DLH)"),
    (0, 20.0, "Diproses", "Tim PUTR sudah meninjau lokasi; perbaikan dijadwalkan minggu ini.", "Andi (PUTR)"),
    (3, 30.0, "Diproses", "Blanko sudah tersedia; silakan ambil di kantor Disdukcapil dengan bukti rekam.", "Sari"),
    (4, 52.0, "Selesai", "Pipa sudah diperbaiki, air kembali mengalir.", "Teknisi PDAM"),
]


@dataclass
class DemoClock:
    moment: datetime

    def __call__(self) -> datetime:
        return self.moment


def run_demo(data_dir: str | None, settings: Settings) -> int:
    """Run the tour; structured logs go to `demo.log` in the data dir so the story stays readable."""
    directory = Path(data_dir or (settings.data_dir if settings.data_dir_given else None) or tempfile.mkdtemp(prefix="kmc-demo-"))
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        # fictitious cases (and a digest marked sent for today) must never mix with real ones
        print(f"Demo tidak dijalankan: folder data {directory} tidak kosong (mungkin berisi aduan sungguhan). "
              "Jalankan demo tanpa KMC_DATA_DIR dan tanpa --data-dir (folder sementara baru dibuat), "
              "atau pilih folder baru yang kosong.", file=sys.stderr)
        return 2
    directory.mkdir(parents=True, exist_ok=True)
    settings = replace(
        settings, backend="local", data_dir=directory, smtp_host="", whatsapp_access_token="",
        admin_token=settings.admin_token or "demo-admin-token",
        whatsapp_app_secret=settings.whatsapp_app_secret or "demo-app-secret",
        whatsapp_verify_token=settings.whatsapp_verify_token or "demo-verify-token",
    )
    with open(directory / "demo.log", "a", encoding="utf-8") as logfile, contextlib.redirect_stderr(logfile):
        return _tour(directory, settings)


def _tour(directory: Path, settings: Settings) -> int:
    from .bootstrap import build

    tz = settings.tz
    start = (datetime.now(tz) - timedelta(days=3)).replace(hour=8, minute=0, second=0, microsecond=0)
    clock = DemoClock(start)
    svc = build(settings, clock=clock)

    print("== KMC Aduan — demo")
    print(f"Data: {directory}  (backend local, SQLite; tanpa akun Google)")
    _set_up(svc)
    receipts = _complaints_arrive(svc, clock, start)
    _staff_answer(svc, clock, start, receipts)
    daily = _three_days_later(svc, clock, start)
    _where_to_look(svc, directory, daily)
    return 0


def _set_up(svc: "Services") -> None:
    from .services.opd_directory import set_contact  # what `python main.py opd set` does
    from .services.setup import bootstrap_workbook

    actions = bootstrap_workbook(svc.workbook, svc.contacts)
    print(f"1. Bootstrap lembar kerja: {len(svc.schema.opds)} tab ({len(actions)} dibuat/diperbarui)")
    set_contact(svc, "PUTR", ["email=kadis.putr@example.org", "whatsapp=0812-0000-0001", "nama=Kepala (contoh)"])
    print("   Kontak kepala PUTR diisi (opd set): pengingat, daftar terlambat dan peringatan lewat email + WhatsApp")


def _complaints_arrive(svc: "Services", clock: DemoClock, start: datetime) -> list:
    print("2. Aduan masuk / complaints arrive:")
    receipts = []
    for i, (hours, channel, name, phone, text) in enumerate(DEMO_COMPLAINTS):
        clock.moment = start + timedelta(hours=hours)
        complaint = Complaint(text=text, channel=channel, received_at=svc.now(),
                              contact=Contact(name=name, phone=phone, channel_user_id=phone),
                              source_id=f"demo-{i}" if channel == Channel.WHATSAPP else "")
        receipt = submit_via_channel(svc, complaint)
        receipts.append(receipt)
        print(f"   {receipt.ticket_id}  {channel:<12} -> {receipt.opd:<13} {text[:52]}…")
    return receipts


def _staff_answer(svc: "Services", clock: DemoClock, start: datetime, receipts: list) -> None:
    from .services.jobs import sweep_job
    from .services.staff import staff_edit

    print("3. Petugas OPD menanggapi di lembar kerja / staff answer in the sheet:")
    for index, hours, status, response, responder in DEMO_ANSWERS:
        clock.moment = start + timedelta(hours=hours)
        ticket = receipts[index].ticket_id
        staff_edit(svc.workbook, svc.schema, ticket,
                   [f"status={status}", f"response={response}", f"responder={responder}"],
                   svc.settings.ticket_prefix)
        sweep = sweep_job(svc)
        print(f"   +{hours:>4.0f} jam  {ticket} dijawab ({status}); {sweep.summary()}")


def _three_days_later(svc: "Services", clock: DemoClock, start: datetime):
    from .services.jobs import daily_job, sweep_job

    clock.moment = start + timedelta(days=3, hours=-1)  # 07:00 WIB, three days later
    print(f"4. Jam dimajukan ke {long_wib(clock.moment)} (lewat 2 x 24 jam) / clock moved past 48 h")
    print(f"   {sweep_job(svc).summary()}")
    daily = daily_job(svc)
    print(f"   {daily.summary()}")
    digest = daily.digest
    totals = digest.totals
    print(f"5. Rekap: {totals['on_time']} tepat waktu, {totals['late']} terlambat ditanggapi, "
          f"{totals['overdue']} belum ditanggapi (terlambat), {totals['running']} berjalan")
    for case in digest.overdue:
        print(f"   TERLAMBAT {case.ticket_id} {case.opd_title:<16} umur {case.age_hours} jam")
    again = daily_job(svc)
    print(f"   Dijalankan ulang: {again.summary()}")
    return daily


def _where_to_look(svc: "Services", directory: Path, daily) -> None:
    from .services.export import export_xlsx

    xlsx = directory / "kmc-aduan.xlsx"
    export_xlsx(svc.workbook, svc.schema, xlsx)
    print("6. Lihat hasilnya / where to look:")
    print(f"   Email rekap (teks+HTML): {daily.delivered}")
    print(f"   Pratinjau HTML:          {Path(daily.delivered).with_suffix('.html')}")
    print(f"   Lembar kerja (.xlsx):    {xlsx}")
    print(f"   Pesan WhatsApp (outbox): {svc.settings.outbox_dir / 'whatsapp.jsonl'}")
    print(f"   Log terstruktur:         {directory / 'demo.log'}")
    print(f"   Isi tab:                 KMC_DATA_DIR={directory} python main.py sheet show")
    print("Selesai. / Done.")


def submit_via_channel(svc: "Services", complaint: Complaint):
    """Send a demo complaint through its channel's real handler when that channel exists."""
    if complaint.channel == Channel.WEB_FORM:
        return _submit_web_form(svc, complaint)
    if complaint.channel == Channel.WHATSAPP and complaint.source_id:
        return _submit_whatsapp(svc, complaint)
    from .services.intake import intake

    return intake(svc, complaint)


def _write_queued(svc: "Services") -> None:
    """The doors only queue; here the paced writer (serve's drain thread) stores at once."""
    from .services.intake_worker import drain_all

    drain_all(svc, svc.queue)


def _submit_whatsapp(svc: "Services", complaint: Complaint):
    """Meta's servers: a signed WhatsApp webhook POSTed to /meta; the ticket is read from the store."""
    import json

    from .channels.meta_parse import SIGNATURE_HEADER, signature, whatsapp_text_delivery
    from .model import Receipt
    from .server import make_app
    from .text import normalise_phone

    wa_id = "62" + normalise_phone(complaint.contact.phone)[1:]
    payload = whatsapp_text_delivery(message_id=f"wamid.{complaint.source_id}", wa_id=wa_id,
                                     name=complaint.contact.name, text=complaint.text, at=complaint.received_at,
                                     phone_number_id=svc.settings.whatsapp_phone_number_id)
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    reply = make_app(svc).test_client().post(
        "/meta", data=body, headers={"Content-Type": "application/json",
                                     SIGNATURE_HEADER: signature(body, svc.settings.whatsapp_app_secret)})
    tickets = reply.get_json().get("tickets") if reply.status_code == 200 else None
    if not tickets:
        raise RuntimeError(f"meta webhook answered {reply.status_code}")
    _write_queued(svc)
    stored = svc.workbook.find(tickets[0])
    return Receipt(tickets[0], stored.tab, stored.row["deadline"], created=True)


def _submit_web_form(svc: "Services", complaint: Complaint):
    """A citizen's browser: GET /form (CSRF token, idempotency key), POST it, read the ticket."""
    import re
    from html import unescape

    from .model import Receipt
    from .server import make_app

    client = make_app(svc).test_client()
    page = client.get("/form").get_data(as_text=True)
    hidden = {name: unescape(value) for name, value in
              re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page)}
    reply = client.post("/form", data={**hidden, "isi": complaint.text, "nama": complaint.contact.name,
                                       "telepon": complaint.contact.phone, "desa": complaint.location,
                                       "setuju": "ya"})
    found = re.search(r'data-ticket="([^"]+)"', reply.get_data(as_text=True))
    if reply.status_code != 200 or not found:
        raise RuntimeError(f"web form answered {reply.status_code}")
    _write_queued(svc)
    stored = svc.workbook.find(found.group(1))
    return Receipt(found.group(1), stored.tab, stored.row["deadline"], created=True)
