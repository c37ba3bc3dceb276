"""Fetching one news feed: the adapter's only I/O, through the one HTTP client.

- conditional GET: the ETag / Last-Modified of the last good answer go out as If-None-Match /
  If-Modified-Since, so an unchanged feed costs one request and no parsing (HTTP 304);
- the HTTP client's policy (functions/http_client.py): connect/read timeouts, 429/5xx and
  connection errors retried with bounded jittered backoff, `HttpUnavailable` when out of budget;
- a wall-clock budget for the whole fetch (a server that trickles bytes cannot hold the job), a
  size cap enforced while streaming (the decompressed bytes count), redirects followed by hand up
  to a limit, each hop checked again;
- SSRF guard: only http(s), and hosts resolving to private, loopback, link-local or reserved
  addresses are refused unless `allow_private` (KMC_FEEDS_ALLOW_PRIVATE, for tests/intranets);
- every failure becomes `FeedFailure(reason)`, a short code the run summary counts.
"""
from __future__ import annotations

import ipaddress
import socket
import threading
import time
from typing import Callable
from urllib.parse import urljoin, urlsplit

from ..http_client import HttpClient, HttpUnavailable
from .model import (CONNECTION, HTTP_ERROR, REDIRECTS, REFUSED, TIMEOUT, TOO_LARGE, FeedFailure, Fetched,
                    Validators)

MAX_BYTES = 5 * 1024 * 1024
USER_AGENT = "Mozilla/5.0 (compatible; KMC-Aduan/1.0; media monitoring of Kabupaten Ketapang)"
ACCEPT = ("application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, "
          "*/*;q=0.5")
RETRIES = 1  # one more try for a 5xx / dropped connection; the job runs again within the hour


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
    """GET one feed with every guard above, on the shared HTTP client's retry policy."""

    def __init__(self, *, allow_private: bool = False, connect_timeout: float = 5.0,
                 read_timeout: float = 15.0, total_seconds: float = 30.0, max_bytes: int = MAX_BYTES,
                 max_redirects: int = 5, session=None, resolve: Callable = socket.getaddrinfo,
                 retries: int = RETRIES, sleep: Callable[[float], None] = time.sleep):
        self.allow_private = allow_private
        self.timeout = (connect_timeout, read_timeout)
        self.total_seconds = total_seconds
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.resolve = resolve
        self.retries, self.sleep = retries, sleep
        self._session = session
        self._http: HttpClient | None = None

    @property
    def http(self) -> HttpClient:
        if self._http is None:
            session = self._session
            if session is None:
                import requests

                session = requests.Session()
                session.trust_env = False  # no proxy or .netrc surprises from the environment
            self._http = HttpClient(timeout=self.timeout, retries=self.retries, sleep=self.sleep,
                                    session=session)
        return self._http

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
        started = time.monotonic()
        seen: set[str] = set()
        current = url
        for _ in range(self.max_redirects + 1):
            check_url(current, allow_private=self.allow_private, resolve=self.resolve)
            seen.add(current)
            with self._get(current, validators) as resp:
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

    def _get(self, url: str, validators: Validators):
        """The answer of one hop, unread (redirects are not followed: the caller checks each)."""
        import requests

        headers = {"User-Agent": USER_AGENT, "Accept": ACCEPT, **validators.headers()}
        try:
            return self.http.open_stream(url, headers=headers, allow_redirects=False)
        except HttpUnavailable as e:
            cause = e.__cause__
            raise FeedFailure(TIMEOUT if isinstance(cause, requests.Timeout) else CONNECTION,
                              type(cause).__name__ if cause else str(e)) from e

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
