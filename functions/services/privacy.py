"""Erasure on request (UU 27/2022): a citizen's personal data is removed from every store."""
from __future__ import annotations

from ..model import ANONYMOUS
from ..stores.port import CellUpdate, ContactBook, Workbook
from ..text import normalise_phone
from ..tickets import parse_ticket

ERASED_NOTE = "Data pribadi pelapor dihapus atas permintaan (UU 27/2022)."


def forget(workbook: Workbook, contacts: ContactBook, ticket_or_phone: str, prefix: str) -> list[str]:
    """Erase name, phone and channel id of one ticket, or of every ticket of a phone number."""
    key = ticket_or_phone.strip()
    ticket = parse_ticket(key, prefix)
    tickets = contacts.forget(ticket) if ticket else []
    if not tickets:
        tickets = contacts.forget(normalise_phone(key)) if normalise_phone(key) else []
    if not tickets:
        tickets = contacts.forget(key)
    if tickets:
        workbook.update([CellUpdate(t, {"reporter": ANONYMOUS, "contact": "", "note": ERASED_NOTE}) for t in tickets])
    return tickets
