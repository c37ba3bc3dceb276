"""Erasure on request (UU 27/2022): a citizen's personal data is removed from every store."""
from __future__ import annotations

from typing import Callable

from ..model import ANONYMOUS
from ..stores.port import CellUpdate, ContactBook, Workbook
from ..text import normalise_phone
from ..tickets import parse_ticket

ERASED_NOTE = "Data pribadi pelapor dihapus atas permintaan (UU 27/2022)."


def forget(workbook: Workbook, contacts: ContactBook, ticket_or_phone: str, prefix: str,
           archives: Callable[[int], Workbook | None] | None = None) -> list[str]:
    """Erase name, phone and channel id of one ticket, or of every ticket of a phone number, in
    the live workbook and in the yearly archives (`archives(year)`, None when there is none)."""
    key = ticket_or_phone.strip()
    ticket = parse_ticket(key, prefix)
    tickets = contacts.forget(ticket) if ticket else []
    if not tickets:
        tickets = contacts.forget(normalise_phone(key)) if normalise_phone(key) else []
    if not tickets:
        tickets = contacts.forget(key)
    if tickets:
        erase = [CellUpdate(t, {"reporter": ANONYMOUS, "contact": "", "note": ERASED_NOTE}) for t in tickets]
        missing = set(workbook.update(erase).missing)
        if archives is not None and missing:
            from .archive import ticket_year

            for year in sorted({ticket_year(t) for t in missing} - {None}):
                archive = archives(year)
                if archive is not None:
                    archive.update([u for u in erase if u.ticket_id in missing and ticket_year(u.ticket_id) == year])
    return tickets
