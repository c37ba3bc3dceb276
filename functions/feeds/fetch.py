"""RSS/Atom feeds: the one place feed HTTP happens, and the wire format -> FeedItem.

Fetching (`FeedFetcher.fetch`) is ours, parsing is feedparser's:

- conditional GET: the ETag / Last-Modified of the last good answer go out as If-None-Match /
  If-Modified-Since, so an unchanged feed costs one request and no parsing (HTTP 304);
- a connect/read timeout plus a wall-clock budget for the whole download (a server that
  trickles bytes cannot hold the job), a size cap enforced while streaming (the decompressed
  bytes count), redirects followed by hand up to a limit, each hop checked again;
- SSRF guard: only http(s), and hosts resolving to private, loopback, link-local or reserved
  addresses are refused unless `allow_private` (KMC_FEEDS_ALLOW_PRIVATE, for tests/intranets);
- every failure becomes `FeedFailure(reason)`, a short code the run summary counts.

Parsing hands feedparser the bytes as a stream (never a string it might take for a URL or a
file name) with the response's Content-Type, so declared and sniffed encodings (windows-1252,
ISO-8859-1 ...) are honoured; broken XML still yields what the lenient parser can read and is
flagged. Titles and leads are reduced to plain text.
"""
from __future__ import annotations

import calendar
import html
import io
import ipaddress
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from html.parser import HTMLParser
from typing import Callable
from urllib.parse import urljoin, urlsplit

MAX_BYTES = 5 * 1024 * 1024
USER_AGENT = "Mozilla/5.0 (compatible; KMC-Aduan/1.0; media monitoring of Kabupaten Ketapang)"
ACCEPT = ("application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, "
          "*/*;q=0.5")
LEAD_CHARS = 300
TITLE_CHARS = 400
MAX_ITEMS = 200  # news feeds carry 10-100; more is a mistake or an attack (judging is O(n^2))

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


# --- SSRF guard -----------------------------------------------------------------------------


def _blocked_address(addr: str) -> bool:
    ip = ipaddress.ip_address(addr.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved
            or ip.is_multicast or ip.is_unspecified)


def check_url(url: str, *, allow_private: bool, resolve: Callable = socket.getaddrinfo) -> None:
    """Refuse non-http(s) URLs and, unless allowed, hosts on private/loopback networks."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"}:
        raise FeedFailure(REFUSED, f"scheme {parts.scheme or '-'} not allowed")
    if not parts.hostname:
        raise FeedFailure(REFUSED, "no host")
    if parts.username or parts.password:
        raise FeedFailure(REFUSED, "credentials in URL")
    if allow_private:
        return
    try:
        infos = resolve(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80),
                        proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as e:
        raise FeedFailure(CONNECTION, f"cannot resolve {parts.hostname}") from e
    for info in infos:
        if _blocked_address(info[4][0]):
            raise FeedFailure(REFUSED, f"{parts.hostname} is a private or loopback address")


# --- fetching -------------------------------------------------------------------------------


class FeedFetcher:
    """GET one feed with every guard above. No retries: the job runs again within the hour."""

    def __init__(self, *, allow_private: bool = False, connect_timeout: float = 5.0,
                 read_timeout: float = 15.0, total_seconds: float = 30.0, max_bytes: int = MAX_BYTES,
                 max_redirects: int = 5, session=None, resolve: Callable = socket.getaddrinfo):
        self.allow_private = allow_private
        self.timeout = (connect_timeout, read_timeout)
        self.total_seconds = total_seconds
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.resolve = resolve
        self._session = session

    @property
    def session(self):
        if self._session is None:
            import requests

            self._session = requests.Session()
            self._session.trust_env = False  # no proxy or .netrc surprises from the environment
        return self._session

    def fetch(self, url: str, validators: Validators = Validators()) -> Fetched:
        """One feed within `total_seconds`, whatever the server does.

        The download runs in a daemon thread: a server trickling one byte at a time defeats
        socket timeouts (each read succeeds) and reads block until a buffer fills, so the only
        hard bound is to stop waiting. The abandoned thread ends at its next socket timeout.
        """
        outcome: list = []

        def work():
            try:
                outcome.append(self._fetch(url, validators))
            except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
                outcome.append(e)

        worker = threading.Thread(target=work, name="kmc-feed-fetch", daemon=True)
        worker.start()
        worker.join(self.total_seconds + 1.0)
        if not outcome:
            raise FeedFailure(TIMEOUT, f"no complete answer within {self.total_seconds:g} s")
        if isinstance(outcome[0], BaseException):
            raise outcome[0]
        return outcome[0]

    def _fetch(self, url: str, validators: Validators) -> Fetched:
        import requests

        started = time.monotonic()
        seen: set[str] = set()
        current = url
        for _ in range(self.max_redirects + 1):
            check_url(current, allow_private=self.allow_private, resolve=self.resolve)
            seen.add(current)
            headers = {"User-Agent": USER_AGENT, "Accept": ACCEPT, **validators.headers()}
            try:
                resp = self.session.get(current, headers=headers, timeout=self.timeout,
                                        allow_redirects=False, stream=True)
            except requests.Timeout as e:
                raise FeedFailure(TIMEOUT, type(e).__name__) from e
            except requests.RequestException as e:
                raise FeedFailure(CONNECTION, type(e).__name__) from e
            with resp:
                if resp.is_redirect:
                    target = urljoin(current, resp.headers.get("Location", ""))
                    if target in seen:
                        raise FeedFailure(REDIRECTS, "redirect loop")
                    current = target
                    continue
                if resp.status_code == 304:
                    return Fetched(current, 304, b"", "", validators)
                if resp.status_code != 200:
                    raise FeedFailure(HTTP_ERROR, f"HTTP {resp.status_code}")
                body = self._read(resp, started)
                fresh = Validators(resp.headers.get("ETag", "").strip(),
                                   resp.headers.get("Last-Modified", "").strip())
                return Fetched(current, 200, body, resp.headers.get("Content-Type", ""), fresh)
        raise FeedFailure(REDIRECTS, f"more than {self.max_redirects} redirects")

    def _read(self, resp, started: float) -> bytes:
        import requests

        declared = resp.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise FeedFailure(TOO_LARGE, f"Content-Length {declared}")
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in resp.iter_content(64 * 1024):
                size += len(chunk)
                if size > self.max_bytes:
                    raise FeedFailure(TOO_LARGE, f"more than {self.max_bytes} bytes")
                if time.monotonic() - started > self.total_seconds:
                    raise FeedFailure(TIMEOUT, f"download took more than {self.total_seconds:g} s")
                chunks.append(chunk)
        except requests.exceptions.ConnectionError as e:  # read timeout while streaming
            if "timed out" in str(e).lower() or "timeout" in type(e.__context__).__name__.lower():
                raise FeedFailure(TIMEOUT, "read timed out") from e
            raise FeedFailure(CONNECTION, type(e).__name__) from e
        except requests.RequestException as e:
            raise FeedFailure(TIMEOUT if isinstance(e, requests.Timeout) else CONNECTION,
                              type(e).__name__) from e
        return b"".join(chunks)


# --- parsing --------------------------------------------------------------------------------


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
