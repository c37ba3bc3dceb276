"""The OPD directory: who heads each OPD and how to reach them (the `Kontak OPD` tab).

Pure core. KMC admins keep one row per OPD: key, the OPD's name, the head's name and title,
email(s), WhatsApp number(s) and copies (`Tembusan`: emails or numbers of others who receive
every alert). Rows are read as {column key: text} dicts by the store adapters and validated
here; a broken row (unknown key, bad email, bad number, a key twice) is reported in Indonesian
and skipped, never raised. `DirectorySource` reads the tab through a short cache, as the
routing rules are read from the `Rute` tab.
"""
from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Sequence

# (key, header in the sheet). The `opd` key is what a row is found by.
DIRECTORY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("opd", "Kode OPD"),
    ("opd_name", "Nama OPD"),
    ("head_name", "Nama Kepala"),
    ("head_title", "Jabatan"),
    ("email", "Email"),
    ("whatsapp", "Nomor WhatsApp"),
    ("cc", "Tembusan"),
)
DIRECTORY_KEYS = tuple(k for k, _ in DIRECTORY_COLUMNS)
DIRECTORY_TITLE = "Kontak OPD"
# What a KMC admin may type in `opd set` (Indonesian aliases of the column keys).
FIELD_ALIASES = {"nama_opd": "opd_name", "nama": "head_name", "kepala": "head_name",
                 "jabatan": "head_title", "wa": "whatsapp", "tembusan": "cc", "emails": "email"}
EDITABLE = frozenset(DIRECTORY_KEYS) - {"opd"}

_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}$")
_SEPARATORS = re.compile(r"[,;\n]+")


