"""One run of a job at a time: overlapping sweeps or dailies (a Cloud Scheduler retry, two
instances, two CLI runs, `serve`'s own scheduler next to an HTTP POST) never both send.

Two mechanisms, chosen by the store:

- A store with `job_lock(name)` (the local SQLite store: an OS file lock beside the database,
  released by the kernel if the process dies; the in-memory test store: a lock) gives the
  answer directly, across threads and processes.
- Otherwise (Google Sheets, which has no conditional write) a claim is appended to the Log and
  read back: `lease` entries keyed `NAME#GENERATION`, detail = a random holder id. Appends to a
  sheet land in one order and a reader keeps the FIRST row of a key, so of several runs that
  claim the same generation at once exactly one reads its own id back and runs; the others
  answer "busy". The winner records `lease-released` for its generation when done; a holder
  that crashed is overtaken when its lease is older than `ttl` (the next run claims the next
  generation). Cost: about four Sheets requests per run, whatever the size of the workbook.

What the job itself writes stays idempotent (the digest's Log entry per date, `reply_sent_at`
per answer), so a run after a crash or after the lease expired still sends nothing twice that
was recorded as sent.
"""
from __future__ import annotations

import secrets
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Iterator

from ..logs import log
from ..stores.port import LogEntry

LEASE_LOG = "lease"
RELEASED_LOG = "lease-released"


@contextmanager
def exclusive(workbook, name: str, *, now: datetime, ttl: timedelta) -> Iterator[bool]:
    """`with exclusive(wb, "daily", now=..., ttl=...) as held:` run the job only if `held`."""
    lock = getattr(workbook, "job_lock", None)
    if callable(lock):
        with lock(name) as held:
            yield held
        return
    holder = secrets.token_hex(8)
    generation = claim(workbook, name, holder, now, ttl)
    try:
        yield generation is not None
    finally:
        if generation is not None:
            try:
                workbook.log_add(LogEntry(RELEASED_LOG, f"{name}#{generation}", now, holder))
            except Exception as e:  # noqa: BLE001 - the lease then expires after ttl
                log("WARNING", "job lease not released; it expires by itself", job=name, error=type(e).__name__)


def _entries(workbook, kind: str | None = None) -> list[LogEntry]:
    try:
        return workbook.log_entries(kind, fresh=True)
    except TypeError:  # a store without a cache has nothing to refresh
        return workbook.log_entries(kind)


def claim(workbook, name: str, holder: str, now: datetime, ttl: timedelta) -> int | None:
    """The generation this holder now holds, or None when another run holds the lease."""
    prefix = f"{name}#"
    claims: dict[int, LogEntry] = {}
    released: set[str] = set()
    for entry in _entries(workbook):  # one read of the Log for both kinds
        if entry.kind == RELEASED_LOG:
            released.add(entry.key)
        elif entry.kind == LEASE_LOG and entry.key.startswith(prefix) and entry.key[len(prefix):].isdigit():
            claims.setdefault(int(entry.key[len(prefix):]), entry)
    current = max(claims, default=0)
    if current:
        held_since = claims[current].at
        if f"{prefix}{current}" not in released and now - ttl < held_since <= now + ttl:
            log("INFO", "job already running elsewhere; this run does nothing", job=name, generation=current)
            return None
    key = f"{prefix}{current + 1}"
    workbook.log_add(LogEntry(LEASE_LOG, key, now, holder))
    winner = next((e for e in _entries(workbook, LEASE_LOG) if e.key == key), None)
    if winner is None or winner.detail != holder:
        log("INFO", "job lease taken by a parallel run; this run does nothing", job=name, generation=current + 1)
        return None
    return current + 1
