"""One chokepoint for outbound HTTP to APIs that are not Sheets (Graph API, news feeds).

- A timeout on every call (connect, read).
- Bounded retries with jittered exponential backoff on 429, 5xx and connection errors.
- A request that may have been applied (read timeout, 5xx on a non-idempotent POST) is retried
  only when the caller says it is idempotent; otherwise the caller gets the outcome and decides
  (a WhatsApp message sent twice is worse than one sent a sweep later).
- Failures become `HttpUnavailable` (our exception), never a raw `requests` error.

`requests` is imported on first use so a cold start that sends nothing pays nothing.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class HttpUnavailable(RuntimeError):
    """The remote API could not be reached, or kept failing within the retry budget."""

    def __init__(self, message: str, *, maybe_applied: bool = False):
        super().__init__(message)
        self.maybe_applied = maybe_applied


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: Any  # parsed JSON when the answer was JSON, else the text
    headers: Mapping[str, str]

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class HttpClient:
    """`request(...)` with timeouts and bounded, jittered retries."""

    def __init__(
        self,
        *,
        timeout: tuple[float, float] = (3.05, 10.0),
        retries: int = 2,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        session=None,
    ):
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.sleep = sleep
        self._session = session

    @property
    def session(self):
        if self._session is None:
            import requests

            self._session = requests.Session()
        return self._session

    def _pause(self, attempt: int, retry_after: str | None) -> None:
        try:
            wait = float(retry_after) if retry_after else 0.0
        except ValueError:
            wait = 0.0
        wait = max(wait, self.backoff * (2 ** attempt)) * (0.5 + random.random())
        self.sleep(min(wait, 10.0))

    def request(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        data: bytes | None = None,
        max_bytes: int | None = None,
    ) -> HttpResponse:
        """Send one request; retry what is safe to retry; raise HttpUnavailable when out of budget.

        HTTP error statuses that are not retried (4xx) are returned, not raised: the caller
        reads the API's error body. `data` sends raw bytes (an upload). With `max_bytes` the answer
        is a download: the body is streamed and returned as bytes, cut at `max_bytes + 1` (the
        caller sees it is too large without the whole file ever being held).
        """
        import requests

        safe = method.upper() in {"GET", "HEAD", "PUT", "DELETE"} if idempotent is None else idempotent
        last = ""
        for attempt in range(self.retries + 1):
            final = attempt == self.retries
            try:
                resp = self.session.request(method, url, json=json, params=params, headers=headers,
                                            data=data, timeout=self.timeout, stream=max_bytes is not None)
            except requests.RequestException as e:
                sent = not _never_sent(e)
                if sent and not safe:
                    raise HttpUnavailable(f"{method} {_host(url)}: {type(e).__name__}", maybe_applied=True) from e
                if not isinstance(e, (requests.ConnectionError, requests.Timeout)):
                    raise HttpUnavailable(f"{method} {_host(url)}: {type(e).__name__}") from e
                last = type(e).__name__
                if final:
                    raise HttpUnavailable(f"{method} {_host(url)}: {last}") from e
                self._pause(attempt, None)
                continue
            retryable = resp.status_code == 429 or (resp.status_code in RETRY_STATUSES and safe)
            if retryable and not final:
                self._pause(attempt, resp.headers.get("Retry-After"))
                continue
            if max_bytes is not None and resp.ok:
                try:
                    return HttpResponse(resp.status_code, _capped(resp, max_bytes), dict(resp.headers))
                except requests.RequestException as e:  # the connection broke mid-download
                    last = type(e).__name__
                    if final:
                        raise HttpUnavailable(f"{method} {_host(url)}: {last}") from e
                    self._pause(attempt, None)
                    continue
            return HttpResponse(resp.status_code, _body(resp), dict(resp.headers))
        raise HttpUnavailable(f"{method} {_host(url)}: {last or 'gave up'}")  # pragma: no cover

    def open_stream(self, url: str, *, headers: Mapping[str, str] | None = None, allow_redirects: bool = True):
        """GET under the same policy (timeouts; 429, 5xx and connection errors retried with
        jittered backoff; HttpUnavailable when out of budget), the answer handed back UNREAD
        (`requests` streamed response, a context manager): the caller checks the headers and
        reads the body within its own limits (feeds: Content-Length, a streamed cap, a clock).
        `allow_redirects=False` lets the caller check each hop (an SSRF guard)."""
        import requests

        for attempt in range(self.retries + 1):
            final = attempt == self.retries
            try:
                resp = self.session.get(url, headers=headers, timeout=self.timeout,
                                        allow_redirects=allow_redirects, stream=True)
            except (requests.ConnectionError, requests.Timeout) as e:
                if final:
                    raise HttpUnavailable(f"GET {_host(url)}: {type(e).__name__}") from e
                self._pause(attempt, None)
                continue
            except requests.RequestException as e:
                raise HttpUnavailable(f"GET {_host(url)}: {type(e).__name__}") from e
            if resp.status_code in RETRY_STATUSES and not final:
                wait = resp.headers.get("Retry-After")
                resp.close()
                self._pause(attempt, wait)
                continue
            return resp
        raise HttpUnavailable(f"GET {_host(url)}: gave up")  # pragma: no cover


def _never_sent(error) -> bool:
    """True when the request certainly did not reach the server (refused, DNS, connect timeout)."""
    import requests
    from urllib3.exceptions import NameResolutionError, NewConnectionError

    if isinstance(error, requests.ConnectTimeout):
        return True
    reason = error.args[0] if error.args else None
    reason = getattr(reason, "reason", reason)
    return isinstance(reason, (NewConnectionError, NameResolutionError))


def _capped(resp, max_bytes: int) -> bytes:
    chunks, size = [], 0
    try:
        for chunk in resp.iter_content(chunk_size=64 * 1024):
            chunks.append(chunk)
            size += len(chunk)
            if size > max_bytes:
                break
    finally:
        resp.close()
    return b"".join(chunks)[:max_bytes + 1]


def _body(resp) -> Any:
    try:
        return resp.json()
    except ValueError:
        return resp.text


def _host(url: str) -> str:
    """The host and path without the query string (which may carry a token)."""
    return url.split("?", 1)[0]
