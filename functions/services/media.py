"""The hourly media job: news feeds -> negative items about the regency -> cases + alerts.

For each configured feed (KMC_MEDIA_FEEDS, else sheets_schema/media.toml): one conditional GET;
an unchanged feed (304) costs nothing more. Each item is kept only when it is

1. new: its link (canonical) was not seen in the last `memory_days`;
2. recent: published within `max_age_days` (items without a date count as published now);
3. about the regency: it names a kecamatan, an institution, an official or a configured term
   ("Ketapang" alone counts only without another region named, see media.toml);
4. not the same story as one seen in the last `title_days` from any outlet (normalised title
   similarity >= `title_similarity`).

Kept items are judged with the same detector and router as complaints. A NEGATIVE item becomes
a case on channel "Media Massa" (link, "[Outlet] Title — lead"; the ticket derives from the
link, so seeing it again is a no-op) in the responsible OPD's tab or TRIASE, and the OPD head
gets one alert email per run listing its items. Other relevant items are only counted.

Durable state lives in the workbook Log, so it works on every store: one "feed-state" entry per
run when validators changed (ETag / Last-Modified per feed; the newest entry wins) and one
"media-seen" entry per run with the new links and titles. A feed's validators advance only when
every item of that fetch was judged and, if negative, stored: an item that fails leaves the
feed's validators where they were, so the next run reads the feed whole and tries the item again
("media-retry" entries count the attempts; from the second failure the digest lists it, after
MAX_ITEM_ATTEMPTS it is given up and reported). A failing feed never stops the others; every
problem is counted in the run summary.
"""
from __future__ import annotations

import difflib
import hashlib
import json
import re
import tomllib
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import Callable, Iterable

from ..channels.feeds import (FeedFailure, FeedFetcher, FeedItem, Validators, canonical_url,
                              parse_feed)
from ..logs import log
from ..model import Channel, Complaint, Sentiment, StorageUnavailable
from ..schema import SCHEMA_DIR, Schema, load_schema
from ..stores.port import LogEntry, Workbook
from .alerts import AlertItem, AlertReport
from .logbook import add_many

FEED_STATE = "feed-state"
MEDIA_SEEN = "media-seen"
MEDIA_RETRY = "media-retry"  # key `LINKHASH:STAMP`: one failed attempt to store an item
MAX_ITEM_ATTEMPTS = 5  # then the item is given up, remembered, and reported in the digest
SEEN_PER_ENTRY = 150  # keeps one Log cell well under Sheets' 50,000 characters
_FUTURE_SLACK = timedelta(hours=1)
_EARLIEST = datetime(2000, 1, 1, tzinfo=timezone.utc)


# --- configuration --------------------------------------------------------------------------


@dataclass(frozen=True)
class FetchLimits:
    connect_timeout_seconds: float = 5.0
    read_timeout_seconds: float = 15.0
    total_seconds: float = 30.0
    max_megabytes: float = 5.0
    max_redirects: int = 5


@dataclass(frozen=True)
class Relevance:
    strong: tuple[str, ...]  # normalised phrases; any one makes an item relevant
    ambiguous: tuple[str, ...] = ()
    elsewhere: tuple[str, ...] = ()
    mask: tuple[str, ...] = ()

    def match(self, text: str) -> str | None:
        """The term that makes `text` about the regency, or None."""
        padded = f" {normalise(text)} "
        for phrase in self.mask:
            padded = padded.replace(f" {phrase} ", " | ")
        for term in self.strong:
            if f" {term} " in padded:
                return term
        if any(f" {w} " in padded for w in self.elsewhere):
            return None
        for term in self.ambiguous:
            if f" {term} " in padded:
                return term
        return None


@dataclass(frozen=True)
class MediaConfig:
    feeds: tuple[str, ...]
    relevance: Relevance
    fetch: FetchLimits = field(default_factory=FetchLimits)
    max_age_days: float = 7.0
    memory_days: float = 30.0
    title_similarity: float = 0.85
    title_days: float = 3.0
    negative_min_score: float = 0.5


