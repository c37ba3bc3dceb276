"""Monitoring findings (a social-media post KMC staff logged at `/monitoring`): the use case.

The channel (channels/monitoring.py) parses and validates the form into a `Finding` and queues
it; the paced writer runs `finding_step`, which stores it here: judged like a news item (same
detector and threshold, same router), stored on channel "Media Sosial" with the URL as its
source id, the canonical URL -> ticket kept in the Log (kind "monitoring-url") so the same post
logged again returns its ticket, and a negative post alerts the OPD head at once.
`findings_history` is what `/monitoring/riwayat` shows (reads only the Log).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..journal import URL_LOG, url_key
from ..logs import log
from ..model import Channel, Complaint, Contact, Sentiment
from ..stores.port import LogEntry, Workbook
from .intake import intake

if TYPE_CHECKING:
    from ..queue.port import Job
    from .context import Services
    from .intake_worker import Result

HISTORY_LIMIT = 200


@dataclass(frozen=True)
class Finding:
    """One post as the channel validated it (channels/monitoring.py `parse_finding`)."""

    platform: str
    url: str
    canonical: str  # the URL without tracking parameters: one post, one ticket
    handle: str  # the account name, cleaned ("" when not given)
    text: str  # "[Platform] what the post says", cleaned
    observed: datetime
    sentiment: Sentiment | None  # staff judgement; None: the detector decides


def known_ticket(workbook: Workbook, canonical: str):
    """The stored case of a URL logged before, or None."""
    key = url_key(canonical)
    for entry in workbook.log_entries(URL_LOG):
        if entry.key == key:
            return workbook.find(entry.detail.strip())
    return None


def finding_step(svc: "Services", job: "Job", finding: Finding) -> "Result":
    """The paced writer's step for a queued finding (services/intake_worker.py)."""
    from .intake_worker import Result

    out = store_finding(svc, finding, now=job.accepted_at.astimezone(svc.settings.tz))
    return Result(job.key, job.kind, "created" if out["created"] else "redelivered", out["ticket"])


def store_finding(svc: "Services", finding: Finding, now: datetime | None = None) -> dict:
    """Store one finding; returns the reply (ticket, opd, created, sentiment, alert)."""
    from .media import load_media_config, media_sentiment

    now = now or svc.now()
    existing = known_ticket(svc.workbook, finding.canonical)
    if existing is not None:
        return {"ticket": existing.ticket_id, "opd": existing.tab, "created": False,
                "sentiment": str(existing.sentiment), "alert": "tidak",
                "message": f"Unggahan ini sudah tercatat dengan tiket {existing.ticket_id}."}
    cfg = svc.media_config or load_media_config()
    sentiment = finding.sentiment or media_sentiment(svc.classify, finding.text, cfg.negative_min_score)
    handle = finding.handle
    contact = Contact(name=handle, channel_user_id=f"{finding.platform}:{handle}" if handle else "",
                      anonymous=not handle)
    receipt = intake(svc, Complaint(text=finding.text, channel=Channel.SOCIAL_MEDIA, received_at=finding.observed,
                                    contact=contact, source_id=finding.canonical, link=finding.url,
                                    sentiment=sentiment))
    svc.workbook.log_add(LogEntry(URL_LOG, url_key(finding.canonical), now, receipt.ticket_id))
    alert, deliveries = "tidak", []
    if receipt.created and sentiment == Sentiment.NEGATIVE:
        deliveries = _alert(svc, finding, receipt, now)
        alert = "terkirim" if any(d.ok for d in deliveries) else "gagal"
    if receipt.created:
        message = f"Tercatat dengan tiket {receipt.ticket_id} di tab {receipt.opd}."
        if alert != "tidak":
            message += " " + alert_sentence(deliveries)
    else:
        message = f"Unggahan ini sudah tercatat dengan tiket {receipt.ticket_id}."
    log("INFO", "monitoring finding", ticket=receipt.ticket_id, opd=receipt.opd,
        created=receipt.created, platform=finding.platform, sentiment=str(sentiment), alert=alert)
    return {"ticket": receipt.ticket_id, "opd": receipt.opd, "created": receipt.created,
            "sentiment": str(sentiment), "alert": alert, "message": message,
            "alerted": [delivery_json(d) for d in deliveries]}


def _alert(svc: "Services", finding: Finding, receipt, now: datetime) -> list:
    """Alert the OPD head of a new negative finding; the deliveries as the Log recorded them."""
    from .alerts import AlertItem, alert_sender

    grave = (svc.is_grave or _default_grave)(finding.text)
    item = AlertItem(receipt.ticket_id, receipt.opd, str(Channel.SOCIAL_MEDIA), finding.platform, finding.text,
                     finding.url, finding.observed, receipt.deadline, grave)
    return alert_sender(svc, now)([item]).deliveries


def alert_sentence(deliveries) -> str:
    """What was sent, to whom and how — never "sent to the head" when it went elsewhere."""
    from .notify import FALLBACK_NAME

    ok = [d for d in deliveries if d.ok]
    failed = [d for d in deliveries if not d.ok]
    head = [d for d in ok if d.to != FALLBACK_NAME]
    fallback = [d for d in ok if d.to == FALLBACK_NAME]
    parts = []
    if head:
        parts.append("Peringatan dikirim ke " + "; ".join(f"{d.to} lewat {d.via} ({d.address})" for d in head) + ".")
    if fallback:
        reason = ("kontak kepala OPD belum diisi di tab Kontak OPD" if not failed
                  else "pesan ke kepala OPD gagal")
        parts.append(f"Peringatan dikirim lewat email ke alamat cadangan KMC ({fallback[0].address}) "
                     f"karena {reason}; BELUM sampai ke kepala OPD, mohon kabari OPD secara langsung.")
    for d in failed:
        parts.append(f"{d.via} ke {d.to} ({d.address}) GAGAL: {d.note}.")
    if not ok:
        parts.append("Peringatan BELUM terkirim ke siapa pun; kabari OPD secara langsung.")
    return " ".join(parts)


def delivery_json(d) -> dict[str, Any]:
    return {"via": d.via, "to": d.to, "address": d.address, "ok": d.ok, "note": d.note,
            "at": d.at.isoformat(timespec="seconds")}


def _default_grave(text: str) -> bool:
    from ..sentiment import is_alert

    return is_alert(text)


def findings_history(svc: "Services", limit: int = HISTORY_LIMIT) -> list[dict]:
    """Newest first: each finding logged here or alerted by the media job, with every alert
    attempt recorded in the Log (who, how, when, outcome). Reads only the Log."""
    from .notify import NOTIFY, deliveries_by_ticket

    entries = svc.workbook.log_entries()
    alerts = deliveries_by_ticket(e for e in entries if e.kind == NOTIFY and e.key.startswith("alert:"))
    found: dict[str, datetime] = {}
    for e in entries:
        if e.kind == URL_LOG and e.detail.strip():
            found.setdefault(e.detail.strip(), e.at)
    for ticket, ds in alerts.items():
        found.setdefault(ticket, min(d.at for d in ds))
    rows = []
    for ticket, at in sorted(found.items(), key=lambda kv: kv[1], reverse=True)[:limit]:
        ds = sorted(alerts.get(ticket, []), key=lambda d: d.at)
        rows.append({"ticket": ticket, "at": at.isoformat(timespec="seconds"),
                     "opd": ds[0].opd if ds else "", "alerted": [delivery_json(d) for d in ds]})
    return rows
