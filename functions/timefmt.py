"""Dates and times as people read them, one style everywhere (pages, WhatsApp answers, emails,
notes in the sheet, the CLI): Indonesian, independent of the OS locale, time as `07.00 WIB`.

- `long_wib`:  `Kamis, 5 November 2026 pukul 08.30 WIB` (citizens: status page, answers)
- `short_wib`: `05/11/2026 08.30 WIB` (notes in a sheet cell)
- `list_wib`:  `05/11 08.30 WIB` (lists in emails and the CLI)
Pure; the zone's abbreviation comes from the datetime (WIB for Asia/Jakarta).
"""
from __future__ import annotations

from datetime import datetime

DAYS = ("Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu")
MONTHS = ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus",
          "September", "Oktober", "November", "Desember")


def _local(moment: datetime, tz) -> datetime:
    return moment.astimezone(tz) if tz is not None else moment


# Indonesia's zones by UTC offset: a stored time read back with a fixed offset (`+07:00`) is
# named as people know it, not `UTC+07:00`.
_ZONES = {7: "WIB", 8: "WITA", 9: "WIT"}


def zone_name(moment: datetime) -> str:
    offset = moment.utcoffset()
    if offset is None:
        return ""
    name = moment.tzname() or ""
    if not name or name.startswith(("UTC", "+", "-")):
        hours = offset.total_seconds() / 3600
        name = _ZONES.get(int(hours), name) if hours.is_integer() else name
    return name


def jam(moment: datetime, tz=None) -> str:
    """`08.30 WIB`."""
    moment = _local(moment, tz)
    zone = zone_name(moment)
    return f"{moment:%H.%M}{' ' + zone if zone else ''}"


def long_wib(moment: datetime | None, tz=None) -> str:
    if moment is None:
        return ""
    moment = _local(moment, tz)
    return f"{DAYS[moment.weekday()]}, {moment.day} {MONTHS[moment.month - 1]} {moment.year} pukul {jam(moment)}"


def _dated(moment: datetime | None, tz, date_format: str) -> str:
    if moment is None:
        return ""
    moment = _local(moment, tz)
    return f"{moment.strftime(date_format)} {jam(moment)}"


def short_wib(moment: datetime | None, tz=None) -> str:
    return _dated(moment, tz, "%d/%m/%Y")


def list_wib(moment: datetime | None, tz=None) -> str:
    return _dated(moment, tz, "%d/%m")
