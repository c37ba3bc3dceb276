"""What the public may see of a case: the one place that decides it.

The web form's status page and the Open311 API both build their views from `PublicCase`,
which carries no reporter name, contact, complaint text or location. Anything personal that
a public view may show (the Open311 description of a case that came in through Open311
itself) is added by that view, on purpose, never by default.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..model import OUTSIDE, TRIAGE, Sla, Status
from ..schema import Schema
from ..timefmt import long_wib
from ..case import Case as StoredCase

DAYS = ("Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu")
MONTHS = ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus",
          "September", "Oktober", "November", "Desember")

# Staff statuses after which the OPD is done with the case (Open311 `closed`). "Bukan
# Wewenang" closes it for this OPD: staff forward it (the sweep moves it, and it is `Baru`
# again at the receiving OPD) or answer where the citizen should go instead.
CLOSED_STATUSES = frozenset({str(Status.DONE), str(Status.NOT_OURS)})

STATUS_MEANING = {
    str(Status.NEW): "Aduan sudah diterima dan menunggu ditindaklanjuti.",
    str(Status.IN_PROGRESS): "Aduan sedang ditangani oleh petugas.",
    str(Status.DONE): "Petugas menyatakan aduan sudah selesai ditangani.",
    str(Status.NOT_OURS): "Aduan bukan kewenangan instansi ini; lihat tanggapan petugas.",
}
# Staff may type any text into the Status dropdown (`Beres`): the case then counts as open
# everywhere (status page, Open311 `open`, the digest lists it as a problem for KMC).
UNKNOWN_STATUS_MEANING = ("Status ini ditulis petugas di luar pilihan baku; aduan dianggap masih berjalan "
                          "sampai petugas memilih Selesai atau Bukan Wewenang.")
SLA_MEANING = {
    str(Sla.RUNNING): "Batas waktu tanggapan belum lewat.",
    str(Sla.OVERDUE): "Batas waktu sudah lewat dan belum ada tanggapan.",
    str(Sla.ON_TIME): "Ditanggapi sebelum batas waktu.",
    str(Sla.LATE): "Ditanggapi setelah batas waktu.",
}


def _canonical(value: str, known) -> str:
    """Staff may type a dropdown value by hand (`selesai`): match it case-insensitively."""
    cleaned = " ".join(str(value or "").split())
    for item in known:
        if cleaned.lower() == str(item).lower():
            return str(item)
    return cleaned


def format_wib(moment: datetime | None, tz=None) -> str:
    """`Kamis, 5 November 2026 pukul 08.30 WIB` (functions/timefmt.py)."""
    return long_wib(moment, tz)


def sla_phrase(hours: float) -> str:
    """`2 x 24 jam` for 48, `36 jam` otherwise."""
    if hours % 24 == 0:
        return f"{int(hours // 24)} x 24 jam"
    return f"{hours:g} jam"


@dataclass(frozen=True)
class PublicCase:
    ticket_id: str
    tab: str  # OPD key of the tab the case is in now
    agency: str  # the OPD's full name
    category: str  # routing topic (Kategori)
    channel: str
    status: str
    sla: str
    received_at: datetime | None
    deadline: datetime | None
    response: str
    responded_at: datetime | None
    photos: int = 0  # photos attached (counted, never shown: staff open them from the row)

    @property
    def closed(self) -> bool:
        return self.status in CLOSED_STATUSES

    @property
    def in_triage(self) -> bool:
        return self.tab == TRIAGE

    @property
    def outside(self) -> bool:
        return self.tab == OUTSIDE

    @property
    def updated_at(self) -> datetime | None:
        """The last moment we know of: the response, else the receipt."""
        return self.responded_at or self.received_at

    @property
    def status_meaning(self) -> str:
        return STATUS_MEANING.get(self.status, UNKNOWN_STATUS_MEANING if self.status else "")

    @property
    def sla_meaning(self) -> str:
        return SLA_MEANING.get(self.sla, "")


def _agency(schema: Schema, key: str) -> str:
    try:
        return schema.opd(key).name
    except KeyError:
        return key


def public_case(stored: StoredCase, schema: Schema, tz=None) -> PublicCase:
    row = stored.row

    def when(key: str) -> datetime | None:
        value = row.get(key)
        if not isinstance(value, datetime):
            return None
        return value.astimezone(tz) if tz is not None else value

    return PublicCase(
        ticket_id=str(row.get("ticket_id", "")),
        tab=stored.tab,
        agency=_agency(schema, stored.tab),
        category=str(row.get("category") or ""),
        channel=str(row.get("channel") or ""),
        status=_canonical(row.get("status") or Status.NEW, Status),
        sla=_canonical(row.get("sla") or "", Sla),
        received_at=when("received_at"),
        deadline=when("deadline"),
        response=str(row.get("response") or "").strip(),
        responded_at=when("responded_at"),
        photos=photo_count(str(row.get("link") or "")),
    )


def photo_count(link_cell: str) -> int:
    """Stored photos in a Tautan cell: our links to cleaned images (always .jpg or .png)."""
    return sum(1 for line in link_cell.split("\n")
               if line.startswith(("http://", "https://")) and ("/media/" in line or "storage.cloud.google.com/" in line)
               and line.rsplit(".", 1)[-1] in {"jpg", "png"})
