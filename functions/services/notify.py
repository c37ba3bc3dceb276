"""Reaching an OPD head where they read: email and, where a number is set, WhatsApp.

Business-initiated WhatsApp messages need a template approved by Meta (HEAD_TEMPLATES below;
docs/opd-directory.md has the text to submit). One `Notice` (a media alert, a reminder, an
overdue list) goes to the head in the `Kontak OPD` directory:

- WhatsApp: the notice's template to each number (head and copies);
- email: the notice's email to the head's addresses and copies;
- a WhatsApp send that fails (any Meta error: 131026 not on WhatsApp, 132001 template missing,
  130429 rate limit, ...) is reported and the email carries the news instead; when the head has
  no email, the email goes to KMC's fallback address with a note to pass it on. After a rate
  limit or outage the rest of the run sends no WhatsApp (email only);
- an OPD without any address: media alerts go to the fallback address, reminders and overdue
  lists are counted as "not reachable" (the daily digest lists that).

Every attempt is recorded in the workbook Log (kind `notify`, key `NOTICE|channel|recipient`,
detail JSON: who, how, masked address, outcome), failed ones too: a job retry or an overlapping
run skips what is recorded, so nothing is sent twice on the same channel. The entries are
written by the caller together with its other Log writes; `/monitoring` reads them to show who
was alerted, how and when. Numbers appear masked in the Log and never in log lines.
"""
from __future__ import annotations

import html
import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

from ..directory import Directory, DirectorySource, OpdContact, mask_number
from ..logs import log
from ..mail.port import OutgoingMail
from ..messaging.port import Template
from ..journal import (NOTIFY, NOTIFY_FAILED, PROBLEM, LogEntry, delivery_problem_key, email_delivery_key,
                       fallback_key, whatsapp_delivery_key)

if TYPE_CHECKING:
    from .context import Services

LANGUAGE = "id"
FALLBACK_NAME = "alamat cadangan KMC"

# Template name -> (body as submitted to Meta, what each variable holds). Category UTILITY.
HEAD_TEMPLATES: dict[str, tuple[str, tuple[str, ...]]] = {
    "kmc_peringatan_media": (
        "Yth. {{1}}, Ketapang Media Center menemukan {{2}} informasi negatif di {{3}} yang "
        "berkaitan dengan {{4}}. Yang pertama: {{5}}. No. Tiket: {{6}}. Mohon segera ditanggapi "
        "di tab OPD Anda pada lembar kerja KMC Aduan; rinciannya dikirim lewat email.",
        ("sapaan kepala OPD", "jumlah temuan", "media massa / media sosial", "nama OPD",
         "judul temuan pertama", "nomor tiket"),
    ),
    "kmc_pengingat_batas": (
        "Yth. {{1}}, {{2}} aduan untuk {{3}} akan melewati batas waktu tanggapan dalam {{4}} jam; "
        "yang paling dekat jatuh tempo {{5}}. No. Tiket: {{6}}. Mohon segera ditanggapi di "
        "lembar kerja KMC Aduan.",
        ("sapaan kepala OPD", "jumlah aduan", "nama OPD", "jam", "batas waktu terdekat (WIB)",
         "nomor tiket"),
    ),
    "kmc_daftar_terlambat": (
        "Yth. {{1}}, per {{2}} ada {{3}} aduan untuk {{4}} yang melewati batas waktu tanggapan "
        "tanpa tanggapan. No. Tiket: {{5}}. Mohon segera ditanggapi di lembar kerja KMC Aduan; "
        "daftar lengkapnya dikirim lewat email.",
        ("sapaan kepala OPD", "tanggal", "jumlah aduan", "nama OPD", "nomor tiket"),
    ),
}

