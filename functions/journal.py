"""The workbook `Log`: every kind of entry, its key, its detail and how long it is kept.

The Log records what a job or a door did once, by (kind, key): a digest sent, a reminder given, a
message already processed, a feed's validators. This module is its one owner (pure core: no I/O).
Every entry is built with a kind constant and a key constructor from here, so keys stay
byte-identical to what earlier versions wrote (old entries still deduplicate) and nothing else
spells a key by hand.

Retention: the daily job's commit carries `Changes.log_expire = cutoffs(now)`; the store deletes
the entries of each expiring kind recorded before its cutoff in that same commit. A kind's
retention is chosen from what reads it (see `KINDS` and docs/log.md); `None` = kept for ever.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Sequence


@dataclass(frozen=True)
class LogEntry:
    kind: str  # "digest", "reminder", "problem", ... (one of KINDS)
    key: str  # idempotency key, built by this module's key constructors
    at: datetime
    detail: str = ""


@dataclass(frozen=True)
class Kind:
    """One kind of Log entry: what its key and detail mean, how long it is kept and why."""

    name: str  # the stored `kind` cell: never changed (existing Logs must still read)
    key: str
    detail: str
    retention: timedelta | None  # None = kept for ever
    why: str  # the reader that decides the retention
    writers: str
    readers: str


DAY = timedelta(days=1)

# -- the kinds' stored names (unchanged from the versions that wrote them) ----------------------
DIGEST = "digest"
REMINDER = "reminder"
PROBLEM = "problem"
PROBLEM_REPORTED = "problem-reported"
NOTIFY = "notify"
NOTIFY_FAILED = "notify-failed"
MSG_LOG = "msg"
ANON_LOG = "anonim"
WITHDRAWN_LOG = "batal"
REPLY_LOG = "reply"
REPLY_FAILED_LOG = "reply_failed"
REPLY_GAVE_UP_LOG = "reply_gave_up"
LEASE_LOG = "lease"
RELEASED_LOG = "lease-released"
FEED_STATE = "feed-state"
MEDIA_SEEN = "media-seen"
MEDIA_RETRY = "media-retry"
ARCHIVE_SPREADSHEET = "archive_spreadsheet"
URL_LOG = "monitoring-url"
IDEMPOTENCY_LOG = "open311-idem"
SELFTEST = "selftest"
TAB_IDS = "tab_ids"  # the Sheets store's own (stores/google: TAB_IDS_LOG)

# What every reader needs, the figures the retentions are built from:
PROBLEM_KEPT = 90 * DAY  # a digest lists the problems since the previous one (~1 day; 90 covers outages)
HISTORY_KEPT = 400 * DAY  # /monitoring accepts findings up to a year old; riwayat shows their alerts
META_REDELIVERY = 7 * DAY  # Meta retries an unanswered webhook for up to 7 days
DEDUPE_KEPT = 30 * DAY  # > META_REDELIVERY and > the 24 h customer service window
MEDIA_MEMORY_KEPT = 90 * DAY  # >= media.toml memory_days (30) and title_days (3)
FEED_STATE_KEPT = 14 * DAY  # the media job rewrites the state at least every FEED_STATE_REFRESH
FEED_STATE_REFRESH = DAY
LEASE_KEPT = 2 * DAY  # the longest job lease is 60 min: an older claim never holds a lease

KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind(DIGEST, "report date `YYYY-MM-DD` (leadership digest) or `YYYY-MM-DD:OPD` (an OPD head's "
         "overdue list)", "to how many recipients", 90 * DAY,
         "the daily reads today's (sent once a day) and the previous digest's time (the problem "
         "window); 90 days outlive any outage the problem listing covers", "daily", "daily"),
    Kind(REMINDER, "`OPD:TICKET`", "the case's deadline", 90 * DAY,
         "a case is reminded while its deadline is in the next KMC_REMINDER_HOURS; once the "
         "deadline passed it is never due soon again, so 90 days is far past any reminder window",
         "sweep (reminders)", "sweep (reminders)"),
    Kind(PROBLEM, "what went wrong, made unique per event or per day (see the `*_problem_key` "
         "constructors)", "the Indonesian text the digest lists", PROBLEM_KEPT,
         "the digest lists problems recorded since the previous digest", "sweep, daily, media, "
         "intake worker, attachments, notify", "daily (digest)"),
    Kind(PROBLEM_REPORTED, "a `problem` entry's key", "the digest date that listed it", PROBLEM_KEPT,
         "marks problems a digest already listed; needed as long as the problem itself", "daily", "daily"),
    Kind(NOTIFY, "`NOTICE|email`, `NOTICE|wa|NUMBERHASH`, `DELIVERY|fallback` (NOTICE = "
         "`reminder:OPD:HASH`, `overdue:DATE:OPD`, `alert:OPD:HASH`)", "a delivery (JSON: opd, via, "
         "to, address, ok, note, tickets, message_id)", HISTORY_KEPT,
         "the /monitoring/riwayat history of findings up to a year old, and each notice sent once",
         "sweep, daily, media, /monitoring", "sweep, daily, media, /monitoring/riwayat, status webhook"),
    Kind(NOTIFY_FAILED, "WhatsApp message id Meta reported failed", "JSON: notice key, code, reason",
         DEDUPE_KEPT, "the next sweep (15 min) emails the fallback; a redelivered status (<= 7 days) "
         "is recorded once", "status webhook", "sweep (late fallbacks)"),
    Kind(MSG_LOG, "inbound message id (wamid / mid)", "the ticket it joined", DEDUPE_KEPT,
         "Meta redelivers a webhook for up to 7 days: the id must dedupe that long; the replies "
         "read the last 24 h (service window)", "conversation", "conversation, replies"),
    Kind(ANON_LOG, "pseudonymous sender hash", "-", None,
         "a citizen's request for anonymity must never lapse silently", "conversation", "conversation"),
    Kind(WITHDRAWN_LOG, "ticket", "channel", None, "the record of a citizen's withdrawal (one per case)",
         "conversation", "audit"),
    Kind(REPLY_LOG, "outgoing message id", "ticket", DEDUPE_KEPT,
         "status callbacks name the message id; they arrive within Meta's 7-day redelivery",
         "sweep (replies)", "status webhook"),
    Kind(REPLY_FAILED_LOG, "`TICKET#ISO-TIME` (a send) or `TICKET#cb:MESSAGEID` (a callback)",
         "`code|text|template|callback`", 90 * DAY,
         "counts a reply's failed attempts (4 within hours); a callback is redelivered <= 7 days",
         "sweep (replies), status webhook", "sweep (replies)"),
    Kind(REPLY_GAVE_UP_LOG, "ticket", "error code", None,
         "a reply given up must not be retried months later (one per case)", "sweep (replies)",
         "sweep (replies)"),
    Kind(LEASE_LOG, "`JOB#TOKEN`", "holder id", LEASE_KEPT,
         "only claims younger than the job's ttl (<= 60 min) can hold a lease", "jobs (Sheets)", "jobs"),
    Kind(RELEASED_LOG, "a `lease` claim's key", "holder id", LEASE_KEPT,
         "stamped with its claim's time: expires with it", "jobs (Sheets)", "jobs"),
    Kind(FEED_STATE, "`STAMP-HASH`", "JSON: feed url -> etag, last_modified (the newest entry wins)",
         FEED_STATE_KEPT, "rewritten by the media job at least once a day even when unchanged, so "
         "the newest state is never older than the cutoff; lost only after 14 days without a media "
         "run, and then each feed is read whole once (media-seen still dedupes)", "media", "media"),
    Kind(MEDIA_SEEN, "`STAMP-HASH-N`", "JSON: links (hashes) and titles seen that run", MEDIA_MEMORY_KEPT,
         "the media job reads links of the last memory_days (30) and titles of the last title_days (3)",
         "media", "media"),
    Kind(MEDIA_RETRY, "`LINKHASH:STAMP`", "attempts so far", DEDUPE_KEPT,
         "an item is given up after 5 failed hourly runs", "media", "media"),
    Kind(ARCHIVE_SPREADSHEET, "year", "the archive spreadsheet id", None,
         "the year -> spreadsheet mapping the archive and restores need for ever", "archive", "archive"),
    Kind(URL_LOG, "hash of the canonical URL", "ticket", HISTORY_KEPT,
         "a finding logged twice joins one case; riwayat lists findings up to a year old",
         "/monitoring", "/monitoring, riwayat"),
    Kind(IDEMPOTENCY_LOG, "hash of (API key, Idempotency-Key)", "fingerprint of the body", DEDUPE_KEPT,
         "a client retries a POST within minutes or days; the source id carries the fingerprint, so "
         "an expired key still never duplicates the same body", "Open311", "Open311"),
    Kind(SELFTEST, "`STAMP`", "\"uji mandiri\"", 7 * DAY, "read back right after it is written",
         "selftest", "selftest"),
    Kind(TAB_IDS, "`ids:LENGTH:HASH`", "JSON: tab -> sheet id", None,
         "the Sheets store's cold start needs the newest ids; one entry per layout change",
         "stores/google", "stores/google"),
)}


def cutoffs(now: datetime) -> dict[str, datetime]:
    """kind -> the time before which its entries are deleted (kinds kept for ever are absent)."""
    return {k.name: now - k.retention for k in KINDS.values() if k.retention is not None}


def short_hash(text: str, length: int = 12) -> str:
    """A short stable hash for keys (ticket lists, numbers, texts)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