def media_sentiment(classify: Callable[[str], tuple[Sentiment, float]], text: str,
                    min_score: float) -> Sentiment:
    """The detector's reading for published text. News is written in a neutral register, so
    the complaint-friendly tie-break (Negatif wins when it is close) is not enough here: an item
    is negative only when the detector also gives negativity >= `min_score`."""
    label, negativity = classify(text)
    if label == Sentiment.NEGATIVE and negativity < min_score:
        return Sentiment.NEUTRAL
    return label


def normalise(text: str) -> str:
    """Lower case, accents and punctuation removed, single spaces."""
    text = unicodedata.normalize("NFKD", text or "")
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    return " ".join(re.sub(r"[^\w]+|_", " ", text).split())


def _phrases(values: Iterable[str]) -> tuple[str, ...]:
    out: list[str] = []
    for v in values:
        n = normalise(v)
        if n and n not in out:
            out.append(n)
    return tuple(out)


@cache
def load_media_config(directory: Path = SCHEMA_DIR) -> MediaConfig:
    """media.toml plus the kecamatan names and spellings of kecamatan.toml."""
    with open(directory / "media.toml", "rb") as fh:
        data = tomllib.load(fh)
    schema: Schema = load_schema(directory)
    rel = data.get("relevance", {})
    places = [k.name for k in schema.kecamatan]
    places += [v for k in schema.kecamatan for v in k.variants if len(normalise(v)) >= 5]
    strong = _phrases([*places, *rel.get("institutions", ()), *rel.get("officials", ()),
                       *rel.get("terms", ())])
    relevance = Relevance(strong, _phrases(rel.get("ambiguous", ())),
                          _phrases(rel.get("elsewhere", ())), _phrases(rel.get("mask", ())))
    fetch = FetchLimits(**data.get("fetch", {}))
    keys = ("max_age_days", "memory_days", "title_similarity", "title_days", "negative_min_score")
    return MediaConfig(tuple(data.get("feeds", ())), relevance, fetch,
                       **{k: float(data[k]) for k in keys if k in data})


# --- titles ---------------------------------------------------------------------------------


def title_key(title: str) -> str:
    return normalise(title)


def similarity(a: str, b: str) -> float:
    """0..1 for two normalised titles: the better of token overlap and character alignment,
    so reordered words and small wording changes both count as the same story."""
    if not a or not b:
        return 0.0
    ta, tb = set(a.split()), set(b.split())
    jaccard = len(ta & tb) / len(ta | tb)
    if jaccard < 0.4:  # clearly different; skip the slower alignment
        return jaccard
    return max(jaccard, difflib.SequenceMatcher(None, a, b, autojunk=False).ratio())


def link_key(item: FeedItem) -> str:
    """Identity of an item: its canonical link, else outlet + normalised title."""
    url = canonical_url(item.link)
    return url or f"judul:{normalise(item.outlet)}:{title_key(item.title)}"


def _short(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:20]


# --- durable memory (workbook Log) ----------------------------------------------------------


