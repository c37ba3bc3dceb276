"""Feed bytes -> FeedItem: RSS 0.9x/1.0/2.0 and Atom, read by feedparser (no I/O here).

Parsing hands feedparser the bytes as a stream (never a string it might take for a URL or a
file name) with the response's Content-Type, so declared and sniffed encodings (windows-1252,
ISO-8859-1 ...) are honoured; broken XML still yields what the lenient parser can read and is
flagged. Titles and leads are reduced to plain text. `canonical_url` gives a link its identity.
"""
from __future__ import annotations

import calendar
import html
import io
import re
from datetime import datetime, timezone
from html.parser import HTMLParser
from urllib.parse import urlsplit

from .model import NOT_A_FEED, FeedFailure, FeedItem, ParsedFeed

LEAD_CHARS = 300
TITLE_CHARS = 400
MAX_ITEMS = 200  # news feeds carry 10-100; more is a mistake or an attack (judging is O(n^2))


class _TextOnly(HTMLParser):
    """Markup -> text; <script>/<style> contents dropped, block tags become spaces."""

    _SKIP = {"script", "style"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag, attrs):
        if tag in self._SKIP:
            self.skipping += 1
        self.parts.append(" ")

    def handle_endtag(self, tag):
        if tag in self._SKIP and self.skipping:
            self.skipping -= 1
        self.parts.append(" ")

    def handle_data(self, data):
        if not self.skipping:
            self.parts.append(data)


_TAG = re.compile(r"<\s*/?\s*[a-zA-Z][^>]*>")


def plain_text(value: str) -> str:
    """Tags stripped, entities decoded (also double-escaped ones), whitespace collapsed."""
    text = value or ""
    for _ in range(2):  # feeds often escape HTML twice (&amp;lt;b&amp;gt;)
        parser = _TextOnly()
        parser.feed(text)
        parser.close()
        text = html.unescape("".join(parser.parts))
        if not _TAG.search(text):
            break
    return " ".join(text.split())


def _lead(summary: str, title: str, outlet: str) -> str:
    text = plain_text(summary)
    for prefix in (title, outlet):  # Google News summaries repeat title and outlet
        if prefix and text.lower().startswith(prefix.lower()):
            text = text[len(prefix):].strip(" -–—|:")
    if outlet and text.lower() == outlet.lower():
        text = ""
    if len(text) <= LEAD_CHARS:
        return text
    cut = text[:LEAD_CHARS]
    sentence = max(cut.rfind(". "), cut.rfind("! "), cut.rfind("? "))
    if sentence >= LEAD_CHARS // 3:
        return cut[: sentence + 1]
    return cut.rsplit(" ", 1)[0].rstrip(" ,;:") + "…"


def _http_link(value: str) -> str:
    value = (value or "").strip()
    return value if urlsplit(value).scheme in {"http", "https"} and urlsplit(value).netloc else ""


def _published(entry) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        parsed = entry.get(key)
        if parsed:
            try:
                return datetime.fromtimestamp(calendar.timegm(parsed), tz=timezone.utc)
            except (OverflowError, ValueError, OSError):
                return None
    return None


def _host_name(url: str) -> str:
    host = urlsplit(url).hostname or ""
    return host[4:] if host.startswith("www.") else host


_DOCTYPE = re.compile(rb"<!DOCTYPE[^\[>]*(\[.*?\]\s*)?>", re.IGNORECASE | re.DOTALL)


def strip_doctype(body: bytes) -> tuple[bytes, bool]:
    """The document without its DOCTYPE (and internal subset): feeds need no entity
    definitions, and nested ones are a billion-laughs bomb for feedparser's lenient parser."""
    head = body[:64 * 1024]
    m = _DOCTYPE.search(head)
    if not m or b"<" in head[:m.start()].replace(b"<?", b"").replace(b"<!--", b""):
        return body, False
    return body[:m.start()] + body[m.end():], True


