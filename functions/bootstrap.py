"""Composition root: builds every adapter from Settings. Nothing connects at import.

`build(settings, **named)` takes each dependency as a typed keyword argument with a production
default, so a test passes a fake; `services()` caches one instance per process (Cloud Functions
keeps it for the instance's life).
"""
from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any, Callable, Mapping

from .config import Settings
from .logs import configure as configure_logs
from .logs import log
from .model import Route, Sentiment
from .schema import Schema, load_schema
from .services.context import FeedFetcher, InstanceState, IntakeStep, Services, utc_now
from .stores.port import ContactBook, Workbook

if TYPE_CHECKING:  # the mail package loads `email`; only jobs need it at run time
    from .mail.port import Mailer
    from .messaging.port import Messenger
    from .queue.port import IntakeQueue
    from .services.attachments import MediaKit

__all__ = ["Services", "InstanceState", "build", "services", "utc_now"]


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
        from .routing import RuleSource
        from .routing_model import ModelSource, decide, load_thresholds

        thresholds = load_thresholds()
        if models is None:
            from .schema import load_schema

            known = frozenset(o.key for o in load_schema().opds)  # a model naming a removed OPD is refused
            models = ModelSource(workbook.read_routing_model, ttl_seconds=thresholds.ttl_seconds, known_opds=known)
            source = RuleSource(workbook.read_rules)
        return decide(text, source.get(), models.get(), thresholds)

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


def _finding_step(svc: Services, job):
    """The monitoring finding's step: the channel parses the queued form again (with the door's
    acceptance time as "now"), the service stores it. Loaded on the first finding."""
    from .channels.monitoring import parse_finding
    from .services.findings import finding_step

    return finding_step(svc, job, parse_finding(job.body, job.accepted_at.astimezone(svc.settings.tz)))


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
    messenger: "Messenger | None" = None,
    queue: "IntakeQueue | None" = None,
    attachments: "Callable[[], MediaKit] | None" = None,
    intake_steps: Mapping[str, IntakeStep] | None = None,
    media_config: Any = None,
    feed_fetcher: FeedFetcher | None = None,
    is_grave: Callable[[str], bool] | None = None,
) -> Services:
    """The deployment's Services: each port from Settings unless a test passes its own."""
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
        messenger=messenger or _default_messenger(settings),
        queue=queue if queue is not None else _default_queue(settings),
        route=route or _default_router(workbook),
        classify=classify or _default_classifier(),
        clock=clock or utc_now,
        attachments=attachments or _default_media(settings),
        intake_steps={"finding": _finding_step, **(intake_steps or {})},
        media_config=media_config,
        feed_fetcher=feed_fetcher,
        is_grave=is_grave,
        state=InstanceState(),
    )


@cache
def services() -> Services:
    """The process-wide services, built on first use from the environment."""
    settings = Settings.from_env()
    configure_logs(project_id=settings.project_id)  # log lines carry the request's trace id
    return build(settings)
