"""What the citizen reads on WhatsApp / Messenger / Instagram, and sending OPD answers back.

- The texts (Bahasa Indonesia): acknowledgement, guide, status, withdrawal, anonymity, flood.
- `send_responses(svc, now)` (called by the sweep): each row with a response and no
  `reply_sent_at` is answered on the channel the citizen used, then `reply_sent_at` is stamped in
  one batch write. Outside WhatsApp's 24-hour customer-service window the approved template
  (WHATSAPP_TEMPLATE, WHATSAPP_TEMPLATE_LANGUAGE) is used; Messenger/Instagram use the
  HUMAN_AGENT tag. Failures (synchronous, or reported later by a status callback such as 131047)
  are recorded in the workbook Log and retried with a growing pause, at most MAX_ATTEMPTS times;
  at most one message per recipient per run (Meta's per-recipient pace).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..logs import log
from ..timefmt import long_wib, short_wib
from ..model import OUTSIDE, TRIAGE, WITHDRAWN_MARK, Channel, Receipt, Status, is_withdrawn
from ..stores.port import CellUpdate, Changes, LogEntry, StoredCase
from ..messaging.port import NOT_CONFIGURED, WINDOW_CLOSED_CODES, SendResult, Template

REPLY_LOG = "reply"  # key: outgoing message id, detail: ticket (status callbacks refer to the id)
REPLY_FAILED_LOG = "reply_failed"  # key: "TICKET#…", detail: "code|text|template"
REPLY_GAVE_UP_LOG = "reply_gave_up"  # key: ticket
MSG_LOG = "msg"  # (shared with conversation.py) inbound follow-ups: at = when the citizen wrote
SERVICE_WINDOW = timedelta(hours=24)
MAX_ATTEMPTS = 4
RETRY_BASE = timedelta(minutes=15)
META_CHANNELS = frozenset({Channel.WHATSAPP, Channel.FACEBOOK, Channel.INSTAGRAM})


# -- texts ------------------------------------------------------------------------------------

def status_url(settings, ticket: str) -> str:
    return f"{settings.public_url}/form/status?tiket={ticket}"


def promise(sla_hours: float) -> str:
    return "2 x 24 jam" if sla_hours == 48 else f"{sla_hours:g} jam"


def opd_name(svc, key: str) -> str:
    if key == TRIAGE:
        return "Tim KMC (triase), untuk diteruskan ke OPD yang berwenang"
    try:
        opd = svc.schema.opd(key)
    except KeyError:
        return key
    if key == OUTSIDE:
        return "Tim KMC, untuk diteruskan ke instansi di luar Pemkab Ketapang yang berwenang"
    return opd.name


PRIVACY = ("Privasi: nomor dan nama Anda hanya dipakai untuk menindaklanjuti aduan ini dan tidak "
           "ditampilkan ke publik (UU 27/2022). Ketik ANONIM agar nama Anda tidak ditampilkan ke OPD.")


def placeholder(kind: str) -> str:
    """The complaint text when a citizen sent no words (never invented content)."""
    return {"audio": "[pesan suara]", "media": "[foto/berkas tanpa keterangan]",
            "location": "[lokasi dibagikan]", "contacts": "[kontak dibagikan]"}.get(kind, "[pesan tanpa teks]")


def ack_text(svc, receipt: Receipt, kind: str = "text") -> str:
    s = svc.settings
    t = receipt.ticket_id
    lines = [
        "Terima kasih, aduan Anda sudah kami terima dan dicatat.",
        f"Nomor tiket: {t}",
        f"Diteruskan ke: {opd_name(svc, receipt.opd)}",
        f"OPD wajib menanggapi paling lambat {promise(s.sla_hours)} "
        f"(sebelum {long_wib(receipt.deadline, s.tz)}).",
        f"Cek status: ketik STATUS {t} atau buka {status_url(s, t)}",
    ]
    if kind == "audio":
        lines.insert(1, "Pesan suara belum bisa kami baca otomatis: mohon tuliskan juga isi aduan Anda.")
    elif kind in {"location", "media", "contacts"}:
        lines.insert(1, "Mohon tuliskan juga apa masalahnya agar OPD bisa segera menindaklanjuti.")
    lines.append(f"Foto, lokasi atau keterangan tambahan dalam {s.conversation_window_minutes} menit "
                 "ke depan akan digabung ke tiket ini.")
    lines.append(PRIVACY)
    return "\n".join(lines)


def guide_text(settings) -> str:
    p = settings.ticket_prefix
    return "\n".join([
        "Halo, terima kasih sudah menghubungi Ketapang Media Center (KMC).",
        "Untuk menyampaikan aduan, tuliskan dalam satu pesan:",
        "1. apa masalahnya,",
        "2. di mana (desa/kelurahan, kecamatan, nama jalan),",
        "3. sejak kapan.",
        "Anda boleh menambahkan foto dan lokasi (Share Location) sesudahnya.",
        f"Cek aduan: ketik STATUS <nomor tiket>, contoh STATUS {p}-250101-AB3X9.",
        "Batalkan aduan: BATAL <nomor tiket>. Sembunyikan nama dari OPD: ANONIM.",
    ])


def unsupported_text() -> str:
    return ("Maaf, jenis pesan ini belum bisa kami proses. Mohon kirim aduan Anda dalam bentuk teks; "
            "foto dan lokasi boleh dikirim sesudahnya.")


def flood_text() -> str:
    return ("Mohon maaf, pesan Anda terlalu banyak dalam waktu singkat sehingga sebagian belum kami "
            "catat. Silakan tunggu beberapa menit, lalu kirim ulang aduan Anda dalam satu pesan.")


def joined_text(ticket: str, kind: str) -> str:
    what = {"media": "Lampiran", "audio": "Pesan suara", "location": "Lokasi",
            "contacts": "Kontak"}.get(kind, "Pesan")
    return f"{what} diterima dan ditambahkan ke tiket {ticket}."


def status_text(svc, case: StoredCase) -> str:
    row = case.row
    t = case.ticket_id
    status = str(row.get("status") or Status.NEW).strip() or Status.NEW
    lines = [f"Tiket {t}", f"Status: {status}", f"Ditangani: {opd_name(svc, case.tab)}"]
    received = row.get("received_at")
    if isinstance(received, datetime):
        lines.append(f"Diterima: {long_wib(received, svc.settings.tz)}")
    response = str(row.get("response") or "").strip()
    if response:
        lines.append(f"Tanggapan: {response}")
    else:
        deadline = row.get("deadline")
        if isinstance(deadline, datetime):
            lines.append(f"Belum ada tanggapan. Batas waktu tanggapan: {long_wib(deadline, svc.settings.tz)}.")
    if is_withdrawn(row):
        lines.append("Aduan ini sudah Anda batalkan.")
    lines.append(f"Detail: {status_url(svc.settings, t)}")
    return "\n".join(lines)


def unknown_ticket_text(settings, ticket: str | None) -> str:
    if not ticket:
        return (f"Kami belum menemukan aduan dari nomor/akun ini. Ketik STATUS diikuti nomor tiket, "
                f"contoh STATUS {settings.ticket_prefix}-250101-AB3X9.")
    return (f"Tiket {ticket} tidak ditemukan untuk nomor/akun ini. Periksa kembali nomor tiketnya; "
            "status hanya diberikan kepada pelapor yang mengirim aduan tersebut.")


def cannot_withdraw_text(ticket: str, status: str) -> str:
    return f"Tiket {ticket} sudah berstatus {status}, sehingga tidak dapat dibatalkan lagi."


def withdrawn_text(ticket: str) -> str:
    return (f"Aduan dengan tiket {ticket} sudah dibatalkan atas permintaan Anda. OPD akan melihat "
            "catatan pembatalan ini. Terima kasih.")


def withdrawn_note(now: datetime) -> str:
    return f"{WITHDRAWN_MARK} pada {short_wib(now)}."


def anonymous_text(ticket: str | None) -> str:
    if ticket:
        return (f"Baik, nama Anda tidak lagi ditampilkan kepada OPD untuk tiket {ticket} dan aduan "
                "berikutnya. Kami tetap dapat membalas Anda di sini.")
    return ("Baik, nama Anda tidak akan ditampilkan kepada OPD untuk aduan yang Anda kirim. "
            "Silakan tuliskan aduan Anda.")


def response_text(svc, ticket: str, tab: str, row: dict) -> str:
    status = str(row.get("status") or "").strip()
    lines = [f"Tanggapan atas aduan Anda (tiket {ticket}) dari {opd_name(svc, tab)}:", "",
             str(row.get("response") or "").strip(), ""]
    if status:
        lines.append(f"Status: {status}")
    lines.append(f"Detail: {status_url(svc.settings, ticket)}")
    lines.append("Balas pesan ini bila masih ada yang perlu disampaikan.")
    return "\n".join(lines)


def public_response_text(svc, ticket: str, tab: str) -> str:
    """Under a public comment: no answer text in public, a link to the status page instead."""
    return (f"Aduan ini (tiket {ticket}) sudah ditanggapi oleh {opd_name(svc, tab)}. "
            f"Tanggapan lengkap: {status_url(svc.settings, ticket)}")


def response_template(svc, ticket: str, tab: str, row: dict) -> Template:
    """Body parameters of the approved template (see README: {{1}} tiket, {{2}} OPD, {{3}} status,
    {{4}} tanggapan)."""
    s = svc.settings
    status = str(row.get("status") or "").strip() or "Diproses"
    return Template(s.whatsapp_template, s.whatsapp_template_language,
                    (ticket, opd_name(svc, tab), status, str(row.get("response") or "").strip()))


# -- sending OPD answers (the sweep) ----------------------------------------------------------

def messenger_of(svc):
    """The services' messenger; the local outbox when none was built (hand-made Services)."""
    found = getattr(svc, "messenger", None)
    if found is None:
        from ..messaging.outbox import OutboxMessenger

        found = OutboxMessenger(svc.settings.outbox_dir)
    return found


