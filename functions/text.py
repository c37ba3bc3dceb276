"""Cleaning and masking of citizen input. Pure."""
from __future__ import annotations

import re
import unicodedata

from .model import ANONYMOUS, NO_NAME, Contact, InvalidComplaint

MAX_TEXT_CHARS = 4000  # what the web form and Open311 accept in one field (a person can shorten it)
CELL_MAX_CHARS = 50_000  # what one Google Sheets cell holds
CELL_TEXT_CHARS = 45_000  # what an OPD cell shows of an over-long text (the marker follows)

# One cleaning policy for every field a citizen or a partner fills (text, names, addresses,
# profile names): C0/C1 controls except tab and newline, DEL, bidi embeddings/overrides/isolates
# and marks (incl. the Arabic letter mark U+061C), zero-width spaces and other invisible format
# characters that can disguise text in a spreadsheet cell, and the two XML non-characters.
# ZWJ/ZWNJ (U+200C/D) stay: emoji sequences and some scripts need them.
_INVISIBLE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u180e\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064"
    "\u2066-\u206f\ufeff\ufff9-\ufffb\ufffe\uffff]")
# Terminal escape sequences (CSI `ESC [ ... m`, OSC `ESC ] ... BEL`, two-character escapes):
# removed whole, so no `[31m` residue is left in a cell.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x9b[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def fix_unicode(raw: str) -> str:
    """Lone surrogates (a cut emoji, bytes that were not UTF-8) become U+FFFD; a surrogate
    pair that arrived as two code points becomes its character. Never refuses."""
    raw = raw or ""
    if not _SURROGATE.search(raw):
        return raw
    return raw.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def require_valid_unicode(raw: str, field: str = "text") -> str:
    """Kept for callers that must not store broken text (staff edits by hand): refuses it."""
    if _SURROGATE.search(raw or ""):
        raise InvalidComplaint("Teks berisi karakter yang tidak valid (bukan UTF-8). Periksa dan kirim ulang.", field)
    return raw


def strip_invisible(raw: str) -> str:
    """The cleaning policy above, keeping tab and newline (CR/LS/PS become newlines)."""
    text = fix_unicode(raw)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n").replace("\u2029", "\n")
    if "\x1b" in text or "\x9b" in text:
        text = _ANSI.sub("", text)
    return _INVISIBLE.sub("", text)


def clean_text(raw: str, *, max_chars: int | None = None, field: str = "text") -> str:
    """Normalise a complaint text; raise InvalidComplaint (Indonesian) only when nothing is left,
    or when `max_chars` is given (a form field the person can shorten) and exceeded."""
    text = unicodedata.normalize("NFC", strip_invisible(raw or ""))
    text = re.sub(r"[ \t]+\n", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    if not text:
        raise InvalidComplaint("Isi aduan tidak boleh kosong.", field)
    if max_chars is not None and len(text) > max_chars:
        raise InvalidComplaint(
            f"Isi aduan terlalu panjang ({thousands(len(text))} karakter). "
            f"Maksimal {thousands(max_chars)} karakter.", field
        )
    return text


def clean_line(raw: str, max_chars: int = 300) -> str:
    """A one-line field (name, address, profile name, handle): the same policy, whitespace
    collapsed, cut at `max_chars`."""
    text = unicodedata.normalize("NFC", strip_invisible(str(raw or "")))
    return " ".join(text.split())[:max_chars].strip()


def thousands(n: int) -> str:
    """`1.000.000`: Indonesian digit grouping."""
    return f"{n:,}".replace(",", ".")


def cell_text(text: str) -> str:
    """What an OPD cell shows: the text, or its first part and a visible marker when it would
    not fit a cell (the whole text is kept in the private store)."""
    if len(text) <= CELL_MAX_CHARS:
        return text
    return text[:CELL_TEXT_CHARS].rstrip() + f"…[dipotong, {thousands(len(text))} karakter]"


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
    """What an OPD tab shows: first name and initials (`Budi S.`), never a full name or phone;
    `Anonim` when the citizen asked for it, `Tanpa Nama` when no usable name was given."""
    if contact.anonymous:
        return ANONYMOUS
    words = [w for w in clean_line(contact.name, 200).split() if not any(ch.isdigit() for ch in w)]
    words = [w for w in words if any(ch.isalpha() for ch in w)]
    if not words:
        return NO_NAME
    first = words[0][:20]
    rest = " ".join(f"{w[0].upper()}." for w in words[1:3])
    return f"{first} {rest}".strip()


def excerpt(text: str, limit: int = 90) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1].rstrip() + "…"
