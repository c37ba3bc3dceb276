"""One run of a job at a time: overlapping sweeps or dailies (a Cloud Scheduler retry, two
instances, two CLI runs, `serve`'s own scheduler next to an HTTP POST) never both send.

Two mechanisms, chosen by the store:

- A store with `job_lock(name)` (the local SQLite store: an OS file lock beside the database,
  released by the kernel if the process dies; the in-memory test store: a lock) gives the
  answer directly, across threads and processes.
- Otherwise (Google Sheets, which has no conditional write) a claim is appended to the Log
  WITHOUT reading first, then read back: `lease` entries keyed `NAME#TOKEN` (a random token per
  claim), detail = the holder id. Appends to a sheet land in one order that every reader sees
  (a later reader sees the same rows plus maybe more after them), so walking the Log's claims and
  releases of NAME in sheet order gives every run the same answer: a claim made while nobody
  holds the lease (or while the holder's claim is older than `ttl`: a crashed run) takes it; a
  claim made while it is held loses ("busy"). The winner records `lease-released` with its claim's
  key when done; the job may let that entry ride in its own last write (`Lease.ride`).
  Cost on Google Sheets: ONE extra request per run (the claim's append). The read-back is the
  job's own whole-workbook read (`read_for_job`, one batchGet of every tab, the Log and the side
  tabs) and the release rides in the job's commit, so a sweep is claim + read + contact sheet +
  commit + its post-commit check = 5 requests, whatever the size of the workbook.

What the job itself writes stays idempotent (the digest's Log entry per date, `reply_sent_at`
per answer), so a run after a crash or after the lease expired still sends nothing twice that
was recorded as sent.
"""
from __future__ import annotations

import secrets
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Iterator

from ..journal import LEASE_LOG, RELEASED_LOG, LogEntry, lease_key
from ..logs import log
from ..stores.port import LocksJobs, ReadsForJobs


@contextmanager
def exclusive(workbook, name: str, *, now: datetime, ttl: timedelta) -> Iterator["Lease"]:
    """`with exclusive(wb, "daily", now=..., ttl=...) as held:` run the job only if `held`."""
    if isinstance(workbook, LocksJobs):
        with workbook.job_lock(name) as held:
            yield Lease(bool(held))
        return
    holder = secrets.token_hex(8)
    key = claim(workbook, name, holder, now, ttl)
    lease = Lease(key is not None, None if key is None else LogEntry(RELEASED_LOG, key, now, holder))
    failed = False
    try:
        yield lease
    except BaseException:
        failed = True
        raise
    finally:
        if isinstance(workbook, ReadsForJobs):
            workbook.drop_job_read()  # a busy run's read must not serve a later run on this instance
        if lease.release is not None and (failed or not lease.rode):
            try:
                workbook.log_add(lease.release)
            except Exception as e:  # noqa: BLE001 - the lease then expires after ttl
                log("WARNING", "job lease not released; it expires by itself", job=name, error=type(e).__name__)


class Lease:
    """Truthy when this run holds the lease. `ride(entries)` puts the release in the job's own
    last Log write (its commit), saving the separate append; call it only for the last write."""

    def __init__(self, held: bool, release: LogEntry | None = None):
        self.held, self.release, self.rode = held, release, False

    def __bool__(self) -> bool:
        return self.held

    def ride(self, entries: list[LogEntry]) -> None:
        if self.release is not None:
            entries.append(self.release)
            self.rode = True


def _entries(workbook) -> list[LogEntry]:
    """The Log as written (sheet order), read now: the job's whole-workbook read when the store
    has one (so the read-back costs nothing extra), else a read of the Log."""
    if isinstance(workbook, ReadsForJobs):
        workbook.read_for_job()
        return workbook.log_entries(None, as_written=True)
    return workbook.log_entries(None)  # a store without a cache: read now, in the order written


def holder_of(entries: list[LogEntry], name: str, ttl: timedelta) -> dict[str, LogEntry]:
    """Walk NAME's claims and releases in Log order: {claim key: claim} of the claims that won."""
    prefix = lease_key(name, "")
    won: dict[str, LogEntry] = {}
    current: LogEntry | None = None
    for entry in entries:
        if not entry.key.startswith(prefix):
            continue
        if entry.kind == RELEASED_LOG:
            if current is not None and entry.key == current.key:
                current = None
        elif entry.kind == LEASE_LOG:
            if current is not None and entry.at - ttl < current.at <= entry.at + ttl:
                continue  # held, and not stale: this claim lost
            current = won[entry.key] = entry
    return won


def claim(workbook, name: str, holder: str, now: datetime, ttl: timedelta) -> str | None:
    """The claim key this holder now holds, or None when another run holds the lease."""
    key = lease_key(name, secrets.token_hex(6))
    workbook.log_add(LogEntry(LEASE_LOG, key, now, holder), new_key=True)  # no read before it
    winner = holder_of(_entries(workbook), name, ttl).get(key)
    if winner is None or winner.detail != holder:
        log("INFO", "job already running elsewhere; this run does nothing", job=name)
        return None
    return key