def parse_feed(body: bytes, *, url: str, content_type: str = "") -> ParsedFeed:
    """Items of an RSS 0.9x/1.0/2.0 or Atom document; raises FeedFailure(NOT_A_FEED) when
    nothing could be read."""
    import feedparser

    body, _ = strip_doctype(body)
    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type
    try:
        doc = feedparser.parse(io.BytesIO(body), response_headers=headers,
                               resolve_relative_uris=False, sanitize_html=True)
    except Exception as e:  # noqa: BLE001 - feedparser itself trips on some bytes (a NUL in the declared encoding)
        raise FeedFailure(NOT_A_FEED, f"{type(e).__name__}: {e}"[:200]) from None
    broken = ""
    if doc.get("bozo"):
        exc = doc.get("bozo_exception")
        broken = f"{type(exc).__name__}: {exc}"[:200] if exc else "not well-formed"
    if not doc.entries:
        if broken or not doc.get("version"):
            raise FeedFailure(NOT_A_FEED, broken or "no RSS/Atom document")
    feed_title = plain_text(doc.feed.get("title", "")) or _host_name(url)
    notes = {"no_date": 0, "no_link": 0, "html_title": 0, "no_title": 0,
             "too_many": max(0, len(doc.entries) - MAX_ITEMS)}
    items: list[FeedItem] = []
    for entry in doc.entries[:MAX_ITEMS]:
        raw_title = entry.get("title", "") or ""
        source = entry.get("source") or {}
        outlet = plain_text(source.get("title", "")) if hasattr(source, "get") else ""
        outlet = outlet or feed_title
        title = plain_text(raw_title)
        html_in_title = bool(_TAG.search(html.unescape(raw_title)))
        if outlet and title.endswith(f" - {outlet}"):  # Google News: "Title - Outlet"
            title = title[: -len(outlet) - 3].rstrip()
        link = _http_link(entry.get("link", ""))
        lead = _lead(entry.get("summary", "") or "", title, outlet)
        if not title:
            if not lead:
                notes["no_title"] += 1
                continue
            title, lead = lead, ""
        if len(title) > TITLE_CHARS:  # a "title" that is a whole article
            title = title[:TITLE_CHARS].rsplit(" ", 1)[0] + "…"
        published = _published(entry)
        notes["no_date"] += published is None
        notes["no_link"] += not link
        notes["html_title"] += html_in_title
        items.append(FeedItem(url, outlet, title, lead, link, published,
                              str(entry.get("id", "") or ""), html_in_title))
    return ParsedFeed(feed_title, items, (doc.get("encoding") or "").lower(), broken, notes)


# --- links ----------------------------------------------------------------------------------

_TRACKING = re.compile(r"^(utm_.*|fbclid|gclid|dclid|igshid|igsh|mibextid|si|ref_src|ref_url|"
                       r"_ga|mc_cid|mc_eid|share|sharer|amp)$", re.IGNORECASE)


def canonical_url(url: str) -> str:
    """A stable identity for a link: scheme/host lower case, no fragment, no tracking params,
    no `www.`/`m.` host prefix, no trailing slash. "" when it is not an http(s) URL."""
    from urllib.parse import parse_qsl, urlencode, urlunsplit

    parts = urlsplit((url or "").strip())
    if parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
        return ""
    host = parts.hostname.lower()
    for prefix in ("www.", "m.", "mobile.", "web."):
        if host.startswith(prefix) and host.count(".") >= 2:
            host = host[len(prefix):]
            break
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING.match(k)]
    if host == "news.google.com":
        query = [(k, v) for k, v in query if k not in {"oc", "hl", "gl", "ceid"}]
    path = parts.path.rstrip("/") or ""
    port = f":{parts.port}" if parts.port and parts.port not in (80, 443) else ""
    return urlunsplit(("https", host + port, path, urlencode(sorted(query)), ""))