# -- keys: digest, reminder -------------------------------------------------------------------------
def digest_key(day: str) -> str:
    return day


def overdue_list_key(day: str, tab: str) -> str:
    return f"{day}:{tab}"


def reminder_key(tab: str, ticket: str) -> str:
    return f"{tab}:{ticket}"


# -- keys: problems (each unique per event, or per day where the same one recurs every sweep) --------
def forward_problem_key(ticket: str, typed: str) -> str:
    return f"{ticket}:forward:{typed[:40]}"


def erased_problem_key(ticket: str) -> str:
    return f"{ticket}:erased"


def move_problem_key(ticket: str, to_tab: str, now: datetime) -> str:
    return f"{ticket}:move:{to_tab}:{now:%Y%m%d}"


def missing_problem_key(ticket: str, now: datetime) -> str:
    return f"{ticket}:missing:{now:%Y%m%d}"


def write_problem_key(now: datetime, text: str) -> str:
    return f"write:{now:%Y%m%d}:{short_hash(text, 16)}"


def late_intake_problem_key(now: datetime) -> str:
    return f"late:{now:%Y-%m-%d}"


def dead_letter_problem_key(job_key: str) -> str:
    return f"dead:{job_key}"[:200]


def attachment_problem_key(message_id: str, index: int) -> str:
    return f"media:{message_id}:{index}"[:200]


