"""What the feeds adapter hands the media job: feed items, validators, and why a feed failed."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

# Reasons a feed fails (the run summary counts them by these codes).
TIMEOUT = "timeout"
TOO_LARGE = "too_large"
REDIRECTS = "redirect_loop"
REFUSED = "refused"
HTTP_ERROR = "http_error"
CONNECTION = "connection"
NOT_A_FEED = "not_a_feed"


class FeedFailure(Exception):
    """A feed that could not be read this run; `reason` is one of the codes above."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Validators:
    """What makes the next GET conditional."""

    etag: str = ""
    last_modified: str = ""

    def __bool__(self) -> bool:
        return bool(self.etag or self.last_modified)

    def headers(self) -> dict[str, str]:
        out = {}
        if self.etag:
            out["If-None-Match"] = self.etag
        if self.last_modified:
            out["If-Modified-Since"] = self.last_modified
        return out


@dataclass(frozen=True)
class FeedItem:
    feed_url: str
    outlet: str
    title: str  # plain text
    lead: str  # plain text, at most LEAD_CHARS: the first lines of the summary, never the article
    link: str  # "" when the item has no usable http(s) link
    published: datetime | None  # aware (UTC) or None when the item has no date
    guid: str = ""
    html_in_title: bool = False


@dataclass
class ParsedFeed:
    title: str
    items: list[FeedItem]
    encoding: str  # as feedparser decoded it, e.g. "utf-8", "windows-1252"
    broken: str = ""  # the XML error when the feed was not well-formed ("" when it was)
    notes: dict[str, int] = field(default_factory=dict)  # no_date, no_link, html_title, no_title


@dataclass
class Fetched:
    url: str
    status: int  # 200 or 304
    body: bytes
    content_type: str
    validators: Validators
