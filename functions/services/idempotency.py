"""Idempotency keys of machine clients (Open311's `Idempotency-Key` header): a retried POST
yields the same ticket; the same key with a different body is refused, never answered with the
first one's ticket. The claim is recorded in the Log (kind "open311-idem")."""
from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from ..stores.port import LogEntry, Workbook

if TYPE_CHECKING:
    from .context import Services

IDEMPOTENCY_LOG = "open311-idem"  # key: hash of (api key, Idempotency-Key); detail: body fingerprint


class KeyReused(Exception):
    """The key was claimed before for another body (nothing is stored)."""


def claim_source_id(svc: "Services", client: int, key: str, fingerprint: str) -> str:
    """The source id for this client's `key`; KeyReused when it was used for another body (the
    second complaint would otherwise vanish behind the first one's ticket). The body's
    fingerprint is part of the source id too: should two instances miss each other's record
    (the Sheets Log is read through a short cache), the second complaint still gets its own
    ticket rather than the first one's."""
    workbook: Workbook = svc.workbook
    digest = hashlib.sha256(f"{client}|{key}".encode("utf-8", "surrogatepass")).hexdigest()[:32]
    if not workbook.log_add(LogEntry(IDEMPOTENCY_LOG, digest, svc.now(), fingerprint)):
        first = next((e for e in workbook.log_entries(IDEMPOTENCY_LOG) if e.key == digest), None)
        if first is not None and first.detail != fingerprint:
            raise KeyReused(digest)
    return f"open311:{digest}:{fingerprint[:12]}"