@dataclass
class ReplyReport:
    sent: list[str] = field(default_factory=list)
    templated: list[str] = field(default_factory=list)  # sent as the approved template
    deferred: list[str] = field(default_factory=list)  # per-recipient pace or waiting to retry
    failed: list[str] = field(default_factory=list)
    gave_up: list[str] = field(default_factory=list)
    no_contact: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = f"balasan ke pelapor: {len(self.sent)} terkirim"
        if self.templated:
            text += f" ({len(self.templated)} lewat template)"
        return (text + f", {len(self.deferred)} ditunda, {len(self.failed)} gagal"
                + (f", {len(self.gave_up)} dihentikan" if self.gave_up else "")
                + (f", {len(self.no_contact)} tanpa kontak" if self.no_contact else ""))


def _append_note(existing: str, message: str) -> str:
    existing = str(existing or "").strip()
    if message in existing:
        return existing
    return f"{existing} | {message}" if existing else message


def _failures(entries: list[LogEntry]) -> dict[str, list[LogEntry]]:
    out: dict[str, list[LogEntry]] = {}
    for e in entries:
        out.setdefault(e.key.split("#", 1)[0], []).append(e)
    return out


def _window_closed_before(fails: list[LogEntry]) -> bool:
    return any(e.detail.split("|", 1)[0] in {str(c) for c in WINDOW_CLOSED_CODES} for e in fails)


