"""Composition root: builds every adapter from Settings. Nothing connects at import.

`build(settings, **overrides)` takes each dependency as a keyword argument with a production
default, so a test passes a fake; `services()` caches one instance per process (Cloud Functions
keeps it for the instance's life).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cache
from typing import TYPE_CHECKING, Any, Callable

from .config import Settings
from .logs import configure as configure_logs
from .logs import log
from .model import Complaint, Receipt, Route, Sentiment
from .schema import Schema, load_schema
from .services.intake import IntakePolicy, submit_complaint
from .stores.port import ContactBook, Workbook

if TYPE_CHECKING:  # the mail package loads `email`; only jobs need it at run time
    from .mail.port import Mailer


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Services:
    settings: Settings
    schema: Schema
    workbook: Workbook
    contacts: ContactBook
    mailer: "Mailer"
    route: Callable[[str], Route]
    classify: Callable[[str], tuple[Sentiment, float]]
    clock: Callable[[], datetime] = utc_now
    extras: dict[str, Any] = field(default_factory=dict)  # adapters added by later channels
    messenger: Any = None  # functions/messaging: answers to citizens on WhatsApp / Messenger / Instagram
    queue: Any = None  # functions/queue: the durable intake queue between the doors and the workbook
    # the media job's dependencies (K's typed container defines them; this is the stand-in until the merge)
    media_config: Any = None
    feed_fetcher: Any = None
    is_grave: Any = None

    def now(self) -> datetime:
        """The current time in WIB (or KMC_TIMEZONE)."""
        return self.clock().astimezone(self.settings.tz)

    @property
    def policy(self) -> IntakePolicy:
        from .sla import deadline_function  # working-days mode: KMC_SLA_WORKING_HOURS

        deadline = deadline_function(self.settings.sla_working_hours, self.settings.timezone)
        return IntakePolicy(self.settings.ticket_prefix, self.settings.sla_hours, deadline)

    @property
    def titles(self) -> dict[str, str]:
        return {o.key: o.title for o in self.schema.opds}

    @property
    def sheet_url(self) -> str:
        """The workbook's link for emails; "" on the local store (a file:/// path on the server
        means nothing to the reader: the emails say to run `sheet show` instead)."""
        if self.settings.backend == "google":
            return f"https://docs.google.com/spreadsheets/d/{self.settings.spreadsheet_id}/edit"
        return ""

    def intake(self, complaint: Complaint) -> Receipt:
        """The one intake every channel calls."""
        receipt = submit_complaint(
            complaint, workbook=self.workbook, contacts=self.contacts,
            route=self.route, classify=self.classify, policy=self.policy,
        )
        log("INFO", "complaint stored" if receipt.created else "complaint redelivered",
            ticket=receipt.ticket_id, channel=str(complaint.channel), opd=receipt.opd)
        return receipt


def _default_stores(settings: Settings, schema: Schema) -> tuple[Workbook, ContactBook]:
    if settings.backend == "google":
        from .stores.google import GoogleContactBook, GoogleWorkbook

        return GoogleWorkbook.from_settings(settings, schema), GoogleContactBook.from_settings(settings)
    from .stores.local import LocalContactBook, LocalWorkbook, prepare_dir

    if settings.in_cloud:
        log("WARNING", "KMC_BACKEND=local in the cloud: the instance disk is in memory and per instance")
    directory = prepare_dir(settings.data_dir)
    return LocalWorkbook(directory / "workbook.sqlite", schema), LocalContactBook(directory / "contacts.sqlite")


def _default_mailer(settings: Settings) -> "Mailer":
    if settings.smtp_host:
        from .mail.smtp import SmtpMailer

        return SmtpMailer.from_settings(settings)
    from .mail.outbox import OutboxMailer

    return OutboxMailer(settings.outbox_dir, settings.mail_from)


def _default_router(workbook: Workbook) -> Callable[[str], Route]:
    """Route with the `Rute` tab KMC admins edit (read through a 5-minute cache; broken rows are
    reported and skipped; the shipped rules stand in when the tab is empty or unreadable).
    Rules load on the first complaint, so jobs and health checks never pay for them.
    The model the daily job learned from settled cases (routing_model.py) decides where the rules
    are not confident; without one (or with a corrupt one) the rules decide alone."""
    source = models = None

    def route_text(text: str) -> Route:
        nonlocal source, models
        from .routing import RuleSource, load_rules
        from .routing_model import ModelSource, decide, load_thresholds

        thresholds = load_thresholds()
        if models is None and callable(getattr(workbook, "read_routing_model", None)):
            from .schema import load_schema

            known = frozenset(o.key for o in load_schema().opds)  # a model naming a removed OPD is refused
            models = ModelSource(workbook.read_routing_model, ttl_seconds=thresholds.ttl_seconds, known_opds=known)
        model = models.get() if models is not None else None
        if not hasattr(workbook, "read_rules"):
            return decide(text, load_rules(), model, thresholds)
        if source is None:
            source = RuleSource(workbook.read_rules)
        return decide(text, source.get(), model, thresholds)

    return route_text


def _default_classifier() -> Callable[[str], tuple[Sentiment, float]]:
    def classify_text(text: str) -> tuple[Sentiment, float]:
        from .sentiment import classify

        return classify(text)

    return classify_text


def _default_messenger(settings: Settings):
    """Graph API when a WhatsApp or Page access token is set (and always in the cloud, where a
    channel without its token then fails visibly); otherwise the local JSONL outbox."""
    from .messaging.outbox import OutboxMessenger

    if settings.whatsapp_access_token or settings.meta_page_access_token or settings.in_cloud:
        from .config import ConfigError
        from .messaging.graph import GraphMessenger

        if settings.whatsapp_access_token and not settings.whatsapp_phone_number_id:
            raise ConfigError("WHATSAPP_PHONE_NUMBER_ID wajib diisi bila WHATSAPP_ACCESS_TOKEN diatur")
        return GraphMessenger.from_settings(settings)
    return OutboxMessenger(settings.outbox_dir)


def _default_queue(settings: Settings):
    """Cloud Tasks when KMC_QUEUE=cloudtasks; otherwise the SQLite queue in KMC_DATA_DIR
    (the default, and what `serve` drains on either backend)."""
    if settings.queue == "cloudtasks":
        from .queue.cloudtasks import CloudTasksQueue

        return CloudTasksQueue.from_settings(settings)
    from .queue.local import LocalQueue
    from .stores.local import prepare_dir

    return LocalQueue(prepare_dir(settings.data_dir) / "queue.sqlite")


def _default_media(settings: Settings) -> Callable[[], Any]:
    """The media step's kit (issue 20), built on first use: a Cloud Storage bucket when
    KMC_MEDIA_BUCKET is set, else KMC_DATA_DIR/media; Graph API downloads when KMC_MEDIA_FETCH;
    Speech-to-Text when KMC_TRANSCRIBE."""
    made: list = []

    def kit():
        if not made:
            from .services.attachments import MediaKit

            if settings.media_bucket:
                from .media_store.gcs import GcsMediaStore

                store = GcsMediaStore(settings.media_bucket)
            else:
                from .media_store.local import LocalMediaStore

                store = LocalMediaStore(settings.data_dir / "media", settings.public_url)
            fetch = transcribe = None
            if settings.media_fetch:
                from .attachments.meta_media import MetaMediaFetcher

                fetch = MetaMediaFetcher(settings.meta_graph_url, settings.whatsapp_access_token).fetch
            if settings.transcribe:
                from .attachments.speech import SpeechToText

                transcribe = SpeechToText(bucket=settings.media_bucket).transcribe
            made.append(MediaKit(store, fetch, transcribe, dict(settings.media_limits)))
        return made[0]

    return kit


def _finding_step(svc, job):
    """The monitoring finding's step lives with its channel (services never import channels)."""
    from .channels.monitoring import store_finding

    return store_finding(svc, job)