# Meta's error codes (WhatsApp Cloud API) in words a KMC admin can act on.
WHATSAPP_ERRORS = {
    131026: "nomor tidak dapat menerima pesan WhatsApp (tidak terdaftar atau aplikasi terlalu lama)",
    131047: "di luar jendela 24 jam (harus memakai template yang disetujui)",
    130429: "batas kecepatan kirim WhatsApp tercapai",
    131056: "terlalu banyak pesan ke nomor yang sama dalam waktu singkat",
    131048: "dibatasi karena kualitas nomor pengirim (spam)",
    131049: "Meta memilih tidak mengirim pesan ini",
    132000: "jumlah isian template tidak cocok dengan yang disetujui Meta",
    132001: "template belum ada atau belum disetujui Meta",
    132005: "isian template terlalu panjang",
    132007: "template melanggar kebijakan Meta",
    132012: "format isian template tidak cocok",
    132015: "template dijeda oleh Meta",
    132016: "template dinonaktifkan oleh Meta",
    133010: "nomor pengirim belum terdaftar di WhatsApp Cloud API",
    131031: "akun WhatsApp Business dikunci",
    131042: "masalah pembayaran akun WhatsApp Business",
    368: "akun sementara diblokir karena pelanggaran kebijakan",
    190: "token akses WhatsApp ditolak (perlu diperbarui)",
}
_STOP_WHATSAPP = {130429, 131048, 131031, 131042, 368, 190, 133010}  # the account, not the number


