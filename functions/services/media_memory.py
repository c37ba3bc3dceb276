"""The media job's durable memory in the workbook Log: feed validators, links and titles seen,
failed attempts per item (kinds `feed-state`, `media-seen`, `media-retry`: journal.py).

The newest `feed-state` entry wins. It is written when the validators changed, and again once
`journal.FEED_STATE_REFRESH` has passed since the newest one, so the state the next run needs is
always younger than the kind's retention (the daily job's pruning never removes it).
"""
from __future__ import annotations

import difflib
import hashlib
import json
from collections import Counter
from datetime import datetime, timedelta
from typing import Iterable

from ..feeds.model import FeedItem, Validators
from ..feeds.parse import canonical_url
from ..journal import (FEED_STATE, FEED_STATE_REFRESH, MEDIA_RETRY, MEDIA_SEEN, LogEntry, feed_state_key,
                       media_retry_key, media_seen_key)
from ..logs import log
from .media_config import MediaConfig, normalise

SEEN_PER_ENTRY = 150  # keeps one Log cell well under Sheets' 50,000 characters


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
        self.state_at: datetime | None = None  # when the newest feed-state entry was written

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
        memory.state_at = latest.at if states else None
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
        """What this run adds to the Log (nothing when nothing changed and the state is fresh)."""
        out: list[LogEntry] = []
        feeds = set(feeds)
        state = {u: v for u, v in self.validators.items() if u in feeds and v}
        before = {u: v for u, v in self._loaded_validators.items() if u in feeds and v}
        stale = self.state_at is None or now - self.state_at >= FEED_STATE_REFRESH
        if state != before or (state and stale):  # rewritten while it lasts: pruning never takes it
            detail = json.dumps({u: {"etag": v.etag, "last_modified": v.last_modified}
                                 for u, v in sorted(state.items())}, ensure_ascii=False)
            out.append(LogEntry(FEED_STATE, feed_state_key(now, detail), now, detail))
        out += [LogEntry(MEDIA_RETRY, media_retry_key(short, now), now, str(self.failures[short]))
                for short in self.new_failures if not self.seen_short(short)]
        links, titles = self.new_links, self.new_titles
        for i in range(0, max(len(links), len(titles)), SEEN_PER_ENTRY):
            detail = json.dumps({"links": links[i:i + SEEN_PER_ENTRY],
                                 "titles": titles[i:i + SEEN_PER_ENTRY]}, ensure_ascii=False)
            out.append(LogEntry(MEDIA_SEEN, media_seen_key(now, detail, i // SEEN_PER_ENTRY), now, detail))
        return out
