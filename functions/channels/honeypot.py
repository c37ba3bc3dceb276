"""The web form's honeypot ticket, indistinguishable from a real one on the status page.

A bot that fills the hidden field is shown a confirmation, and nothing is stored. If its fake
ticket then answered "not found" on the status page, the bot would learn it was caught. So the
fake ticket carries, in its five base32 characters, the minute it was issued and a MAC under
the deployment's form key (25 bits: 11 for the minute of the day, 14 for the MAC, masked per
date): the status page recognises it without any storage, on any instance, and shows it as a
new case in KMC triage. A guessed ticket passes the check with odds of about 1 in 23,000, and
then shows a plausible new case that does not exist: no real case is revealed.
"""
from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from .. import tickets
from ..model import TRIAGE, Channel, Sla, Status

if TYPE_CHECKING:
    from ..services.context import Services

_MINUTE_BITS, _MAC_BITS = 11, 14


def _mac(key: bytes, label: str, bits: int) -> int:
    digest = hmac.new(key, f"kmc-honeypot|{label}".encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:4], "big") & ((1 << bits) - 1)


def fake_ticket(key: bytes, prefix: str, now: datetime) -> str:
    day = f"{now:%y%m%d}"
    minute = now.hour * 60 + now.minute
    number = (minute << _MAC_BITS) | _mac(key, f"{day}|{minute}", _MAC_BITS)
    number ^= _mac(key, f"mask|{day}", _MINUTE_BITS + _MAC_BITS)
    return f"{prefix}-{day}-{tickets._b32(number, tickets.SUFFIX_LEN)}"


def issued_at(key: bytes, ticket: str, tz) -> datetime | None:
    """When a honeypot ticket was issued (WIB), or None when `ticket` is not one."""
    try:
        _, day, suffix = ticket.split("-")
        date = datetime.strptime(day, "%y%m%d")
    except ValueError:
        return None
    if len(suffix) != tickets.SUFFIX_LEN or any(ch not in tickets.CROCKFORD for ch in suffix):
        return None
    number = 0
    for ch in suffix:
        number = number * 32 + tickets.CROCKFORD.index(ch)
    number ^= _mac(key, f"mask|{day}", _MINUTE_BITS + _MAC_BITS)
    minute, tag = number >> _MAC_BITS, number & ((1 << _MAC_BITS) - 1)
    if minute >= 24 * 60 or not hmac.compare_digest(str(tag), str(_mac(key, f"{day}|{minute}", _MAC_BITS))):
        return None
    return date.replace(tzinfo=tz) + timedelta(minutes=minute)


def fake_case(svc: "Services", ticket: str, received: datetime):
    """What the public sees of a honeypot ticket: a new web-form case waiting in KMC triage."""
    from .public_case import PublicCase, _agency

    return PublicCase(ticket, TRIAGE, _agency(svc.schema, TRIAGE), "", str(Channel.WEB_FORM), str(Status.NEW),
                      str(Sla.RUNNING), received, received + timedelta(hours=svc.settings.sla_hours), "", None)


def recognise(svc: "Services", ticket: str):
    """The fake case of a honeypot ticket issued by this deployment, or None."""
    from .csrf import form_key

    issued = issued_at(form_key(svc.settings), ticket, svc.settings.tz)
    return fake_case(svc, ticket, issued) if issued is not None else None