def media_item_problem_key(link_hash: str, attempts: int) -> str:
    return f"media:{link_hash}:{attempts}"


def delivery_problem_key(delivery_key: str) -> str:
    """A failed WhatsApp delivery (key: the `notify` entry's key)."""
    return f"{delivery_key}:gagal"


# -- keys: notices to OPD heads (`notify`) ----------------------------------------------------------
def reminder_notice(tab: str, tickets: Sequence[str]) -> str:
    return f"reminder:{tab}:{short_hash(','.join(tickets))}"


def overdue_notice(day: str, tab: str) -> str:
    return f"overdue:{overdue_list_key(day, tab)}"


def alert_notice(opd: str, tickets: Sequence[str]) -> str:
    return f"alert:{opd}:{short_hash(','.join(tickets))}"


def whatsapp_delivery_key(notice: str, number: str) -> str:
    return f"{notice}|wa|{short_hash(number)}"


def email_delivery_key(notice: str) -> str:
    return f"{notice}|email"


def fallback_key(delivery_key: str) -> str:
    """The email sent after Meta reported the WhatsApp message of `delivery_key` failed."""
    return f"{delivery_key}|fallback"


# -- keys: citizens' messages and replies -------------------------------------------------------------
def sender_key(channel: str, sender: str) -> str:
    """A pseudonymous key (never a phone number in the shared workbook)."""
    return hashlib.sha256(f"{channel}|{sender}".encode()).hexdigest()[:20]


def reply_failed_key(ticket: str, at: datetime) -> str:
    return f"{ticket}#{at.isoformat()}"


def reply_callback_key(ticket: str, message_id: str) -> str:
    return f"{ticket}#cb:{message_id}"


# -- keys: jobs, media, archive, doors ---------------------------------------------------------------
def lease_key(job: str, token: str) -> str:
    return f"{job}#{token}"


def utc_stamp(now: datetime) -> str:
    return now.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def feed_state_key(now: datetime, detail: str) -> str:
    return f"{utc_stamp(now)}-{short_hash(detail, 8)}"


def media_seen_key(now: datetime, detail: str, chunk: int) -> str:
    return f"{utc_stamp(now)}-{short_hash(detail, 8)}-{chunk}"


def media_retry_key(link_hash: str, now: datetime) -> str:
    return f"{link_hash}:{utc_stamp(now)}"


def tab_ids_key(detail: str) -> str:
    """The Sheets store's sheet-id record: its length and a hash, so a changed layout is new."""
    return f"ids:{len(detail)}:{short_hash(detail, 12)}"


def archive_key(year: int) -> str:
    return str(year)


def url_key(canonical: str) -> str:
    return short_hash(canonical, 24)


def idempotency_key(key_index: int, idempotency: str) -> str:
    return hashlib.sha256(f"{key_index}|{idempotency}".encode("utf-8", "surrogatepass")).hexdigest()[:32]
