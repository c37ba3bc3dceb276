"""Idempotency keys of machine clients (Open311's `Idempotency-Key` header): a retried POST
yields the same ticket; the same key with a different body is refused, never answered with the
first one's ticket. The claim is recorded in the Log (kind "open311-idem")."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..journal import IDEMPOTENCY_LOG, LogEntry, idempotency_key
from ..stores.port import Workbook

if TYPE_CHECKING:
    from .context import Services


class KeyReused(Exception):
    """The key was claimed before for another body (nothing is stored)."""


def claim_source_id(svc: "Services", client: int, key: str, fingerprint: str) -> str:
    """The source id for this client's `key`; KeyReused when it was used for another body (the
    second complaint would otherwise vanish behind the first one's ticket). The body's
    fingerprint is part of the source id too: should two instances miss each other's record
    (the Sheets Log is read through a short cache), the second complaint still gets its own
    ticket rather than the first one's."""
    workbook: Workbook = svc.workbook
    digest = idempotency_key(client, key)
    if not workbook.log_add(LogEntry(IDEMPOTENCY_LOG, digest, svc.now(), fingerprint)):
        first = next((e for e in workbook.log_entries(IDEMPOTENCY_LOG) if e.key == digest), None)
        if first is not None and first.detail != fingerprint:
            raise KeyReused(digest)
    return f"open311:{digest}:{fingerprint[:12]}"
