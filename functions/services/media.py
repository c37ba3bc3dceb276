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

Durable state lives in the workbook Log, so it works on every store (services/media_memory.py):
one "feed-state" entry per run when validators changed, or when the newest is a day old (ETag /
Last-Modified per feed; the newest entry wins; the refresh keeps it inside the Log's retention,
journal.py) and one "media-seen" entry per run with the new links and titles. A feed's validators advance only when
every item of that fetch was judged and, if negative, stored: an item that fails leaves the
feed's validators where they were, so the next run reads the feed whole and tries the item again
("media-retry" entries count the attempts; from the second failure the digest lists it, after
MAX_ITEM_ATTEMPTS it is given up and reported). A failing feed never stops the others; every
problem is counted in the run summary.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import TYPE_CHECKING, Callable, Iterable

from ..feeds.model import FeedFailure, FeedItem, Validators
from ..feeds.parse import canonical_url, parse_feed
from ..journal import PROBLEM, LogEntry, media_item_problem_key
from ..logs import log
from ..model import Channel, Complaint, Sentiment, StorageUnavailable
from ..stores.port import Workbook
from .alerts import AlertItem, AlertReport
from .logbook import add_many
from .media_config import MediaConfig, load_media_config, media_sentiment
from .media_memory import MediaMemory, _short, link_key, title_key

if TYPE_CHECKING:
    from ..feeds.fetch import FeedFetcher
    from .context import Services

MAX_ITEM_ATTEMPTS = 5  # then the item is given up, remembered, and reported in the digest
_FUTURE_SLACK = timedelta(hours=1)
_EARLIEST = datetime(2000, 1, 1, tzinfo=timezone.utc)


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
    fetcher: "FeedFetcher",
    workbook: Workbook,
    intake: Callable[[Complaint], object],
    classify: Callable[[str], tuple[Sentiment, float]],
    alert: Callable[[list[AlertItem]], AlertReport],
    is_grave: Callable[[str], bool] = lambda text: False,
    now: datetime,
    dry_run: bool = False,
) -> MediaReport:
    """Read every feed, judge its new items, alert the negative ones; one Log write at the end."""
    feeds = tuple(dict.fromkeys(f.strip() for f in feeds if f.strip()))
    report = MediaReport(feeds=len(feeds), dry_run=dry_run)
    memory = MediaMemory.load(workbook.log_entries(), now, cfg)
    judge = partial(_judge, cfg=cfg, memory=memory, report=report, oldest=now - timedelta(days=cfg.max_age_days),
                    now=now, intake=intake, classify=classify, is_grave=is_grave, dry_run=dry_run)
    pending, failure = _scan(feeds, fetcher, memory, report, judge, now, dry_run)
    if pending and not dry_run:
        report.alerts = alert(pending)
    elif pending:
        report.alerts = AlertReport(planned=len(pending))
    if failure:  # what was stored is alerted; the memory is not saved so the next run resumes
        _stop(workbook, report, failure)
    if not dry_run:  # one Log write: validators, links seen, alerts sent, repeated failures
        add_many(workbook, memory.entries(now, feeds) + report.alerts.log + report.log)
    log("INFO", "media run", feeds=report.feeds, fetched=report.fetched,
        unchanged=report.unchanged, failed=sum(report.failed.values()), items=report.items,
        relevant=report.relevant_new, negative=report.negative, cases=report.cases_created,
        dry_run=dry_run)
    return report


def _scan(feeds: tuple[str, ...], fetcher, memory: MediaMemory, report: MediaReport,
          judge: Callable[[FeedItem], AlertItem | None], now: datetime, dry_run: bool
          ) -> tuple[list[AlertItem], StorageUnavailable | None]:
    """The items to alert, and the storage failure that stopped the run (None when none did)."""
    pending: list[AlertItem] = []
    for url in feeds:
        for item in _try_feed(url, fetcher, memory, report):
            try:
                grave_item = judge(item)
            except StorageUnavailable as e:
                return pending, e
            except Exception as e:  # noqa: BLE001 - one odd item never stops the run
                _item_failed(item, url, e, memory, report, now, dry_run)
                continue
            if grave_item:
                pending.append(grave_item)
    return pending, None


def _try_feed(url: str, fetcher, memory: MediaMemory, report: MediaReport) -> list[FeedItem]:
    """The feed's items; a failing feed is counted and reported, never stops the others."""
    try:
        return _read_feed(url, fetcher, memory, report)
    except Exception as e:  # noqa: BLE001 - one bad feed never stops the others
        reason = e.reason if isinstance(e, FeedFailure) else "error"
        report.failed[reason] += 1
        report.problems.append(f"feed {_host(url)}: {reason} ({e})"[:240])
        log("WARNING", "media: feed failed", feed=_host(url), reason=reason, error=str(e)[:200])
        return []


def _stop(workbook: Workbook, report: MediaReport, failure: StorageUnavailable) -> None:
    """The store failed mid-run: record the alerts that went (so the next run does not send them
    again) and raise; the memory is not saved, so the next run resumes where this one stopped."""
    log("ERROR", "media: storage unavailable, run stopped", cases=report.cases_created)
    try:
        add_many(workbook, report.alerts.log)
    except Exception as e:  # noqa: BLE001 - the store is failing; the storage error is the news
        log("ERROR", "media: alerts not recorded", error=type(e).__name__)
    raise failure


def _item_failed(item: FeedItem, url: str, error: Exception, memory: MediaMemory, report: MediaReport,
                 now: datetime, dry_run: bool) -> None:
    """An item that could not be judged or stored: the feed's validators stay where they were
    (the next run reads it whole and tries again); after MAX_ITEM_ATTEMPTS runs it is given up,
    remembered as seen, and reported in the digest (KMC can log it by hand at /monitoring)."""
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
        report.log.append(LogEntry(PROBLEM, media_item_problem_key(_short(key), attempts), now, text))


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


def _read_feed(url: str, fetcher: "FeedFetcher", memory: MediaMemory, report: MediaReport
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


def _judge(item: FeedItem, *, cfg: MediaConfig, memory: MediaMemory, report: MediaReport, oldest: datetime,
           now: datetime, intake, classify, is_grave, dry_run: bool) -> AlertItem | None:
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


def media_job(svc: "Services", now: datetime | None = None, *, dry_run: bool = False) -> MediaReport:
    """What `/jobs/media` and `python main.py media` run."""
    from .alerts import alert_sender
    from .setup import ensure_ready

    now = now or svc.now()
    if not dry_run:
        ensure_ready(svc)  # a fresh local data dir: the tabs exist before the first item is stored
    cfg: MediaConfig = svc.media_config or load_media_config()
    from .intake import intake

    return run_media(
        svc.settings.media_feeds or cfg.feeds, cfg, fetcher=svc.feed_fetcher or default_fetcher(cfg, svc.settings),
        workbook=svc.workbook, intake=lambda complaint: intake(svc, complaint), classify=svc.classify,
        alert=alert_sender(svc, now, write_log=False), is_grave=svc.is_grave or _default_grave, now=now,
        dry_run=dry_run,
    )


def default_fetcher(cfg: MediaConfig, settings) -> "FeedFetcher":
    """The feeds adapter with media.toml's limits (when the composition root gave none)."""
    from ..feeds.fetch import FeedFetcher

    limits = cfg.fetch
    return FeedFetcher(allow_private=settings.feeds_allow_private, connect_timeout=limits.connect_timeout_seconds,
                       read_timeout=limits.read_timeout_seconds, total_seconds=limits.total_seconds,
                       max_bytes=int(limits.max_megabytes * 1024 * 1024), max_redirects=limits.max_redirects)
