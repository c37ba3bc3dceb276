"""Alerts: negative information found in the media reaches the OPD head at once.

One email per OPD per run, listing that OPD's new negative items (grave ones first), and a
WhatsApp template (`kmc_peringatan_media`) to each number the `Kontak OPD` directory holds
(services/notify.py). When the head has no address (TRIASE, LUAR_PEMDA, or not filled in yet)
the email goes to DIGEST_TO, else to KMC's own address (MAIL_FROM), and says so. Text and HTML
carry the same content, all in Indonesian.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Callable, Sequence

from ..mail.port import OutgoingMail
from ..messaging.port import Template
from ..model import OUTSIDE, TRIAGE
from ..schema import Schema
from ..stores.port import LogEntry
from ..timefmt import short_wib
from .logbook import add_many
from ..journal import NOTIFY, alert_notice
from .notify import FALLBACK_NAME, LANGUAGE, Delivery, HeadNotifier, Notice, notifier, tickets_param

if TYPE_CHECKING:
    from .context import Services

# Where staff answer when the store is local (no link to send: a file:/// path on the server
# means nothing to the reader).
LOCAL_SHEET = "lokal: jalankan python main.py sheet show di server KMC"


@dataclass(frozen=True)
class AlertItem:
    ticket_id: str
    opd: str
    channel: str  # "Media Massa" / "Media Sosial"
    source: str  # outlet, or platform for social media
    text: str  # what the case says: "[Outlet] Title — lead"
    link: str
    received_at: datetime
    deadline: datetime | None
    grave: bool = False  # victims, disasters, violence, virality ... (sentiment.is_alert)


@dataclass
class AlertReport:
    sent: list[tuple[str, tuple[str, ...], int]] = field(default_factory=list)  # (opd, email to, items)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (opd, error)
    planned: int = 0  # dry run: items that would have been alerted
    deliveries: list[Delivery] = field(default_factory=list)  # every attempt, both channels
    problems: list[str] = field(default_factory=list)
    log: list[LogEntry] = field(default_factory=list)  # what to record (see alert_sender)

    def summary(self) -> str:
        if self.planned and not self.sent and not self.failed:
            return f"peringatan: {self.planned} temuan akan dikirim (uji coba)"
        if not self.sent and not self.failed and not self.deliveries:
            return "peringatan: tidak ada"
        opds = ", ".join(opd for opd, _, _ in self.sent)
        text = f"peringatan: {len(self.sent)} email ({opds})" if self.sent else "peringatan: 0 email"
        wa = [d for d in self.deliveries if d.via == "WhatsApp"]
        if wa:
            ok = sum(d.ok for d in wa)
            text += f", {ok} WhatsApp" + (f" ({len(wa) - ok} gagal, dialihkan ke email)" if ok < len(wa) else "")
        if self.failed:
            text += f", {len(self.failed)} GAGAL ({', '.join(o for o, _ in self.failed)})"
        fallback = [d.opd for d in self.deliveries if d.ok and d.to == FALLBACK_NAME]
        if fallback:  # never let "sent" read as "the head has it"
            which = "" if len(fallback) == len(self.sent) else f" ({', '.join(fallback)})"
            text += f"; {len(fallback)} ke alamat cadangan KMC, belum ke kepala OPD{which}"
        return text

    def describe(self) -> str:
        """To whom and how, in Indonesian (what `/monitoring` answers)."""
        return "; ".join(d.describe() for d in self.deliveries) or "tidak ada yang dikirim"


def _when(moment: datetime | None, tz) -> str:
    if moment is None:
        return "-"
    local = moment.astimezone(tz)
    return short_wib(local)  # 08/12/2026 00.00 WIB, not 08-12-2026 00: that reads as a phone number


def _where(channel: str) -> str:
    return "media sosial" if channel == "Media Sosial" else "media massa" if channel == "Media Massa" else "media"


def compose_alert(schema: Schema, opd_key: str, items: Sequence[AlertItem], *, to: tuple[str, ...],
                  own_address: bool, sheet_url: str, tz) -> OutgoingMail:
    """One OPD's alert email: its items (grave ones first) in text and HTML with the same content."""
    try:
        opd = schema.opd(opd_key)
        name, title = opd.name, opd.title
    except KeyError:
        name = title = opd_key
    items = sorted(items, key=lambda i: (not i.grave, i.received_at))
    where = " dan ".join(sorted({_where(i.channel) for i in items}))
    subject = (f"[KMC]{' PENTING:' if any(i.grave for i in items) else ''} {len(items)} informasi negatif di "
               f"{where} untuk {title}")
    greeting, intro = _opening(opd_key, name, len(items), where)
    note = "" if own_address else (
        f"(Alamat email kepala {title} belum diisi; email ini dikirim ke alamat cadangan KMC.)")
    text = _alert_text(greeting, intro, items, title, note, sheet_url, tz)
    html_doc = _alert_html(subject, greeting, intro, items, title, note, sheet_url, tz)
    return OutgoingMail(to=to, subject=subject, text=text, html=html_doc, tag=f"alert-{opd_key}")


