"""The intake queue port: what the doors and the paced writer need, nothing more.

A door puts one `Job` per accepted message and answers; the writer (the local drain thread, or
Cloud Tasks calling `/jobs/intake`) stores it in the workbook and acknowledges the citizen.
`Job.key` derives from the source message id, so a redelivery is a duplicate, not a second job.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from ..model import StorageUnavailable
from ..text import fix_unicode

STALE_MINUTES = 15  # a job waiting longer than this is reported (log, digest, drain)
POISON_ATTEMPTS = 5  # failures that are not "the store is down" before a job is a dead letter


class QueueUnavailable(StorageUnavailable):
    """The queue could not take the job: nothing was accepted, the door answers 503."""


@dataclass(frozen=True)
class Job:
    """One accepted message. `body` is JSON-safe (see services/intake_worker.py codecs)."""

    kind: str  # inbound | complaint | finding | delivery_status
    key: str  # dedupe key from the source message id
    body: dict[str, Any]
    accepted_at: datetime
    ticket: str = ""  # the ticket the door gave (empty for delivery statuses)
    group: str = ""  # messages of one conversation are stored one after another, in order

    def to_json(self) -> str:
        """UTF-8-safe JSON: a lone surrogate (a cut emoji in a signed payload) becomes U+FFFD
        here, so the message is queued rather than refused for its content."""
        return fix_unicode(json.dumps({"kind": self.kind, "key": self.key, "body": self.body, "ticket": self.ticket,
                           "group": self.group, "accepted_at": self.accepted_at.isoformat()},
                          ensure_ascii=False, separators=(",", ":")))

    @classmethod
    def from_json(cls, text: str | bytes) -> "Job":
        data = json.loads(text)
        if not isinstance(data, dict) or not isinstance(data.get("body"), dict):
            raise ValueError("not a queued job")
        return cls(kind=str(data["kind"]), key=str(data["key"]), body=data["body"],
                   accepted_at=datetime.fromisoformat(str(data["accepted_at"])),
                   ticket=str(data.get("ticket") or ""), group=str(data.get("group") or ""))


def task_id(key: str) -> str:
    """A Cloud Tasks task id for `key`: the ticket-like readable part plus a hash of the whole key.

    Task ids allow letters, digits, hyphens and underscores only, at most 500 characters; a hash
    prefix spreads names so the queue does not slow down on sequential ids (Cloud Tasks advice)."""
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
    readable = re.sub(r"[^A-Za-z0-9_-]", "-", key)[:80]
    return f"{digest[:12]}-{readable}"


@dataclass
class Waiting:
    """A job that is accepted but not (yet) stored, as `drain` and the digest report it."""

    key: str
    kind: str
    ticket: str
    accepted_at: datetime
    attempts: int = 0
    error: str = ""
    dead: bool = False
    stored: bool = False  # stored in the workbook (kept a while as the redelivery guard)


@dataclass
class QueueStats:
    waiting: list[Waiting] = field(default_factory=list)
    dead: list[Waiting] = field(default_factory=list)


class IntakeQueue(Protocol):
    """Durable: once `put` returns, the job survives a crash of the process that accepted it."""

    def put(self, job: Job) -> bool:
        """Accept the job; False when a job with this key was accepted before (a duplicate).
        Raises QueueUnavailable when it could not be made durable."""

    def lookup(self, ticket: str) -> Waiting | None:
        """The job that carries `ticket`, if this queue can still see it (status pages)."""


@runtime_checkable
class KnowsTickets(Protocol):
    """A queue that can tell the ticket a key was first accepted with (the local queue)."""

    def ticket_for(self, key: str) -> str: ...


@runtime_checkable
class DrainedHere(Protocol):
    """The local queue: this process leases the jobs and stores them (`serve`'s drain thread,
    `python main.py drain`). Cloud Tasks calls `/jobs/intake` instead and keeps its own counts."""

    def lease(self, limit: int) -> list[Job]: ...

    def done(self, key: str) -> None: ...

    def fail(self, key: str, error: str, *, outage: bool) -> bool:
        """True when the job is now a dead letter."""

    def release(self, keys: list[str]) -> None: ...

    def recover(self) -> int:
        """Take over the jobs a stopped process had leased; returns how many."""

    def stats(self) -> QueueStats: ...

    def retry(self, key: str | None = None) -> int:
        """Put dead letters back (all when `key` is None); returns how many."""
