"""The typed container every entry point hands to the services (issue 17: no service locator).

`Services` holds the ports one deployment runs with (named, typed fields) and the per-instance
state the services keep between requests (`InstanceState`). It has no use case on it: the use
cases are functions in `functions/services/` taking `svc: Services` (entry level) or the ports
they use (below). Only `functions/bootstrap.py::build` makes one (tests pass fakes through its
keywords); `bootstrap` re-exports the class.

Cheap to import (the intake cold start, `scripts/bench.py cold_start`): the port modules are
typing-only here, every per-instance helper is created by the module that owns it, on first use.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol

if TYPE_CHECKING:
    from ..config import Settings
    from ..mail.port import Mailer
    from ..messaging.port import Messenger
    from ..model import Route, Sentiment
    from ..queue.port import IntakeQueue, Job
    from ..schema import Schema
    from ..stores.port import ContactBook, Workbook
    from .accept import RecentTickets
    from .attachments import MediaKit
    from .conversation import FloodLimiter
    from .intake import IntakePolicy
    from .intake_worker import ConversationLocks, Result
    from .media_config import MediaConfig
    from .public_reads import Snapshot


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class IntakeStep(Protocol):
    """What the paced writer runs for one queued job of a kind (services/intake_worker.py)."""

    def __call__(self, svc: "Services", job: "Job") -> "Result": ...


class FeedFetcher(Protocol):
    """The media watch's feed reader (conditional GET with the validators of the last read)."""

    def fetch(self, url: str, validators: Any) -> Any: ...


@dataclass
class InstanceState:
    """What one instance (one process, one test's `build`) keeps between requests. Each field
    is owned and filled on first use by the module named beside it; nothing else writes it."""

    recent_tickets: "RecentTickets | None" = None  # accept.recent: accepted, maybe not stored yet
    conversation_locks: "ConversationLocks | None" = None  # intake_worker: one conversation at a time
    flood_limiter: "FloodLimiter | None" = None  # conversation.limiter_for: messages per sender
    public_snapshot: "Snapshot | None" = None  # public_reads.snapshot_of: status page / Open311 reads
    directory_source: Any = None  # notify.directory_of: the Kontak OPD tab behind a 5-minute cache
    door_activity: Any = None  # server.make_app: the doors' last request (the drain waits for quiet)
    rate_limiters: dict[str, Any] = field(default_factory=dict)  # channels/ratelimit.shared_limiter: name -> RateLimiter


@dataclass
class Services:
    """The ports of one deployment, built by `bootstrap.build`."""

    settings: "Settings"
    schema: "Schema"
    workbook: "Workbook"
    contacts: "ContactBook"
    mailer: "Mailer"
    messenger: "Messenger"  # answers to citizens on WhatsApp / Messenger / Instagram
    queue: "IntakeQueue"  # the durable intake queue between the doors and the workbook
    route: "Callable[[str], Route]"
    classify: "Callable[[str], tuple[Sentiment, float]]"
    clock: Callable[[], datetime] = utc_now
    # the media kit factory (issue 20): called on first use, None when a test runs without one
    attachments: "Callable[[], MediaKit] | None" = None
    intake_steps: "Mapping[str, IntakeStep]" = field(default_factory=dict)  # job kind -> step (added kinds)
    media_config: "MediaConfig | None" = None  # None: sheets_schema/media.toml
    feed_fetcher: "FeedFetcher | None" = None  # None: the media job builds the real fetcher
    is_grave: "Callable[[str], bool] | None" = None  # None: the shipped grave-news detector
    state: InstanceState = field(default_factory=InstanceState)

    def now(self) -> datetime:
        """The current time in WIB (or KMC_TIMEZONE)."""
        return self.clock().astimezone(self.settings.tz)

    @property
    def policy(self) -> "IntakePolicy":
        """Ticket prefix, SLA hours and the deadline rule (derived from settings, pure)."""
        from ..sla import deadline_function  # working-days mode: KMC_SLA_WORKING_HOURS
        from .intake import IntakePolicy

        deadline = deadline_function(self.settings.sla_working_hours, self.settings.timezone)
        return IntakePolicy(self.settings.ticket_prefix, self.settings.sla_hours, deadline)

    @property
    def titles(self) -> dict[str, str]:
        """OPD key -> its tab title (schema, pure)."""
        return {o.key: o.title for o in self.schema.opds}

    @property
    def sheet_url(self) -> str:
        """The workbook's link for emails; "" on the local store (a file:/// path on the server
        means nothing to the reader: the emails say to run `sheet show` instead)."""
        if self.settings.backend == "google":
            return f"https://docs.google.com/spreadsheets/d/{self.settings.spreadsheet_id}/edit"
        return ""
