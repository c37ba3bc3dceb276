"""Public reads (status page, Open311 GETs) from a per-instance snapshot of the workbook.

A visitor never costs a Sheets request of their own: the snapshot is one `read_all`, refreshed
at most once per `max_age` (a minute on Google Sheets; the embedded SQLite store costs no quota,
so there it is read afresh), and while one refresh is in flight everyone else waits for it
instead of starting their own. When a refresh fails the previous snapshot keeps serving.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Callable

from ..logs import log
from ..model import StorageUnavailable
from ..case import Case, all_cases

if TYPE_CHECKING:
    from .context import Services

GOOGLE_MAX_AGE = 60.0
RETRY_AFTER_FAILURE = 10.0


class Snapshot:
    def __init__(self, read_all: Callable[[], dict[str, list[Case]]], *, max_age: float,
                 clock: Callable[[], float] = time.monotonic):
        self.read_all = read_all
        self.max_age = max_age
        self.clock = clock
        self.cond = threading.Condition()
        self.tabs: dict[str, list[Case]] | None = None
        self.by_ticket: dict[str, Case] = {}
        self.taken_at = float("-inf")
        self.failed_at = float("-inf")
        self.busy = False
        self.refreshes = 0

    def _fresh(self) -> bool:
        now = self.clock()
        if self.tabs is not None and now - self.taken_at < self.max_age:
            return True
        return self.tabs is not None and now - self.failed_at < RETRY_AFTER_FAILURE

    def get(self) -> dict[str, list[Case]]:
        with self.cond:
            while True:
                if self.max_age > 0 and self._fresh():
                    return self.tabs
                if not self.busy:
                    self.busy = True
                    break
                seen = self.refreshes
                self.cond.wait()
                if self.tabs is not None and self.refreshes != seen:
                    return self.tabs  # the refresh we waited for
        try:
            started = self.clock()
            tabs = self.read_all()
        except StorageUnavailable as e:
            with self.cond:
                self.failed_at = self.clock()
                if self.tabs is None:
                    raise
                log("WARNING", "public snapshot: refresh failed; serving the previous one", error=str(e)[:200])
                return self.tabs
        finally:
            with self.cond:
                self.busy = False
                self.cond.notify_all()
        by_ticket: dict[str, Case] = {}
        for case in all_cases(tabs):
            by_ticket.setdefault(case.ticket_id, case)
        with self.cond:
            self.tabs, self.by_ticket, self.taken_at = tabs, by_ticket, started
            self.refreshes += 1
        if self.max_age > 0:
            log("INFO", "public snapshot refreshed", cases=len(by_ticket),
                ms=round((self.clock() - started) * 1000))
        return tabs

    def find(self, ticket: str) -> Case | None:
        self.get()
        with self.cond:
            return self.by_ticket.get(ticket)


def snapshot_of(svc: "Services") -> Snapshot:
    """The instance's snapshot, created on first use."""
    state = svc.state
    if state.public_snapshot is None:
        max_age = GOOGLE_MAX_AGE if svc.settings.backend == "google" else 0.0
        state.public_snapshot = Snapshot(svc.workbook.read_all, max_age=max_age)
    return state.public_snapshot


@dataclass(frozen=True)
class Lookup:
    """What the public may learn about a ticket: stored (live tabs or the yearly archive), or
    accepted and waiting to be stored, or neither."""

    stored: Case | None = None
    waiting_since: datetime | None = None  # accepted by this deployment's queue, not stored yet


def look_up(svc: "Services", ticket: str) -> Lookup:
    """The status page's and Open311's look-up: the queue, then the snapshot, then the archive.
    StorageUnavailable only when the workbook cannot be read and the queue does not know it."""
    from .accept import waiting_since
    from .archive import find_archived

    if not ticket:
        return Lookup()
    since = waiting_since(svc, ticket)
    try:
        stored = snapshot_of(svc).find(ticket)
    except StorageUnavailable as e:
        if since is None:
            raise
        log("WARNING", "public look-up: storage unavailable; the queue knows the ticket", error=str(e)[:200])
        stored = None
    if stored is None and since is None:
        stored = find_archived(svc, ticket)  # closed cases moved to the yearly archive
    return Lookup(stored, since)