class MediaMemory:
    """Feed validators, links seen and recent titles, read from and written to the Log."""

    def __init__(self, validators: dict[str, Validators], links: set[str],
                 titles: list[tuple[datetime, str]]):
        self.validators = dict(validators)
        self._loaded_validators = dict(validators)
        self.links = set(links)
        self.titles = list(titles)
        self.new_links: list[str] = []
        self.new_titles: list[str] = []
        self.failures: Counter = Counter()  # link hash -> failed runs so far
        self.new_failures: list[str] = []

    @classmethod
    def load(cls, entries: list[LogEntry], now: datetime, cfg: MediaConfig) -> "MediaMemory":
        validators: dict[str, Validators] = {}
        states = [e for e in entries if e.kind == FEED_STATE]
        if states:
            latest = max(enumerate(states), key=lambda ie: (ie[1].at, ie[0]))[1]
            try:
                raw = json.loads(latest.detail or "{}")
                validators = {u: Validators(v.get("etag", ""), v.get("last_modified", ""))
                              for u, v in raw.items() if isinstance(v, dict)}
            except (ValueError, AttributeError):
                log("WARNING", "media: unreadable feed-state entry ignored", key=latest.key)
        links: set[str] = set()
        failures: Counter = Counter(e.key.split(":", 1)[0] for e in entries if e.kind == MEDIA_RETRY)
        titles: list[tuple[datetime, str]] = []
        link_horizon = now - timedelta(days=cfg.memory_days)
        title_horizon = now - timedelta(days=cfg.title_days)
        for e in entries:
            if e.kind != MEDIA_SEEN or e.at < link_horizon:
                continue
            try:
                raw = json.loads(e.detail or "{}")
            except ValueError:
                continue
            links.update(str(x) for x in raw.get("links", ()))
            if e.at >= title_horizon:
                titles.extend((e.at, str(t)) for t in raw.get("titles", ()))
        memory = cls(validators, links, titles)
        memory.failures = failures
        return memory

    def failed(self, key: str) -> int:
        """How many runs have failed to store this item so far, this one included."""
        short = _short(key)
        if short not in self.new_failures:
            self.new_failures.append(short)
            self.failures[short] += 1
        return self.failures[short]

    def keep_validators(self, url: str) -> None:
        """A feed whose items were not all stored is fetched whole next time."""
        if url in self._loaded_validators:
            self.validators[url] = self._loaded_validators[url]
        else:
            self.validators.pop(url, None)

    def seen(self, key: str) -> bool:
        return _short(key) in self.links

    def seen_short(self, short: str) -> bool:
        return short in self.links

    def duplicate_of(self, title: str, threshold: float) -> str | None:
        for _, old in self.titles:
            if similarity(title, old) >= threshold:
                return old
        return None

    def remember(self, key: str, title: str | None, at: datetime) -> None:
        short = _short(key)
        if short not in self.links:
            self.links.add(short)
            self.new_links.append(short)
        if title:
            self.titles.append((at, title))
            self.new_titles.append(title)

    def entries(self, now: datetime, feeds: Iterable[str]) -> list[LogEntry]:
        """What this run adds to the Log (nothing when nothing changed)."""
        out: list[LogEntry] = []
        stamp = now.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        feeds = set(feeds)
        state = {u: v for u, v in self.validators.items() if u in feeds and v}
        before = {u: v for u, v in self._loaded_validators.items() if u in feeds and v}
        if state != before:
            detail = json.dumps({u: {"etag": v.etag, "last_modified": v.last_modified}
                                 for u, v in sorted(state.items())}, ensure_ascii=False)
            out.append(LogEntry(FEED_STATE, f"{stamp}-{_short(detail)[:8]}", now, detail))
        out += [LogEntry(MEDIA_RETRY, f"{short}:{stamp}", now, str(self.failures[short]))
                for short in self.new_failures if not self.seen_short(short)]
        links, titles = self.new_links, self.new_titles
        for i in range(0, max(len(links), len(titles)), SEEN_PER_ENTRY):
            detail = json.dumps({"links": links[i:i + SEEN_PER_ENTRY],
                                 "titles": titles[i:i + SEEN_PER_ENTRY]}, ensure_ascii=False)
            out.append(LogEntry(MEDIA_SEEN, f"{stamp}-{_short(detail)[:8]}-{i // SEEN_PER_ENTRY}",
                                now, detail))
        return out


# --- the run --------------------------------------------------------------------------------


