"""Cleaning and masking of citizen input. Pure."""
from __future__ import annotations

import re
import unicodedata

from .model import ANONYMOUS, Contact, InvalidComplaint

MAX_TEXT_CHARS = 4000
# C0/C1 controls except tab and newline, plus bidi overrides/isolates and zero-width joiners
# that can disguise text in a spreadsheet cell.
_INVISIBLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


_SURROGATE = re.compile(r"[\ud800-\udfff]")


def require_valid_unicode(raw: str, field: str = "text") -> str:
    """Text decoded from invalid UTF-8 (lone surrogates) is refused, never stored half-broken."""
    if _SURROGATE.search(raw or ""):
        raise InvalidComplaint("Teks berisi karakter yang tidak valid (bukan UTF-8). Periksa dan kirim ulang.", field)
    return raw


def clean_text(raw: str, *, max_chars: int = MAX_TEXT_CHARS, field: str = "text") -> str:
    """Normalise a complaint text or raise InvalidComplaint with an Indonesian message."""
    text = unicodedata.normalize("NFC", require_valid_unicode(raw or "", field))
    text = _INVISIBLE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = re.sub(r"[ \t]+\n", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    if not text:
        raise InvalidComplaint("Isi aduan tidak boleh kosong.", field)
    if len(text) > max_chars:
        raise InvalidComplaint(
            f"Isi aduan terlalu panjang ({len(text)} karakter). Maksimal {max_chars} karakter.", field
        )
    return text


def normalise_phone(raw: str) -> str:
    """Indonesian numbers as `08…` (from +62 / 62 / 8…); other input returned as digits."""
    digits = re.sub(r"\D", "", raw or "")
    if digits.startswith("62"):
        digits = "0" + digits[2:]
    elif digits.startswith("8"):
        digits = "0" + digits
    return digits


def valid_phone(raw: str) -> bool:
    p = normalise_phone(raw)
    return p.startswith("08") and 10 <= len(p) <= 13


def mask_phone(raw: str) -> str:
    """`081328383222` -> `0813****3222`; never shows more than 8 digits."""
    p = normalise_phone(raw)
    if len(p) < 8:
        return "****" if p else ""
    return f"{p[:4]}****{p[-4:]}"


def display_name(contact: Contact) -> str:
    """What an OPD tab shows: first name and initials (`Budi S.`), never a full name or phone."""
    if contact.anonymous:
        return ANONYMOUS
    words = [w for w in re.split(r"\s+", contact.name.strip()) if w and not any(ch.isdigit() for ch in w)]
    if not words:
        return ANONYMOUS
    first = words[0][:20]
    rest = " ".join(f"{w[0].upper()}." for w in words[1:3])
    return f"{first} {rest}".strip()


def excerpt(text: str, limit: int = 90) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1].rstrip() + "…"