def _last_inbound(svc, recipient: str, now: datetime, recent_msgs: list[LogEntry]) -> datetime | None:
    """When the citizen last wrote to us (their newest case, or a logged follow-up/command)."""
    latest = None
    record = svc.contacts.latest_for(recipient, now - SERVICE_WINDOW)
    if record is not None:
        latest = record.received_at
    for entry in recent_msgs:
        if latest is not None and entry.at <= latest:
            continue
        owner = svc.contacts.get(entry.detail) if entry.detail else None
        if owner is not None and owner.contact.channel_user_id == recipient:
            latest = entry.at
    return latest


def send_responses(svc, now: datetime | None = None, *, messenger=None, dry_run: bool = False,
                   tabs: dict | None = None, changes: Changes | None = None) -> ReplyReport:
    """Send new OPD answers to citizens on WhatsApp / Facebook / Instagram; stamp reply_sent_at.

    `tabs` is the sweep's own read of the workbook and `changes` its one commit, so the sweep
    stays at a constant number of store requests; without them this reads and writes itself.
    A crash between sending and the commit sends that answer again on the next sweep."""
    now = now or svc.now()
    messenger = messenger or messenger_of(svc)
    wb = svc.workbook
    report = ReplyReport()
    entries_so_far = wb.log_entries()
    failures = _failures([e for e in entries_so_far if e.kind == REPLY_FAILED_LOG])
    gave_up = {e.key for e in entries_so_far if e.kind == REPLY_GAVE_UP_LOG}
    recent_msgs = [e for e in entries_so_far if e.kind == MSG_LOG and e.at >= now - SERVICE_WINDOW]
    own = changes is None
    changes = Changes() if changes is None else changes
    entries = changes.log
    paced: set[str] = set()
    for tab, rows in (wb.read_all() if tabs is None else tabs).items():
        for row in rows:
            ticket = str(row.get("ticket_id") or "").strip()
            if not ticket or not str(row.get("response") or "").strip() or row.get("reply_sent_at"):
                continue
            if str(row.get("channel") or "") not in META_CHANNELS or ticket in gave_up:
                continue
            record = svc.contacts.get(ticket)
            recipient = record.contact.channel_user_id if record else ""
            if not recipient:
                report.no_contact.append(ticket)
                continue
            fails = failures.get(ticket, [])
            if fails and now - max(e.at for e in fails) < RETRY_BASE * (2 ** (len(fails) - 1)):
                report.deferred.append(ticket)
                continue
            if recipient in paced:
                report.deferred.append(ticket)
                continue
            paced.add(recipient)
            if dry_run:
                report.sent.append(ticket)
                continue
            channel = str(row.get("channel"))
            result, templated = _deliver(svc, messenger, ticket, tab, row, recipient, channel, now,
                                         fails, recent_msgs)
            if result.ok:
                report.sent.append(ticket)
                if templated:
                    report.templated.append(ticket)
                changes.update(ticket, {"reply_sent_at": now}, tab)
                if channel == Channel.WHATSAPP and result.message_id:
                    entries.append(LogEntry(REPLY_LOG, result.message_id, now, ticket))
                continue
            report.failed.append(ticket)
            kind = "template" if templated else "text"
            entries.append(LogEntry(REPLY_FAILED_LOG, f"{ticket}#{now.isoformat()}", now,
                                    f"{result.error_code or ''}|{kind}"))
            if len(fails) + 1 >= MAX_ATTEMPTS or not (result.retry_later or result.window_closed):
                if len(fails) + 1 >= MAX_ATTEMPTS:
                    report.gave_up.append(ticket)
                    entries.append(LogEntry(REPLY_GAVE_UP_LOG, ticket, now, str(result.error_code or "")))
                changes.update(ticket, {"note": _append_note(
                    row.get("note"), _failure_note(result, gave_up=len(fails) + 1 >= MAX_ATTEMPTS))}, tab)
    if own and changes:
        written = wb.commit(changes)
        if written.missing:
            log("WARNING", "reply stamps: rows not found", tickets=",".join(written.missing))
    if report.sent or report.failed:
        log("INFO", "replies sent", summary=report.summary())
    return report