def build(
    settings: Settings,
    *,
    schema: Schema | None = None,
    workbook: Workbook | None = None,
    contacts: ContactBook | None = None,
    mailer: "Mailer | None" = None,
    route: Callable[[str], Route] | None = None,
    classify: Callable[[str], tuple[Sentiment, float]] | None = None,
    clock: Callable[[], datetime] | None = None,
    messenger: Any = None,
    queue: Any = None,
    **extras: Any,
) -> Services:
    schema = schema or load_schema()
    if workbook is None or contacts is None:
        default_wb, default_contacts = _default_stores(settings, schema)
        workbook = workbook or default_wb
        contacts = contacts or default_contacts
    return Services(
        settings=settings,
        schema=schema,
        workbook=workbook,
        contacts=contacts,
        mailer=mailer or _default_mailer(settings),
        route=route or _default_router(workbook),
        classify=classify or _default_classifier(),
        clock=clock or utc_now,
        extras={"intake_steps": {"finding": _finding_step}, "attachments": _default_media(settings), **extras},
        messenger=messenger or _default_messenger(settings),
        queue=queue if queue is not None else _default_queue(settings),
        media_config=extras.get("media_config"), feed_fetcher=extras.get("feed_fetcher"),
        is_grave=extras.get("is_grave"),
    )


@cache
def services() -> Services:
    """The process-wide services, built on first use from the environment."""
    settings = Settings.from_env()
    configure_logs(project_id=settings.project_id)  # log lines carry the request's trace id
    return build(settings)
