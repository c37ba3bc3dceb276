"""One outbound HTTP chokepoint and ONE retry policy, shared with the Sheets client.

`RetryPolicy` and `with_retries` are the one retry loop of the system: `HttpClient` (Graph API,
Cloud Tasks, Cloud Storage, Speech-to-Text, feeds) and the Sheets client
(`stores/google/http.py`) both run their tries through it, each with its own parameters
(attempts, first backoff, longest backoff, total sleep budget). What each try means stays with
the API: a 4xx is an answer the caller reads here and an error there; a write whose outcome is
unknown is `maybe_applied` here and `AmbiguousWrite` there. Token refresh on a 401 is the
authorised session's (google-auth's `AuthorizedSession` refreshes and resends once), for both.

- A timeout on every call (connect, read).
- Bounded retries with jittered exponential backoff on 429, 5xx and connection errors; a
  `Retry-After` is honoured up to the policy's longest backoff.
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
from typing import Any, Callable, Mapping, TypeVar

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to try again; the parameters are each API's, the rule is one."""

    # The defaults are the Sheets API's (the busiest); HttpClient builds its own from its arguments.
    attempts: int = 5  # total tries per request
    base: float = 0.5  # first backoff, seconds
    cap: float = 16.0  # longest single backoff (and the most of a Retry-After we wait)
    budget: float = 40.0  # most seconds spent sleeping for one request (Cloud Functions: 60 s)

    def backoff(self, attempt: int, rng: Callable[[], float]) -> float:
        """Equal jitter: half fixed, half random, doubling each attempt up to `cap`."""
        step = min(self.cap, self.base * (2 ** attempt))
        return step / 2 + rng() * step / 2

    def delay(self, attempt: int, retry_after: float | None, rng: Callable[[], float]) -> float:
        """The pause before the next try: the backoff, or the server's Retry-After up to `cap`."""
        wait = self.backoff(attempt, rng)
        return max(wait, min(retry_after, self.cap)) if retry_after is not None else wait


@dataclass
class Retry:
    """A try that another try may fix: why, the server's Retry-After, and the error to chain."""

    problem: str
    retry_after: float | None = None
    error: BaseException | None = None


def with_retries(attempt: Callable[[int, bool], "T | Retry"], policy: RetryPolicy, *,
                 sleep: Callable[[float], None], rng: Callable[[], float] = random.random,
                 give_up: Callable[[Retry, int], BaseException],
                 on_retry: Callable[[Retry, int, float], None] | None = None) -> T:
    """Call `attempt(n, last)` until it returns a result instead of a `Retry`, pausing as the
    policy says; raise `give_up(retry, tries)` when the tries or the sleep budget run out.
    `last` is True on the final allowed try (an API whose last answer is still an answer)."""
    slept = 0.0
    for n in range(max(1, policy.attempts)):
        outcome = attempt(n, n + 1 >= policy.attempts)
        if not isinstance(outcome, Retry):
            return outcome
        delay = policy.delay(n, outcome.retry_after, rng)
        if n + 1 >= policy.attempts or slept + delay > policy.budget:
            raise give_up(outcome, n + 1) from outcome.error
        if on_retry is not None:
            on_retry(outcome, n + 1, delay)
        sleep(delay)
        slept += delay
    raise AssertionError("unreachable")  # pragma: no cover


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
    """`request(...)` with timeouts and bounded, jittered retries (`RetryPolicy`)."""

    def __init__(
        self,
        *,
        timeout: tuple[float, float] = (3.05, 10.0),
        retries: int = 2,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        session=None,
        retry: RetryPolicy | None = None,
        rng: Callable[[], float] = random.random,
    ):
        self.timeout = timeout
        self.retry = retry or RetryPolicy(attempts=retries + 1, base=backoff, cap=10.0, budget=float("inf"))
        self.sleep, self.rng = sleep, rng
        self._session = session

    @property
    def session(self):
        if self._session is None:
            import requests

            self._session = requests.Session()
        return self._session

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
        reads the API's error body; so is a retryable status on the last try. `data` sends raw
        bytes (an upload). With `max_bytes` the answer is a download: the body is streamed and
        returned as bytes, cut at `max_bytes + 1` (the caller sees it is too large without the
        whole file ever being held).
        """
        safe = method.upper() in {"GET", "HEAD", "PUT", "DELETE"} if idempotent is None else idempotent
        where = f"{method} {_host(url)}"

        def attempt(n: int, last: bool) -> HttpResponse | Retry:
            import requests

            try:
                resp = self.session.request(method, url, json=json, params=params, headers=headers,
                                            data=data, timeout=self.timeout, stream=max_bytes is not None)
            except requests.RequestException as e:
                if not _never_sent(e) and not safe:
                    raise HttpUnavailable(f"{where}: {type(e).__name__}", maybe_applied=True) from e
                if not isinstance(e, (requests.ConnectionError, requests.Timeout)):
                    raise HttpUnavailable(f"{where}: {type(e).__name__}") from e
                return Retry(type(e).__name__, error=e)
            if (resp.status_code == 429 or (resp.status_code in RETRY_STATUSES and safe)) and not last:
                return Retry(f"HTTP {resp.status_code}", retry_after_seconds(resp.headers.get("Retry-After")))
            if max_bytes is not None and resp.ok:
                try:
                    return HttpResponse(resp.status_code, _capped(resp, max_bytes), dict(resp.headers))
                except requests.RequestException as e:  # the connection broke mid-download
                    return Retry(type(e).__name__, error=e)
            return HttpResponse(resp.status_code, _body(resp), dict(resp.headers))

        return with_retries(attempt, self.retry, sleep=self.sleep, rng=self.rng,
                            give_up=lambda r, tries: HttpUnavailable(f"{where}: {r.problem}"))


    def open_stream(self, url: str, *, headers: Mapping[str, str] | None = None, allow_redirects: bool = True):
        """GET under the same policy (timeouts; 429, 5xx and connection errors retried with
        jittered backoff; HttpUnavailable when out of budget), the answer handed back UNREAD
        (`requests` streamed response, a context manager): the caller checks the headers and
        reads the body within its own limits (feeds: Content-Length, a streamed cap, a clock).
        `allow_redirects=False` lets the caller check each hop (an SSRF guard)."""
        where = f"GET {_host(url)}"

        def attempt(n: int, last: bool):
            import requests

            try:
                resp = self.session.get(url, headers=headers, timeout=self.timeout,
                                        allow_redirects=allow_redirects, stream=True)
            except (requests.ConnectionError, requests.Timeout) as e:
                return Retry(type(e).__name__, error=e)
            except requests.RequestException as e:
                raise HttpUnavailable(f"{where}: {type(e).__name__}") from e
            if resp.status_code in RETRY_STATUSES and not last:
                wait = retry_after_seconds(resp.headers.get("Retry-After"))
                resp.close()
                return Retry(f"HTTP {resp.status_code}", wait)
            return resp

        return with_retries(attempt, self.retry, sleep=self.sleep, rng=self.rng,
                            give_up=lambda r, tries: HttpUnavailable(f"{where}: {r.problem}"))

def retry_after_seconds(raw: str | None) -> float | None:
    """A Retry-After header in seconds (the HTTP-date form is not used by these APIs)."""
    try:
        return float(raw) if raw else None
    except ValueError:
        return None


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
