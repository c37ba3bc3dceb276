"""Intake: every channel hands a Complaint here; it is routed, stored, and a Receipt returned.

A complaint is acknowledged only after it is durably stored. The ticket derives from the
source id, so a redelivered message returns the existing ticket and writes nothing new.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Callable

from .. import sla, tickets
from ..model import Complaint, Receipt, Route, Sentiment, Sla, Status
from ..stores.port import ContactBook, ContactRecord, KeepsLongText, NewCase, Workbook
from ..logs import log
from ..text import CELL_MAX_CHARS, cell_text, clean_line, clean_text, display_name, mask_phone, strip_invisible

if TYPE_CHECKING:
    from .context import Services


@dataclass(frozen=True)
class IntakePolicy:
    ticket_prefix: str
    sla_hours: float
    deadline: Callable[[datetime, float], datetime] = sla.deadline


def build_row(complaint: Complaint, ticket: str, route: Route, sentiment: Sentiment, deadline_at: datetime) -> dict:
    contact = complaint.contact
    return {
        "ticket_id": ticket,
        "received_at": complaint.received_at,
        "channel": str(complaint.channel),
        "reporter": display_name(contact),
        "contact": "" if contact.anonymous else mask_phone(contact.phone),
        "text": cell_text(complaint.text),
        "location": complaint.location or route.location,
        "link": complaint.link,
        "category": complaint.category or route.topic,
        "sentiment": str(sentiment),
        "status": str(Status.NEW),
        "response": "",
        "responder": "",
        "forward_to": "",
        "deadline": deadline_at,
        "responded_at": None,
        "sla": str(Sla.RUNNING),
        "reply_sent_at": None,
        "note": "",
    }


def submit_complaint(
    complaint: Complaint,
    *,
    workbook: Workbook,
    contacts: ContactBook,
    route: Callable[[str], Route],
    classify: Callable[[str], tuple[Sentiment, float]],
    policy: IntakePolicy,
) -> Receipt:
    """Validate, route, store (contact first, then the OPD row) and return the ticket.

    Every field goes through the one cleaning policy (functions/text.py); nothing is refused
    for its content except an empty text. A text too long for a cell is kept whole in the
    private store and shown cut, with a visible marker, in the OPD row."""
    text = clean_text(complaint.text)
    contact = complaint.contact
    contact = replace(contact, name=clean_line(contact.name, 200), email=clean_line(contact.email, 200))
    complaint = replace(complaint, text=text, contact=contact, location=clean_line(complaint.location, 500),
                        link=strip_invisible(complaint.link).strip(), category=clean_line(complaint.category, 200))
    ticket = tickets.make_ticket(policy.ticket_prefix, complaint.received_at, complaint.source_id)
    if complaint.source_id:
        existing = workbook.find(ticket)
        if existing is not None:
            return Receipt(ticket, existing.tab, existing.deadline or complaint.received_at, created=False)
    routed = route(text)
    opd = complaint.opd or routed.opd
    sentiment = complaint.sentiment or classify(text)[0]
    deadline_at = policy.deadline(complaint.received_at, policy.sla_hours)
    contacts.put(ContactRecord(ticket, str(complaint.channel), complaint.contact, complaint.received_at))
    if len(text) > CELL_MAX_CHARS:
        if isinstance(contacts, KeepsLongText):
            contacts.keep_text(ticket, text)
        else:
            log("ERROR", "over-long text: this contact store cannot keep it whole", ticket=ticket, chars=len(text))
    row = build_row(complaint, ticket, routed, sentiment, deadline_at)
    (created,) = workbook.append([NewCase(opd, row)])
    return Receipt(ticket, opd, deadline_at, created=created)



def intake(svc: "Services", complaint: Complaint) -> Receipt:
    """The one intake every channel's step calls: store `complaint` with the deployment's ports."""
    receipt = submit_complaint(
        complaint, workbook=svc.workbook, contacts=svc.contacts,
        route=svc.route, classify=svc.classify, policy=svc.policy,
    )
    log("INFO", "complaint stored" if receipt.created else "complaint redelivered",
        ticket=receipt.ticket_id, channel=str(complaint.channel), opd=receipt.opd)
    return receipt
