"""The doors' half of intake: derive the ticket, put the message in the durable queue, answer.

Nothing here reads or writes the workbook, so a door answers in milliseconds whatever the
Sheets API is doing. The ticket derives from the source id (a redelivery gets the same ticket
and is a duplicate job); a complaint without a source id gets a random one here, once.
"""
from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from .. import tickets
from ..model import Complaint
from ..queue.port import Job, KnowsTickets
from .intake_worker import encode_complaint, encode_inbound, encode_status

if TYPE_CHECKING:
    from .context import Services

RECENT_MAX = 5000  # tickets this instance accepted, for its own status page (Cloud Tasks)


@dataclass(frozen=True)
class Accepted:
    ticket: str
    deadline: datetime | None
    new: bool  # False: this message was accepted before (a redelivery, a double click)
    complaint: Complaint | None = None


class RecentTickets:
    """The tickets this instance accepted lately, with when (bounded, in memory)."""

    def __init__(self, size: int = RECENT_MAX):
        self.size = size
        self.items: OrderedDict[str, datetime] = OrderedDict()
        self.lock = threading.Lock()

    def add(self, ticket: str, at: datetime) -> None:
        with self.lock:
            self.items[ticket] = at
            self.items.move_to_end(ticket)
            while len(self.items) > self.size:
                self.items.popitem(last=False)

    def get(self, ticket: str) -> datetime | None:
        with self.lock:
            return self.items.get(ticket)


def recent(svc: "Services") -> RecentTickets:
    state = svc.state
    if state.recent_tickets is None:
        state.recent_tickets = RecentTickets()
    return state.recent_tickets


def _put(svc: "Services", job: Job) -> bool:
    new = svc.queue.put(job)
    if job.ticket:
        recent(svc).add(job.ticket, job.accepted_at)
    return new


def accept_inbound(svc: "Services", msg) -> tuple[str, bool]:
    """A WhatsApp / Messenger / Instagram message: (its own ticket, newly accepted)."""
    ticket = tickets.make_ticket(svc.settings.ticket_prefix, msg.sent_at, msg.message_id)
    group = f"{msg.channel}|{msg.sender}" if msg.joinable else ""
    job = Job("inbound", f"msg:{msg.message_id}", encode_inbound(msg), svc.now(), ticket, group)
    return ticket, _put(svc, job)


def accept_status(svc: "Services", event) -> bool:
    """A delivery status of one of our answers; only failures change anything."""
    if event.status != "failed":
        return False
    job = Job("delivery_status", f"status:{event.message_id}:{event.status}", encode_status(event), svc.now())
    return _put(svc, job)


def accept_complaint(svc: "Services", complaint: Complaint) -> Accepted:
    """A web-form or Open311 complaint, already validated by its door."""
    if not complaint.source_id:
        complaint = replace(complaint, source_id=f"{complaint.channel}:{secrets.token_urlsafe(16)}")
    ticket = tickets.make_ticket(svc.settings.ticket_prefix, complaint.received_at, complaint.source_id)
    policy = svc.policy
    deadline = policy.deadline(complaint.received_at, policy.sla_hours)
    job = Job("complaint", f"src:{complaint.source_id}", encode_complaint(complaint), svc.now(), ticket)
    return Accepted(ticket, deadline, _put(svc, job), complaint)


def accept_job(svc: "Services", kind: str, key: str, body: dict, ticket: str = "") -> tuple[str, bool]:
    """Any other door (the monitoring finding): its own body, checked by its own step.
    Returns (ticket, new); a duplicate answers the ticket its first acceptance got, when known."""
    if _put(svc, Job(kind, key, body, svc.now(), ticket)):
        return ticket, True
    queue = svc.queue
    return (queue.ticket_for(key) if isinstance(queue, KnowsTickets) else "") or ticket, False


def waiting_since(svc: "Services", ticket: str) -> datetime | None:
    """When `ticket` was accepted, if it is known to the queue (or this instance) but maybe not
    stored yet; None when neither knows it."""
    found = svc.queue.lookup(ticket)
    if found is not None:
        return found.accepted_at
    return recent(svc).get(ticket)