@dataclass
class MediaReport:
    feeds: int = 0
    fetched: int = 0
    unchanged: int = 0
    failed: Counter = field(default_factory=Counter)  # reason -> feeds
    broken: int = 0  # not well-formed, read leniently
    encodings: Counter = field(default_factory=Counter)  # non-UTF-8 encodings decoded
    items: int = 0
    already_seen: int = 0
    stale: int = 0
    irrelevant: int = 0
    near_duplicates: int = 0
    relevant_new: int = 0
    negative: int = 0
    non_negative: int = 0
    cases_created: int = 0
    notes: Counter = field(default_factory=Counter)  # no_date, no_link, html_title, no_title
    tickets: list[str] = field(default_factory=list)
    alerts: AlertReport = field(default_factory=AlertReport)
    problems: list[str] = field(default_factory=list)
    dry_run: bool = False
    log: list[LogEntry] = field(default_factory=list)  # problems for the digest

    def summary(self) -> str:
        failed = sum(self.failed.values())
        reasons = ", ".join(f"{r} {n}" for r, n in sorted(self.failed.items()))
        parts = [
            f"media: {self.feeds} feed ({self.fetched} dibaca, {self.unchanged} tidak berubah, "
            f"{failed} gagal{': ' + reasons if reasons else ''})",
            f"{self.items} berita; {self.relevant_new} relevan baru: {self.negative} negatif "
            f"({self.cases_created} aduan baru), {self.non_negative} netral/positif",
            f"dilewati: {self.already_seen} sudah pernah, {self.near_duplicates} duplikat judul, "
            f"{self.irrelevant} tidak relevan, {self.stale} terlalu lama",
        ]
        notes = [f"{self.broken} XML rusak"] if self.broken else []
        notes += [f"{n} encoding {enc}" for enc, n in sorted(self.encodings.items())]
        labels = {"no_date": "tanpa tanggal", "no_link": "tanpa tautan",
                  "html_title": "judul ber-HTML", "no_title": "tanpa judul",
                  "item_error": "berita gagal diproses",
                  "too_many": "berita melebihi batas per feed"}
        notes += [f"{self.notes[k]} {v}" for k, v in labels.items() if self.notes.get(k)]
        if notes:
            parts.append("catatan: " + ", ".join(notes))
        parts.append(self.alerts.summary())
        if self.dry_run:
            parts.append("UJI COBA: tidak ada yang ditulis atau dikirim")
        return "; ".join(parts)


def _received_at(item: FeedItem, now: datetime) -> tuple[datetime, bool]:
    """(when the item counts as received, whether its own date was used)."""
    p = item.published
    if p is None or p < _EARLIEST or p > now + _FUTURE_SLACK:
        return now, False
    return p.astimezone(now.tzinfo), True


def case_text(item: FeedItem) -> str:
    """What the OPD reads in "Isi Aduan": outlet, title and lead — never the full article."""
    text = f"[{item.outlet}] {item.title}" if item.outlet else item.title
    return f"{text} — {item.lead}" if item.lead else text


def run_media(
    feeds: Iterable[str],
    cfg: MediaConfig,
    *,
    fetcher: FeedFetcher,
    workbook: Workbook,
    intake: Callable[[Complaint], object],
    classify: Callable[[str], tuple[Sentiment, float]],
    alert: Callable[[list[AlertItem]], AlertReport],
    is_grave: Callable[[str], bool] = lambda text: False,
    now: datetime,
    dry_run: bool = False,
) -> MediaReport:
    feeds = tuple(dict.fromkeys(f.strip() for f in feeds if f.strip()))
    report = MediaReport(feeds=len(feeds), dry_run=dry_run)
    memory = MediaMemory.load(workbook.log_entries(), now, cfg)
    oldest = now - timedelta(days=cfg.max_age_days)
    pending: list[AlertItem] = []
    failure: StorageUnavailable | None = None
    for url in feeds:
        try:
            items = _read_feed(url, fetcher, memory, report)
        except Exception as e:  # noqa: BLE001 - one bad feed never stops the others
            reason = e.reason if isinstance(e, FeedFailure) else "error"
            report.failed[reason] += 1
            report.problems.append(f"feed {_host(url)}: {reason} ({e})"[:240])
            log("WARNING", "media: feed failed", feed=_host(url), reason=reason,
                error=str(e)[:200])
            continue
        for item in items:
            try:
                grave_item = _judge(item, cfg, memory, report, oldest, now, intake, classify,
                                    is_grave, dry_run)
            except StorageUnavailable as e:
                failure = e
                break
            except Exception as e:  # noqa: BLE001 - one odd item never stops the run
                _item_failed(item, url, e, memory, report, now, dry_run)
                continue
            if grave_item:
                pending.append(grave_item)
        if failure:
            break
    if pending and not dry_run:
        report.alerts = alert(pending)
    elif pending:
        report.alerts = AlertReport(planned=len(pending))
    if failure:  # what was stored is alerted; the memory is not saved so the next run resumes
        log("ERROR", "media: storage unavailable, run stopped", cases=report.cases_created)
        try:
            add_many(workbook, report.alerts.log)  # so the next run does not alert them again
        except Exception as e:  # noqa: BLE001 - the store is failing; the storage error is the news
            log("ERROR", "media: alerts not recorded", error=type(e).__name__)
        raise failure
    if not dry_run:  # one Log write: validators, links seen, alerts sent, repeated failures
        add_many(workbook, memory.entries(now, feeds) + report.alerts.log + report.log)
    log("INFO", "media run", feeds=report.feeds, fetched=report.fetched,
        unchanged=report.unchanged, failed=sum(report.failed.values()), items=report.items,
        relevant=report.relevant_new, negative=report.negative, cases=report.cases_created,
        dry_run=dry_run)
    return report