class InvalidContact(ValueError):
    """A directory value that cannot be used; `message` is Indonesian, for a KMC admin."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def split_list(value: str) -> list[str]:
    return [p.strip() for p in _SEPARATORS.split(value or "") if p.strip()]


def normalise_email(raw: str) -> str:
    address = raw.strip().strip("<>").strip()
    if len(address) > 254 or not _EMAIL.match(address):
        raise InvalidContact(f"alamat email '{raw.strip()}' tidak valid")
    return address


def normalise_whatsapp(raw: str) -> str:
    """An Indonesian mobile number in any usual spelling (0812-…, +62 812 …, 62812…) -> `62812…`
    (digits only, as the WhatsApp Cloud API takes `to`). A foreign number needs its `+`."""
    text = raw.strip()
    if re.search(r"[^0-9+\s().-]", text):
        raise InvalidContact(f"nomor WhatsApp '{text}' berisi karakter yang bukan angka")
    digits = re.sub(r"\D", "", text)
    if text.startswith("+") and not digits.startswith("62"):
        if 8 <= len(digits) <= 15:
            return digits
        raise InvalidContact(f"nomor WhatsApp '{text}' tidak valid (8-15 angka dengan kode negara)")
    if digits.startswith("0"):
        digits = "62" + digits[1:]
    elif digits.startswith("8"):
        digits = "62" + digits
    if not digits.startswith("628") or not 11 <= len(digits) <= 15:
        raise InvalidContact(f"nomor WhatsApp '{text}' tidak valid; tulis nomor ponsel seperti "
                             f"0812-3456-7890 atau +62 812 3456 7890")
    return digits


def mask_number(number: str) -> str:
    """`6281234567890` -> `62812****7890`: what logs, the Log tab and pages show."""
    return f"{number[:5]}****{number[-4:]}" if len(number) > 9 else "****"


@dataclass(frozen=True)
class OpdContact:
    opd: str
    opd_name: str = ""
    head_name: str = ""
    head_title: str = ""
    emails: tuple[str, ...] = ()
    whatsapp: tuple[str, ...] = ()
    cc_emails: tuple[str, ...] = ()
    cc_whatsapp: tuple[str, ...] = ()

    @property
    def addressee(self) -> str:
        """How a message names the head: `Kepala Dinas Kesehatan (dr. Rina)`."""
        title = self.head_title or (f"Kepala {self.opd_name}" if self.opd_name else f"Kepala {self.opd}")
        return f"{title} ({self.head_name})" if self.head_name else title

    @property
    def reachable(self) -> bool:
        return bool(self.emails or self.whatsapp)


@dataclass(frozen=True)
class Directory:
    contacts: Mapping[str, OpdContact]
    problems: tuple[str, ...] = ()
    source: str = ""  # "tab Kontak OPD" | "sheets_schema/opds.toml"

    def get(self, opd: str) -> OpdContact | None:
        return self.contacts.get(opd)


def parse_row(row: Mapping[str, str], known: Mapping[str, str]) -> OpdContact:
    """One row -> OpdContact, or InvalidContact naming the first thing wrong."""
    key = str(row.get("opd", "")).strip().upper()
    if not key:
        raise InvalidContact("kode OPD kosong")
    if key not in known:
        raise InvalidContact(f"kode OPD '{key}' tidak dikenal")
    emails = tuple(normalise_email(a) for a in split_list(str(row.get("email", ""))))
    numbers = tuple(dict.fromkeys(normalise_whatsapp(n) for n in split_list(str(row.get("whatsapp", "")))))
    cc_emails: list[str] = []
    cc_numbers: list[str] = []
    for item in split_list(str(row.get("cc", ""))):
        if "@" in item:
            cc_emails.append(normalise_email(item))
        else:
            try:
                cc_numbers.append(normalise_whatsapp(item))
            except InvalidContact:
                raise InvalidContact(f"tembusan '{item}' bukan email atau nomor WhatsApp yang valid") from None
    return OpdContact(key, " ".join(str(row.get("opd_name", "")).split()) or known[key],
                      " ".join(str(row.get("head_name", "")).split()),
                      " ".join(str(row.get("head_title", "")).split()),
                      tuple(dict.fromkeys(emails)), numbers, tuple(dict.fromkeys(cc_emails)),
                      tuple(dict.fromkeys(cc_numbers)))


def parse_directory(rows: Iterable[Mapping[str, str]], known: Mapping[str, str], *,
                    source: str = "tab Kontak OPD", first_row: int = 2) -> Directory:
    """Rows of the tab -> Directory; broken rows are reported (with their row number) and skipped."""
    contacts: dict[str, OpdContact] = {}
    problems: list[str] = []
    for n, row in enumerate(rows, start=first_row):
        if not any(str(v).strip() for v in row.values()):
            continue
        try:
            contact = parse_row(row, known)
        except InvalidContact as e:
            problems.append(f"{source} baris {n}: {e.message}; baris dilewati")
            continue
        if contact.opd in contacts:
            problems.append(f"{source} baris {n}: kode OPD {contact.opd} sudah ada di baris lain; "
                            f"baris dilewati")
            continue
        contacts[contact.opd] = contact
    return Directory(contacts, tuple(problems), source)


def seed_rows(opds: Sequence) -> list[dict[str, str]]:
    """The rows bootstrap writes into an empty tab: one per OPD of the schema, with whatever
    `head_email` sheets_schema/opds.toml holds (empty as shipped)."""
    return [{"opd": o.key, "opd_name": o.name, "head_name": "", "head_title": f"Kepala {o.title}"
             if o.kind == "opd" else "", "email": o.head_email, "whatsapp": "", "cc": ""}
            for o in opds]


def from_schema(opds: Sequence) -> Directory:
    """A store without a directory (or before bootstrap): the `head_email` fields of opds.toml."""
    known = {o.key: o.name for o in opds}
    return parse_directory(seed_rows(opds), known, source="sheets_schema/opds.toml")


def apply_assignments(current: Mapping[str, str], assignments: Sequence[str]) -> dict[str, str]:
    """`opd set` arguments (`email=a@b,c@d`, `whatsapp=0812…`, `nama="Ir. Budi"`) over a row;
    InvalidContact with an Indonesian message for an unknown field or a bad value."""
    row = {k: str(current.get(k, "")) for k in DIRECTORY_KEYS}
    for item in assignments:
        field, sep, value = item.partition("=")
        field = FIELD_ALIASES.get(field.strip().lower(), field.strip().lower())
        if not sep or field not in EDITABLE:
            names = ", ".join(sorted(EDITABLE | set(FIELD_ALIASES)))
            raise InvalidContact(f"'{item}' bukan FIELD=NILAI yang dikenal; field: {names}")
        row[field] = value.strip()
    # Normalised forms are stored, so the sheet and `opd list` show what will be used.
    if row["email"]:
        row["email"] = ", ".join(dict.fromkeys(normalise_email(a) for a in split_list(row["email"])))
    if row["whatsapp"]:
        row["whatsapp"] = ", ".join(dict.fromkeys(normalise_whatsapp(n) for n in split_list(row["whatsapp"])))
    return row


class DirectorySource:
    """The directory read from the store through a short cache (default 5 minutes).

    `read_rows()` returns the tab's rows, or None when the store has no directory yet (then
    opds.toml stands in). When the tab cannot be read, the last good directory stays in use."""

    def __init__(self, read_rows: Callable[[], list[dict[str, str]] | None], opds: Sequence, *,
                 ttl_seconds: float = 300, clock: Callable[[], float] = time.monotonic):
        self._read_rows, self._opds = read_rows, tuple(opds)
        self._known = {o.key: o.name for o in self._opds}
        self._ttl, self._clock = ttl_seconds, clock
        self._directory: Directory | None = None
        self._loaded_at = -math.inf

    def get(self, *, fresh: bool = False) -> Directory:
        now = self._clock()
        if not fresh and self._directory is not None and now - self._loaded_at < self._ttl:
            return self._directory
        self._loaded_at = now
        try:
            rows = self._read_rows()
        except Exception as e:  # noqa: BLE001 - a store hiccup must not stop an alert
            note = f"Tab {DIRECTORY_TITLE} tidak terbaca ({type(e).__name__}); memakai data terakhir"
            base = self._directory or from_schema(self._opds)
            return Directory(base.contacts, (*base.problems, note), base.source)
        self._directory = (from_schema(self._opds) if rows is None
                           else parse_directory(rows, self._known))
        return self._directory