def tickets_param(tickets: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(tickets[:limit])
    return shown + (f" dan {len(tickets) - limit} lainnya" if len(tickets) > limit else "")


def whatsapp_reason(code: int | None, error: str) -> str:
    if code in WHATSAPP_ERRORS:
        return f"{code}: {WHATSAPP_ERRORS[code]}"
    return f"{code}: {error}" if code else (error or "tidak diketahui")


@dataclass(frozen=True)
class Notice:
    """One message to one OPD head. `mail(to, own)` builds the email (own = the head's own
    addresses, not the fallback); `template` is the WhatsApp template with its parameters
    (the addressee is filled in per directory row as the first parameter)."""

    opd: str
    key: str  # idempotency key, e.g. "reminder:PUTR:3f2a…" (stable for the same content)
    mail: Callable[[tuple[str, ...], bool], OutgoingMail]
    template: Template | None
    tickets: tuple[str, ...] = ()
    fallback_when_unreachable: bool = False  # media alerts: an OPD without contact -> KMC


@dataclass(frozen=True)
class Delivery:
    opd: str
    via: str  # "email" | "WhatsApp"
    to: str  # who: "Kepala Dinas Kesehatan (dr. Rina)" or "alamat cadangan KMC"
    address: str  # email address(es), or a masked number
    at: datetime
    ok: bool
    note: str = ""  # why the fallback, or why it failed
    tickets: tuple[str, ...] = ()
    message_id: str = ""  # WhatsApp: the wamid status callbacks refer to

    def describe(self) -> str:
        """Indonesian, for replies and pages: `WhatsApp ke Kepala Dinas … (62812****7890)`."""
        text = f"{self.via} ke {self.to} ({self.address})"
        return text if self.ok else f"{text} GAGAL: {self.note}"

    def entry(self, key: str) -> LogEntry:
        detail = {"opd": self.opd, "via": self.via, "to": self.to, "address": self.address,
                  "ok": self.ok, "note": self.note, "tickets": list(self.tickets)}
        if self.message_id:
            detail["message_id"] = self.message_id
        return LogEntry(NOTIFY, key, self.at, json.dumps(detail, ensure_ascii=False))

    @classmethod
    def from_entry(cls, entry: LogEntry) -> "Delivery | None":
        try:
            d = json.loads(entry.detail or "{}")
            return cls(str(d["opd"]), str(d["via"]), str(d["to"]), str(d.get("address", "")), entry.at,
                       bool(d.get("ok")), str(d.get("note", "")), tuple(map(str, d.get("tickets", ()))),
                       str(d.get("message_id", "")))
        except (ValueError, KeyError, TypeError):
            return None


@dataclass
class NoticeReport:
    deliveries: list[Delivery] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    log: list[LogEntry] = field(default_factory=list)
    unreachable: bool = False  # nobody to send it to (no directory entry, no fallback)
    already: bool = False  # every channel was done by an earlier run

    @property
    def delivered(self) -> list[Delivery]:
        return [d for d in self.deliveries if d.ok]

    def describe(self) -> str:
        return "; ".join(d.describe() for d in self.deliveries) or "tidak ada"


def channels_summary(deliveries: Sequence[Delivery]) -> str:
    """`email 2, WhatsApp 1, 1 gagal; 1 ke alamat cadangan KMC` for run summaries ("" if none)."""
    ok = [d for d in deliveries if d.ok]
    if not deliveries:
        return ""
    parts = [f"email {sum(d.via == 'email' for d in ok)}", f"WhatsApp {sum(d.via == 'WhatsApp' for d in ok)}"]
    failed = len(deliveries) - len(ok)
    text = ", ".join(parts) + (f", {failed} gagal" if failed else "")
    fallback = sum(d.to == FALLBACK_NAME for d in ok)
    return text + (f"; {fallback} ke alamat cadangan KMC, belum ke kepala OPD" if fallback else "")


def with_note(mail: OutgoingMail, note: str) -> OutgoingMail:
    """The same email with a paragraph added at the end (text and HTML)."""
    if not note:
        return mail
    text = mail.text.rstrip("\n") + "\n\n" + note + "\n"
    para = f"<p><strong>{html.escape(note)}</strong></p>"
    body = mail.html.replace("</body>", para + "</body>", 1) if "</body>" in mail.html else mail.html + para
    return replace(mail, text=text, html=body)


class HeadNotifier:
    """Sends notices for one job run; `done` holds the Log keys of earlier runs."""

    def __init__(self, *, directory: Directory, mailer, messenger, now: datetime,
                 fallback: tuple[str, ...], done: Iterable[str] = ()):
        self.directory, self.mailer, self.messenger = directory, mailer, messenger
        self.now, self.fallback = now, tuple(fallback)
        self.done = set(done)
        self.whatsapp_stopped = ""  # reason, after an account-level failure in this run

    def send(self, notice: Notice) -> NoticeReport:
        report = NoticeReport()
        contact = self.directory.get(notice.opd)
        numbers = (contact.whatsapp + contact.cc_whatsapp) if contact else ()
        emails = (contact.emails + contact.cc_emails) if contact else ()
        who = contact.addressee if contact else f"Kepala {notice.opd}"
        failed_wa: list[str] = []
        pending = 0
        for number in numbers if notice.template is not None and self.messenger is not None else ():
            key = whatsapp_delivery_key(notice.key, number)
            if key in self.done:
                continue
            pending += 1
            delivery = self._whatsapp(notice, contact, number, who)
            report.deliveries.append(delivery)
            report.log.append(delivery.entry(key))
            self.done.add(key)
            if not delivery.ok:
                failed_wa.append(delivery.note)
                text = f"WhatsApp ke {who} ({delivery.address}) gagal: {delivery.note}; dikirim lewat email"
                report.problems.append(text)
                report.log.append(LogEntry(PROBLEM, delivery_problem_key(key), self.now, text))
        key = email_delivery_key(notice.key)
        if key in self.done:
            report.already = pending == 0
            return report
        own = bool(emails)
        to = emails
        note = ""
        if failed_wa:
            note = f"Pesan WhatsApp ke {who} gagal ({failed_wa[0]})."
        reached_by_wa = bool(numbers) and not failed_wa and notice.template is not None and self.messenger is not None
        if not to and (failed_wa or (notice.fallback_when_unreachable and not reached_by_wa)):
            to = self.fallback
            note += (" Email ini dikirim ke alamat cadangan KMC; mohon diteruskan kepada kepala OPD."
                     if failed_wa else "")
        if not to:
            report.unreachable = not report.delivered
            return report
        mail = with_note(notice.mail(to, own), note.strip())
        try:
            self.mailer.send(mail)
        except Exception as e:  # noqa: BLE001 - reported; the next run tries the email again
            text = f"Email ke {who if own else FALLBACK_NAME} gagal dikirim: {type(e).__name__}"
            report.problems.append(text)
            report.deliveries.append(Delivery(notice.opd, "email", who if own else FALLBACK_NAME,
                                              ", ".join(to), self.now, False, type(e).__name__,
                                              notice.tickets))
            log("ERROR", "head email failed", opd=notice.opd, error=type(e).__name__)
            return report
        delivery = Delivery(notice.opd, "email", who if own else FALLBACK_NAME, ", ".join(to), self.now,
                            True, note.strip() or ("" if own else "alamat kepala OPD belum diisi"),
                            notice.tickets)
        report.deliveries.append(delivery)
        report.log.append(delivery.entry(key))
        self.done.add(key)
        log("INFO", "head email sent", opd=notice.opd, head=own, tickets=len(notice.tickets))
        return report

    def _whatsapp(self, notice: Notice, contact: OpdContact | None, number: str, who: str) -> Delivery:
        masked = mask_number(number)
        if self.whatsapp_stopped:
            return Delivery(notice.opd, "WhatsApp", who, masked, self.now, False,
                            f"tidak dicoba: {self.whatsapp_stopped}", notice.tickets)
        template = notice.template
        assert template is not None
        if contact is not None and template.params:
            template = replace(template, params=(contact.addressee, *template.params[1:]))
        result = self.messenger.send_template(number, template, "WhatsApp")
        if result.ok:
            log("INFO", "head whatsapp sent", opd=notice.opd, template=template.name)
            return Delivery(notice.opd, "WhatsApp", who, masked, self.now, True, "", notice.tickets,
                            result.message_id)
        reason = whatsapp_reason(result.error_code, result.error)
        if result.error_code in _STOP_WHATSAPP or (result.retry_later and result.error_code is None):
            self.whatsapp_stopped = reason
        log("WARNING", "head whatsapp failed", opd=notice.opd, template=template.name,
            code=result.error_code)
        return Delivery(notice.opd, "WhatsApp", who, masked, self.now, False, reason, notice.tickets)


# --- wiring for the jobs ------------------------------------------------------------------


def directory_of(svc: "Services", *, fresh: bool = False) -> Directory:
    """The Kontak OPD directory through a per-instance 5-minute cache (opds.toml stands in for
    a store without one). `fresh=True` re-reads it (the daily job reports its broken rows)."""
    from ..stores.port import HoldsDirectory

    state = svc.state
    if state.directory_source is None:
        wb = svc.workbook
        state.directory_source = DirectorySource(wb.read_directory if isinstance(wb, HoldsDirectory) else (lambda: None),
                                                 svc.schema.opds)
    return state.directory_source.get(fresh=fresh)


def fallback_recipients(digest_to: Sequence[str], mail_from: str) -> tuple[str, ...]:
    from email.utils import parseaddr

    return tuple(digest_to) or (parseaddr(mail_from)[1] or "kmc@localhost",)


def notifier(svc: "Services", now: datetime, done: Iterable[str] | None = None) -> HeadNotifier:
    """A HeadNotifier bound to the services; `done` defaults to the Log's `notify` keys."""
    if done is None:
        done = (e.key for e in svc.workbook.log_entries(NOTIFY))
    return HeadNotifier(directory=directory_of(svc), mailer=svc.mailer, messenger=svc.messenger, now=now,
                        fallback=fallback_recipients(svc.settings.digest_to, svc.settings.mail_from),
                        done=done)


def deliveries_by_ticket(entries: Iterable[LogEntry]) -> dict[str, list[Delivery]]:
    """ticket -> every recorded delivery that named it (the monitoring page)."""
    out: dict[str, list[Delivery]] = {}
    for entry in entries:
        if entry.kind != NOTIFY:
            continue
        delivery = Delivery.from_entry(entry)
        if delivery is None:
            continue
        for ticket in delivery.tickets:
            out.setdefault(ticket, []).append(delivery)
    return out


# --- failures Meta reports later (status webhook) ------------------------------------------------


def record_head_failure(workbook, message_id: str, code: int | None, error: str, at: datetime) -> bool:
    """A `failed` status for a message to an OPD head (131026, 131047, ...): recorded once, so
    the next sweep sends the email fallback (`send_late_fallbacks`). False when the id is not a
    head's message (a redelivered callback is recorded once)."""
    if not message_id:
        return False
    original = next((e for e in workbook.log_entries(NOTIFY) if message_id in e.detail
                     and (d := Delivery.from_entry(e)) is not None and d.message_id == message_id), None)
    if original is None:
        return False
    detail = json.dumps({"key": original.key, "code": code, "reason": whatsapp_reason(code, error)},
                        ensure_ascii=False)
    workbook.log_add(LogEntry(NOTIFY_FAILED, message_id, at, detail))
    return True


def send_late_fallbacks(svc: "Services", now: datetime) -> NoticeReport:
    """Email what WhatsApp failed to deliver after accepting it: to the head's addresses, else to
    KMC's fallback address. Each failure once (Log `notify` key `ORIGINAL|fallback`)."""
    report = NoticeReport()
    entries = svc.workbook.log_entries()
    failed = [e for e in entries if e.kind == NOTIFY_FAILED]
    if not failed:
        return report
    by_key = {e.key: e for e in entries if e.kind == NOTIFY}
    notify = notifier(svc, now, done=by_key)
    for entry in failed:
        try:
            info = json.loads(entry.detail)
        except ValueError:
            continue
        original = by_key.get(str(info.get("key", "")))
        delivery = Delivery.from_entry(original) if original is not None else None
        if delivery is None or fallback_key(original.key) in by_key:
            continue
        reason = str(info.get("reason", ""))
        contact = notify.directory.get(delivery.opd)
        own = contact.emails + contact.cc_emails if contact else ()
        to = own or notify.fallback
        tickets = ", ".join(delivery.tickets) or "-"
        subject = f"[KMC Aduan] Pesan WhatsApp untuk {delivery.to} tidak terkirim"
        text = (f"Pesan WhatsApp KMC Aduan ke {delivery.to} ({delivery.address}) pada "
                f"{delivery.at.astimezone(now.tzinfo):%d/%m/%Y %H:%M} tidak terkirim ({reason}).\n\n"
                f"Aduan terkait (No. Tiket): {tickets}. Mohon segera ditanggapi di lembar kerja KMC Aduan."
                + ("" if own else "\n\nKepala OPD belum punya alamat email di tab Kontak OPD; mohon "
                                  "diteruskan kepada kepala OPD.") + "\n")
        mail = OutgoingMail(to, subject, text, f"<!doctype html><html lang=\"id\"><body><p>"
                            f"{html.escape(text).replace(chr(10), '<br>')}</p></body></html>",
                            tag=f"wa-gagal-{delivery.opd}")
        try:
            notify.mailer.send(mail)
        except Exception as e:  # noqa: BLE001 - the next sweep tries again
            report.problems.append(f"Email pengganti WhatsApp ke {delivery.to} gagal: {type(e).__name__}")
            continue
        late = Delivery(delivery.opd, "email", delivery.to if own else FALLBACK_NAME, ", ".join(to), now, True,
                        f"pengganti WhatsApp yang tidak terkirim ({reason})", delivery.tickets)
        report.deliveries.append(late)
        report.log.append(late.entry(fallback_key(original.key)))
        problem = f"WhatsApp ke {delivery.to} ({delivery.address}) tidak terkirim: {reason}; dikirim lewat email"
        report.problems.append(problem)
        report.log.append(LogEntry(PROBLEM, delivery_problem_key(fallback_key(original.key)), now, problem))
    return report