def _item_failed(item: FeedItem, url: str, error: Exception, memory: MediaMemory, report: MediaReport,
                 now: datetime, dry_run: bool) -> None:
    """An item that could not be judged or stored: the feed's validators stay where they were
    (the next run reads it whole and tries again); after MAX_ITEM_ATTEMPTS runs it is given up,
    remembered as seen, and reported in the digest (KMC can log it by hand at /monitoring)."""
    from .logbook import PROBLEM

    key = link_key(item)
    report.notes["item_error"] += 1
    reason = f"{type(error).__name__}: {getattr(error, 'message', error)}"
    attempts = 1 if dry_run else memory.failed(key)
    title = " ".join(item.title.split())[:120]
    log("ERROR", "media: item not stored", feed=_host(url), error=type(error).__name__, attempts=attempts)
    if attempts >= MAX_ITEM_ATTEMPTS:
        memory.remember(key, None, now)
        text = (f"Berita \"{title}\" ({_host(url)}) gagal disimpan {attempts} kali ({reason}) dan "
                f"tidak dicoba lagi; catat manual lewat /monitoring bila perlu: {item.link}")[:480]
    else:
        memory.keep_validators(url)
        text = (f"feed {_host(url)}: berita \"{title}\" belum tersimpan ({reason}); dicoba lagi "
                f"pada putaran berikutnya (percobaan ke-{attempts})")[:480]
    report.problems.append(text)
    if attempts >= 2 and not dry_run:  # repeated failures reach the digest
        report.log.append(LogEntry(PROBLEM, f"media:{_short(key)}:{attempts}", now, text))


def _host(url: str) -> str:
    """A feed's name in reports: its host, plus what tells feeds on one host apart (the three
    Google News searches differ only in `q`, so their failures must not read the same)."""
    from urllib.parse import parse_qs, unquote, urlsplit

    parts = urlsplit(url)
    host = parts.netloc or url[:60]
    query = parse_qs(parts.query).get("q")
    if query:
        return f"{host} (pencarian: {query[0][:60]})"
    path = unquote(parts.path).strip("/")
    return f"{host}/{path[:60]}" if path else host