def _opening(opd_key: str, name: str, n: int, where: str) -> tuple[str, str]:
    """(greeting, first paragraph): KMC's admins for TRIASE and LUAR_PEMDA, else the OPD head."""
    if opd_key == TRIAGE:
        return ("Yth. Admin Ketapang Media Center,",
                f"ditemukan {n} informasi negatif di {where} yang belum jelas OPD penanggung "
                f"jawabnya. Mohon segera ditriase (isi kolom \"Teruskan ke\").")
    if opd_key == OUTSIDE:
        return ("Yth. Admin Ketapang Media Center,",
                f"ditemukan {n} informasi negatif di {where} tentang instansi di luar Pemerintah "
                f"Kabupaten Ketapang. Mohon diteruskan kepada instansi terkait.")
    return (f"Yth. Kepala {name},",
            f"Ketapang Media Center menemukan {n} informasi negatif di {where} yang berkaitan "
            f"dengan {name}. Mohon segera ditanggapi.")


def _alert_text(greeting: str, intro: str, items: Sequence[AlertItem], title: str, note: str,
                sheet_url: str, tz) -> str:
    lines = [greeting, "", intro, ""]
    for k, item in enumerate(items, 1):
        flag = "[PENTING] " if item.grave else ""
        lines += [
            f"{k}. {flag}{item.text}",
            f"   Sumber: {item.channel}{' — ' + item.source if item.source else ''}",
            f"   Tautan: {item.link or '-'}",
            f"   Ditemukan: {_when(item.received_at, tz)} · No. Tiket: {item.ticket_id} · "
            f"Batas tanggapan: {_when(item.deadline, tz)}",
            "",
        ]
    lines.append(f"Tanggapan diisi pada tab \"{title}\" di lembar kerja KMC Aduan (kolom Status dan "
                 f"Tanggapan): {sheet_url or LOCAL_SHEET}")
    if note:
        lines.append(note)
    lines += ["", "Email ini dikirim otomatis oleh KMC Aduan (Ketapang Media Center)."]
    return "\n".join(lines) + "\n"


def _alert_html(subject: str, greeting: str, intro: str, items: Sequence[AlertItem], title: str, note: str,
                sheet_url: str, tz) -> str:
    e = html.escape
    blocks = []
    for item in items:
        link = (f'<a href="{e(item.link, quote=True)}">{e(item.link)}</a>'
                if item.link.startswith(("http://", "https://")) else e(item.link or "-"))
        badge = '<strong style="color:#b00">PENTING</strong> ' if item.grave else ""
        blocks.append(
            f'<li style="margin-bottom:12px">{badge}'
            f"{e(item.text)}<br><small>Sumber: {e(item.channel)}"
            f"{' — ' + e(item.source) if item.source else ''} · Tautan: {link}<br>"
            f"Ditemukan: {e(_when(item.received_at, tz))} · No. Tiket: <b>{e(item.ticket_id)}</b> · "
            f"Batas tanggapan: {e(_when(item.deadline, tz))}</small></li>")
    body = (
        f"<p>{e(greeting)}</p><p>{e(intro)}</p><ol>{''.join(blocks)}</ol>"
        f"<p>Tanggapan diisi pada tab <b>{e(title)}</b> di "
        + (f"<a href=\"{e(sheet_url, quote=True)}\">lembar kerja KMC Aduan</a> " if sheet_url
           else f"lembar kerja KMC Aduan ({e(LOCAL_SHEET)}) ") +
        "(kolom Status dan Tanggapan).</p>"
        + (f"<p><small>{e(note)}</small></p>" if note else "")
        + "<p><small>Email ini dikirim otomatis oleh KMC Aduan (Ketapang Media Center).</small></p>"
    )
    return (f"<!doctype html><html lang=\"id\"><head><meta charset=\"utf-8\">"
            f"<title>{e(subject)}</title></head><body style=\"font-family:sans-serif\">"
            f"{body}</body></html>")