def _deliver(svc, messenger, ticket, tab, row, recipient, channel, now, fails, recent_msgs) -> tuple[SendResult, bool]:
    """Send one answer; (result, sent_as_template)."""
    if recipient.startswith(("comment:", "post:")):
        return messenger.send_text(recipient, public_response_text(svc, ticket, tab), channel, public=True), False
    last = _last_inbound(svc, recipient, now, recent_msgs)
    window_open = last is not None and now - last < SERVICE_WINDOW and not _window_closed_before(fails)
    text = response_text(svc, ticket, tab, row)
    if channel != Channel.WHATSAPP:
        return messenger.send_text(recipient, text, channel, tag="" if window_open else "HUMAN_AGENT"), False
    if window_open:
        result = messenger.send_text(recipient, text, channel)
        if result.ok or not result.window_closed:
            return result, False
    return messenger.send_template(recipient, response_template(svc, ticket, tab, row), channel), True


def _failure_note(result: SendResult, *, gave_up: bool) -> str:
    if result.error == NOT_CONFIGURED:
        return ("Balasan otomatis ke kanal ini belum diaktifkan KMC (token akses belum dipasang); "
                "hubungi pelapor secara manual.")
    code = f" (kode {result.error_code})" if result.error_code else ""
    if gave_up:
        return f"Balasan ke pelapor gagal terkirim{code} setelah {MAX_ATTEMPTS} percobaan; hubungi pelapor secara manual."
    return f"Balasan ke pelapor ditolak{code}; hubungi pelapor secara manual bila perlu."






# -- status callbacks (WhatsApp) --------------------------------------------------------------

@dataclass(frozen=True)
class DeliveryStatus:
    message_id: str  # our outgoing message id
    status: str  # sent | delivered | read | failed | deleted
    at: datetime
    errors: tuple[tuple[int | None, str], ...] = ()


def record_status(svc, event: DeliveryStatus) -> str:
    """A status callback: a failed answer is recorded and its `reply_sent_at` cleared so the sweep
    tries again (with the template after 131047). Returns what was done."""
    if event.status != "failed":
        return "ignored"
    code = event.errors[0][0] if event.errors else None
    wb = svc.workbook
    ticket = next((e.detail for e in wb.log_entries(REPLY_LOG) if e.key == event.message_id), "")
    if not ticket:
        from .notify import record_head_failure  # a template to an OPD head (services/notify.py)

        if record_head_failure(wb, event.message_id, code, event.errors[0][1] if event.errors else "", event.at):
            log("WARNING", "message to OPD head failed: email at the next sweep", code=code)
            return "head_failed"
        log("WARNING", "message to citizen failed", code=code, message_id=event.message_id)
        return "failed_other"
    if not wb.log_add(LogEntry(REPLY_FAILED_LOG, f"{ticket}#cb:{event.message_id}", event.at, f"{code or ''}|callback")):
        return "duplicate"
    case = wb.find(ticket)
    if case is not None and case.row.get("reply_sent_at"):
        note = _append_note(case.row.get("note"), f"Balasan ke pelapor gagal terkirim (kode {code}); dicoba ulang.")
        wb.update([CellUpdate(ticket, {"reply_sent_at": None, "note": note}, case.tab)])
    log("WARNING", "answer to citizen failed: will retry", ticket=ticket, code=code)
    return "reply_failed"
