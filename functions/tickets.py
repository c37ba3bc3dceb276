"""Ticket numbers `PREFIX-YYMMDD-XXXX`: WIB date + Crockford base32.

Derived from the source message id when there is one, so a redelivered message yields the
same ticket; otherwise random. What citizens type (lower case, no dashes, O for 0) is normalised.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_TYPO = str.maketrans({"O": "0", "I": "1", "L": "1", "U": "V"})
SUFFIX_LEN = 5


def _b32(number: int, length: int) -> str:
    out = []
    for _ in range(length):
        number, rem = divmod(number, 32)
        out.append(CROCKFORD[rem])
    return "".join(reversed(out))


def make_ticket(prefix: str, received_wib: datetime, source_id: str = "", *, length: int = SUFFIX_LEN) -> str:
    """A ticket for a complaint received at `received_wib` (already in WIB)."""
    if source_id:
        number = int.from_bytes(hashlib.sha256(source_id.encode("utf-8")).digest()[:8], "big")
    else:
        number = secrets.randbits(64)
    return f"{prefix}-{received_wib:%y%m%d}-{_b32(number, length)}"


def parse_ticket(typed: str, prefix: str) -> str | None:
    """Normalise what a citizen typed (`kmc 261127 ab3x9`, `KMC261127AB3X9`) or None."""
    compact = re.sub(r"[\s\-_.]", "", typed.upper())
    p = prefix.upper()
    if not compact.startswith(p):
        return None
    rest = compact[len(p):]
    m = re.fullmatch(r"(\d{6})([0-9A-Z]{4,6})", rest)
    if not m:
        return None
    suffix = m.group(2).translate(_TYPO)
    if any(ch not in CROCKFORD for ch in suffix):
        return None
    return f"{p}-{m.group(1)}-{suffix}"


def ticket_pattern(prefix: str) -> re.Pattern[str]:
    """Finds a ticket mentioned inside free text."""
    return re.compile(rf"\b{re.escape(prefix)}[\s\-]?\d{{6}}[\s\-]?[0-9A-Za-z]{{4,6}}\b", re.IGNORECASE)
