"""Alert emails: negative information found in the media reaches the OPD head at once.

One email per OPD per run, listing that OPD's new negative items (grave ones first). The head's
address comes from `head_email` in sheets_schema/opds.toml (comma list allowed); when it is
empty (TRIASE, LUAR_PEMDA, or not filled in yet) the email goes to DIGEST_TO, else to KMC's own
address (MAIL_FROM), and says so. Text and HTML carry the same content, all in Indonesian.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parseaddr
from typing import Callable, Sequence

from ..logs import log
from ..mail.port import Mailer, OutgoingMail
from ..model import OUTSIDE, TRIAGE
from ..schema import Schema
from ..timefmt import short_wib

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
    sent: list[tuple[str, tuple[str, ...], int]] = field(default_factory=list)  # (opd, to, items)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (opd, error)
    planned: int = 0  # dry run: items that would have been alerted

    def summary(self) -> str:
        if self.planned and not self.sent and not self.failed:
            return f"peringatan: {self.planned} temuan akan dikirim (uji coba)"
        if not self.sent and not self.failed:
            return "peringatan: tidak ada"
        opds = ", ".join(opd for opd, _, _ in self.sent)
        text = f"peringatan: {len(self.sent)} email ({opds})" if self.sent else "peringatan: 0 email"
        if self.failed:
            text += f", {len(self.failed)} GAGAL ({', '.join(o for o, _ in self.failed)})"
        return text


def fallback_recipients(digest_to: Sequence[str], mail_from: str) -> tuple[str, ...]:
    return tuple(digest_to) or (parseaddr(mail_from)[1] or "kmc@localhost",)


def recipients(schema: Schema, opd_key: str, fallback: tuple[str, ...]) -> tuple[tuple[str, ...], bool]:
    """(addresses, whether they are the OPD head's own)."""
    try:
        head = schema.opd(opd_key).head_email
    except KeyError:
        head = ""
    own = tuple(a.strip() for a in re.split(r"[,;]", head or "") if a.strip())
    return (own, True) if own else (fallback, False)


def _when(moment: datetime | None, tz) -> str:
    if moment is None:
        return "-"
    local = moment.astimezone(tz)
    return short_wib(local)


def _where(channel: str) -> str:
    return "media sosial" if channel == "Media Sosial" else "media massa" if channel == "Media Massa" else "media"


def compose_alert(schema: Schema, opd_key: str, items: Sequence[AlertItem], *, to: tuple[str, ...],
                  own_address: bool, sheet_url: str, tz) -> OutgoingMail:
    try:
        opd = schema.opd(opd_key)
        name, title = opd.name, opd.title
    except KeyError:
        name = title = opd_key
    items = sorted(items, key=lambda i: (not i.grave, i.received_at))
    n = len(items)
    grave = any(i.grave for i in items)
    channels = sorted({_where(i.channel) for i in items})
    where = " dan ".join(channels)
    subject = (f"[KMC]{' PENTING:' if grave else ''} {n} informasi negatif di {where} "
               f"untuk {title}")
    if opd_key == TRIAGE:
        greeting = "Yth. Admin Ketapang Media Center,"
        intro = (f"ditemukan {n} informasi negatif di {where} yang belum jelas OPD penanggung "
                 f"jawabnya. Mohon segera ditriase (isi kolom \"Teruskan ke\").")
    elif opd_key == OUTSIDE:
        greeting = "Yth. Admin Ketapang Media Center,"
        intro = (f"ditemukan {n} informasi negatif di {where} tentang instansi di luar Pemerintah "
                 f"Kabupaten Ketapang. Mohon diteruskan kepada instansi terkait.")
    else:
        greeting = f"Yth. Kepala {name},"
        intro = (f"Ketapang Media Center menemukan {n} informasi negatif di {where} yang berkaitan "
                 f"dengan {name}. Mohon segera ditanggapi.")
    note = "" if own_address else (
        f"(Alamat email kepala {title} belum diisi; email ini dikirim ke alamat cadangan KMC.)")
    lines = [greeting, "", intro, ""]
    blocks = []
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
        e = html.escape
        link = (f'<a href="{e(item.link, quote=True)}">{e(item.link)}</a>'
                if item.link.startswith(("http://", "https://")) else e(item.link or "-"))
        badge = '<strong style="color:#b00">PENTING</strong> ' if item.grave else ""
        blocks.append(
            f'<li style="margin-bottom:12px">{badge}'
            f"{e(item.text)}<br><small>Sumber: {e(item.channel)}"
            f"{' — ' + e(item.source) if item.source else ''} · Tautan: {link}<br>"
            f"Ditemukan: {e(_when(item.received_at, tz))} · No. Tiket: <b>{e(item.ticket_id)}</b> · "
            f"Batas tanggapan: {e(_when(item.deadline, tz))}</small></li>")
    footer = [
        f"Tanggapan diisi pada tab \"{title}\" di lembar kerja KMC Aduan (kolom Status dan "
        f"Tanggapan): {sheet_url or LOCAL_SHEET}",
    ]
    if note:
        footer.append(note)
    footer += ["", "Email ini dikirim otomatis oleh KMC Aduan (Ketapang Media Center)."]
    text = "\n".join(lines + footer) + "\n"
    e = html.escape
    body = (
        f"<p>{e(greeting)}</p><p>{e(intro)}</p><ol>{''.join(blocks)}</ol>"
        f"<p>Tanggapan diisi pada tab <b>{e(title)}</b> di "
        + (f"<a href=\"{e(sheet_url, quote=True)}\">lembar kerja KMC Aduan</a> " if sheet_url
           else f"lembar kerja KMC Aduan ({e(LOCAL_SHEET)}) ") +
        f"(kolom Status dan Tanggapan).</p>"
        + (f"<p><small>{e(note)}</small></p>" if note else "")
        + "<p><small>Email ini dikirim otomatis oleh KMC Aduan (Ketapang Media Center).</small></p>"
    )
    html_doc = (f"<!doctype html><html lang=\"id\"><head><meta charset=\"utf-8\">"
                f"<title>{e(subject)}</title></head><body style=\"font-family:sans-serif\">"
                f"{body}</body></html>")
    return OutgoingMail(to=to, subject=subject, text=text, html=html_doc, tag=f"alert-{opd_key}")


def send_alerts(items: Sequence[AlertItem], *, schema: Schema, mailer: Mailer,
                fallback: tuple[str, ...], sheet_url: str, tz) -> AlertReport:
    """One email per OPD; a failing send is reported, never raised (the cases are stored and
    the daily digest lists them)."""
    report = AlertReport()
    by_opd: dict[str, list[AlertItem]] = {}
    for item in items:
        by_opd.setdefault(item.opd or TRIAGE, []).append(item)
    for opd_key, group in by_opd.items():
        to, own = recipients(schema, opd_key, fallback)
        mail = compose_alert(schema, opd_key, group, to=to, own_address=own, sheet_url=sheet_url, tz=tz)
        try:
            mailer.send(mail)
        except Exception as e:  # noqa: BLE001 - one OPD's failure must not stop the others
            report.failed.append((opd_key, f"{type(e).__name__}: {e}"[:200]))
            log("ERROR", "alert email failed", opd=opd_key, items=len(group), error=type(e).__name__)
            continue
        report.sent.append((opd_key, to, len(group)))
        log("INFO", "alert email sent", opd=opd_key, items=len(group), head=own,
            tickets=",".join(i.ticket_id for i in group))
    return report


def alert_sender(svc, now: datetime | None = None) -> Callable[[Sequence[AlertItem]], AlertReport]:
    """send_alerts bound to the services' schema, mailer and settings."""
    fallback = fallback_recipients(svc.settings.digest_to, svc.settings.mail_from)

    def send(items: Sequence[AlertItem]) -> AlertReport:
        return send_alerts(items, schema=svc.schema, mailer=svc.mailer, fallback=fallback,
                           sheet_url=svc.sheet_url, tz=svc.settings.tz)

    return send