def alert_template(opd_title: str, opd_name: str, items: Sequence[AlertItem]) -> Template:
    items = sorted(items, key=lambda i: (not i.grave, i.received_at))
    where = " dan ".join(sorted({_where(i.channel) for i in items}))
    return Template("kmc_peringatan_media", LANGUAGE, (
        f"Kepala {opd_title}", str(len(items)), where, opd_name, items[0].text[:300],
        tickets_param([i.ticket_id for i in items])))


def send_alerts(items: Sequence[AlertItem], *, schema: Schema, notify: HeadNotifier, sheet_url: str,
                tz) -> AlertReport:
    """One notice per OPD (email, plus WhatsApp where the directory has a number); a failing send
    is reported, never raised (the cases are stored and the daily digest lists them). A ticket
    already alerted by an earlier run (the Log) is not alerted again."""
    report = AlertReport()
    by_opd: dict[str, list[AlertItem]] = {}
    for item in items:
        by_opd.setdefault(item.opd or TRIAGE, []).append(item)
    for opd_key, group in by_opd.items():
        tickets = tuple(sorted(i.ticket_id for i in group))
        try:
            opd = schema.opd(opd_key)
            title, name = opd.title, opd.name
        except KeyError:
            title = name = opd_key
        notice = Notice(
            opd_key, alert_notice(opd_key, tickets),
            lambda to, own, g=group, k=opd_key: compose_alert(schema, k, g, to=to, own_address=own,
                                                              sheet_url=sheet_url, tz=tz),
            alert_template(title, name, group) if opd_key not in (TRIAGE, OUTSIDE) else None,
            tickets, fallback_when_unreachable=True)
        sent = notify.send(notice)
        report.deliveries += sent.deliveries
        report.problems += sent.problems
        report.log += sent.log
        emails = [d for d in sent.deliveries if d.via == "email"]
        if emails and emails[-1].ok:
            report.sent.append((opd_key, tuple(emails[-1].address.split(", ")), len(group)))
        elif emails:
            report.failed.append((opd_key, emails[-1].note))
        elif not sent.delivered and not sent.already:
            report.failed.append((opd_key, "tidak ada alamat"))
    return report


def alert_sender(svc: "Services", now: datetime | None = None, *, write_log: bool = True
                 ) -> Callable[[Sequence[AlertItem]], AlertReport]:
    """send_alerts bound to the services: the Kontak OPD directory, mailer, WhatsApp. What was
    sent is recorded in the Log at once (`write_log`), or by the caller with its own Log write
    (the media job: one append for its memory and its alerts)."""
    now = now or svc.now()

    def send(items: Sequence[AlertItem]) -> AlertReport:
        recorded = svc.workbook.log_entries(NOTIFY)
        done = {e.key for e in recorded}
        alerted = {t for e in recorded if (d := Delivery.from_entry(e)) and d.ok for t in d.tickets}
        fresh = [i for i in items if i.ticket_id not in alerted or not i.ticket_id]
        report = send_alerts(fresh, schema=svc.schema, notify=notifier(svc, now, done),
                             sheet_url=svc.sheet_url, tz=svc.settings.tz)
        if report.log and write_log:
            add_many(svc.workbook, report.log)
        return report

    return send