def _read_feed(url: str, fetcher: FeedFetcher, memory: MediaMemory, report: MediaReport
               ) -> list[FeedItem]:
    got = fetcher.fetch(url, memory.validators.get(url, Validators()))
    if got.status == 304:
        report.unchanged += 1
        return []
    parsed = parse_feed(got.body, url=got.url, content_type=got.content_type)
    report.fetched += 1
    if parsed.broken:
        report.broken += 1
        report.problems.append(f"feed {_host(url)}: XML rusak, dibaca sebagian ({parsed.broken})"[:240])
        log("WARNING", "media: feed not well-formed, read leniently", feed=_host(url),
            items=len(parsed.items), error=parsed.broken[:200])
    if parsed.encoding and parsed.encoding.replace("-", "").replace("_", "") not in {"utf8", "usascii", "ascii"}:
        report.encodings[parsed.encoding] += 1
    for k, n in parsed.notes.items():
        report.notes[k] += n
    report.items += len(parsed.items) + parsed.notes.get("no_title", 0) + parsed.notes.get("too_many", 0)
    # Validators are kept only for a feed read fully; a broken one is fetched whole next time.
    memory.validators[url] = got.validators if not parsed.broken else Validators()
    return parsed.items


def _judge(item, cfg, memory, report, oldest, now, intake, classify, is_grave, dry_run
           ) -> AlertItem | None:
    key = link_key(item)
    if memory.seen(key):
        report.already_seen += 1
        return None
    received_at, dated = _received_at(item, now)
    if dated and received_at < oldest:
        report.stale += 1
        return None
    text = case_text(item)
    if not cfg.relevance.match(f"{item.title} {item.lead}"):
        report.irrelevant += 1
        return None
    title = title_key(item.title)
    if memory.duplicate_of(title, cfg.title_similarity):
        report.near_duplicates += 1
        memory.remember(key, None, now)  # this outlet's copy is settled too
        return None
    report.relevant_new += 1
    sentiment = media_sentiment(classify, f"{item.title}. {item.lead}", cfg.negative_min_score)
    if sentiment != Sentiment.NEGATIVE:
        report.non_negative += 1
        memory.remember(key, title, now)
        return None
    report.negative += 1
    if dry_run:
        memory.remember(key, title, now)
        return AlertItem("", "", str(Channel.MASS_MEDIA), item.outlet, text, item.link,
                         received_at, None, is_grave(text))
    complaint = Complaint(text=text, channel=Channel.MASS_MEDIA, received_at=received_at,
                          source_id=canonical_url(item.link) or key, link=item.link,
                          sentiment=Sentiment.NEGATIVE)
    receipt = intake(complaint)
    memory.remember(key, title, now)
    report.tickets.append(receipt.ticket_id)
    if receipt.created:
        report.cases_created += 1
    # Stored by an earlier run that stopped before remembering it: the alert goes unless the
    # Log shows it went (alert_sender checks), so a crash between storing and alerting loses nothing.
    return AlertItem(receipt.ticket_id, receipt.opd, str(Channel.MASS_MEDIA), item.outlet, text,
                     item.link, received_at, receipt.deadline, is_grave(text))


def _default_grave(text: str) -> bool:
    from ..sentiment import is_alert

    return is_alert(text)


def media_job(svc, now: datetime | None = None, *, dry_run: bool = False) -> MediaReport:
    """What `/jobs/media` and `python main.py media` run."""
    from .setup import ensure_ready

    now = now or svc.now()
    if not dry_run:
        ensure_ready(svc)  # a fresh local data dir: the tabs exist before the first item is stored
    cfg: MediaConfig = svc.media_config or load_media_config()
    feeds = svc.settings.media_feeds or cfg.feeds
    fetcher = svc.feed_fetcher or FeedFetcher(
        allow_private=svc.settings.feeds_allow_private,
        connect_timeout=cfg.fetch.connect_timeout_seconds,
        read_timeout=cfg.fetch.read_timeout_seconds,
        total_seconds=cfg.fetch.total_seconds,
        max_bytes=int(cfg.fetch.max_megabytes * 1024 * 1024),
        max_redirects=cfg.fetch.max_redirects,
    )
    from .alerts import alert_sender
    from .intake import intake

    return run_media(
        feeds, cfg, fetcher=fetcher, workbook=svc.workbook, intake=lambda complaint: intake(svc, complaint),
        classify=svc.classify, alert=alert_sender(svc, now, write_log=False),
        is_grave=svc.is_grave or _default_grave, now=now, dry_run=dry_run,
    )
