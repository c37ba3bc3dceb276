"""What an OPD staff member does by hand in the sheet, as a command (`python main.py edit`)."""
from __future__ import annotations

from ..model import InvalidComplaint, UnknownTicket
from ..schema import Schema
from ..stores.port import CellUpdate, Workbook
from ..text import require_valid_unicode
from ..tickets import parse_ticket


def parse_assignments(pairs: list[str], schema: Schema) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InvalidComplaint(f"Format salah: {pair!r}. Gunakan KOLOM=NILAI, misalnya status=Diproses.", key)
        if key not in schema.column_keys:
            raise InvalidComplaint(
                f"Kolom {key!r} tidak dikenal. Kolom yang boleh diisi petugas: {', '.join(sorted(schema.staff_keys))}.", key)
        if key not in schema.staff_keys:
            raise InvalidComplaint(
                f"Kolom {key!r} diisi oleh sistem dan tidak boleh diubah petugas. "
                f"Kolom petugas: {', '.join(sorted(schema.staff_keys))}.", key)
        values[key] = require_valid_unicode(value, key).strip()
    if not values:
        raise InvalidComplaint("Tidak ada yang diubah. Contoh: status=Diproses tanggapan=...", "")
    return values


def staff_edit(workbook: Workbook, schema: Schema, typed_ticket: str, pairs: list[str], prefix: str) -> str:
    """Write staff cells of one case; returns the ticket. Raises InvalidComplaint/UnknownTicket."""
    ticket = parse_ticket(typed_ticket, prefix) or typed_ticket.strip()
    values = parse_assignments(pairs, schema)
    if workbook.find(ticket) is None:
        raise UnknownTicket(f"Tiket {typed_ticket!r} tidak ditemukan.")
    report = workbook.update([CellUpdate(ticket, values)], staff=True)
    if report.written != 1:
        raise UnknownTicket(f"Tiket {typed_ticket!r} tidak ditemukan saat menulis.")
    return ticket
