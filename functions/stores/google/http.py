"""The ONE place every Sheets API request goes through.

- Timeouts on every call (gspread passes `timeout=None` unless told).
- Bounded retries with jittered exponential backoff on 429, 5xx, connection errors and timeouts
  (gspread's own `BackOffHTTPClient` retries forever in 6.2.x: not used), then our own
  `StorageUnavailable`. The loop and the policy are the system's one (`http_client.RetryPolicy`,
  `with_retries`), with the Sheets parameters: 5 tries, backoff 0.5 s doubling to 16 s, at most
  40 s asleep per request (a Cloud Function has 60 s). What differs from `HttpClient` is what a
  failed try means, and it is essential: every Sheets error is raised (the adapter never reads
  an error body), a non-idempotent write that may have landed raises `AmbiguousWrite` because
  the adapter can look at the sheet and retry only what is missing, and requests are paced
  under the per-minute quotas.
- A write that may or may not have been applied (a read timeout, a reset or a 5xx on a
  non-idempotent request such as an append) is NOT retried blindly: it raises `AmbiguousWrite`
  so the adapter can look at the sheet and retry only what is missing. A 429 is never applied,
  and a connect timeout never reached the server, so those are always retried.
- Pacing: the process's client spreads requests with token buckets sized under the per-user
  quotas (60 writes and 60 reads per minute), so one instance does not burn its quota in a storm.
- `SHEETS_EMULATOR_HOST`: plain http://HOST with anonymous credentials, like Google's
  `*_EMULATOR_HOST` convention. gspread builds URLs from module constants
  (`gspread.urls.SPREADSHEETS_API_V4_BASE_URL`), so the prefix is rewritten here.
"""
from __future__ import annotations

import random
import threading
import time
from collections import Counter
from functools import cache
from typing import Any, Callable, Mapping

import requests
from gspread.http_client import HTTPClient

from ...http_client import RETRY_STATUSES, Retry, RetryPolicy, retry_after_seconds, with_retries
from ...logs import log
from ...model import StorageUnavailable

SHEETS_SCOPE = "https://www.googleapis.com/auth/spreadsheets"
GOOGLE_BASE = "https://sheets.googleapis.com"
V4 = "/v4/spreadsheets"


class SheetsApiError(StorageUnavailable):
    """The Sheets API refused or failed a request; `status`/`reason` say how."""

    def __init__(self, message: str, status: int = 0, reason: str = "", kind: str = ""):
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.kind = kind

    @property
    def bad_range(self) -> bool:
        """A range named a tab that does not exist (renamed by staff): refresh metadata. Only
        Google's "Unable to parse range"; a range past the grid is another error (`beyond_grid`)."""
        return self.status == 400 and "unable to parse range" in str(self).lower()

    @property
    def beyond_grid(self) -> bool:
        """An explicit range past the sheet's last row or column: "... exceeds grid limits"."""
        return self.status == 400 and "exceeds grid limits" in str(self).lower()


class AmbiguousWrite(SheetsApiError):
    """A non-idempotent write failed in a way that does not tell whether it was applied."""


class TokenBucket:
    """At most `capacity` requests at once, refilled at `per_minute`; `take` waits its turn."""

    def __init__(self, per_minute: float, capacity: float, clock=time.monotonic, sleep=time.sleep):
        self.rate = per_minute / 60.0
        self.capacity = capacity
        self.tokens = capacity
        self.clock, self.sleep = clock, sleep
        self.stamp = clock()
        self.lock = threading.Lock()
        self.waited = 0.0

    def take(self) -> None:
        """Reserve a token now (the balance may go negative) and sleep off the debt, once."""
        with self.lock:
            now = self.clock()
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            self.tokens -= 1
            wait = -self.tokens / self.rate if self.tokens < 0 else 0.0
        if wait > 0:
            self.waited += wait
            self.sleep(wait)


def kind_of(method: str, url: str) -> str:
    """`values.append`, `spreadsheets.batchUpdate` ... from a Sheets URL (for counts and logs)."""
    path = url.split("?", 1)[0]
    tail = path.split(V4, 1)[-1]
    if tail in ("", "/"):
        return "spreadsheets.create"
    if "/values:" in tail:
        return "values." + tail.rsplit(":", 1)[1]
    if "/values/" in tail:
        for suffix in (":append", ":clear"):
            if tail.endswith(suffix):
                return "values." + suffix[1:]
        return "values.update" if method.upper() == "PUT" else "values.get"
    if tail.endswith(":batchUpdate"):
        return "spreadsheets.batchUpdate"
    return "spreadsheets.get" if method.upper() == "GET" else "spreadsheets.other"


_IDEMPOTENT_KINDS = frozenset(
    {"values.get", "values.batchGet", "values.update", "values.batchUpdate", "values.batchClear",
     "values.clear", "spreadsheets.get"}
)
READ_KINDS = frozenset({"values.get", "values.batchGet", "spreadsheets.get"})


class SheetsHTTPClient(HTTPClient):
    """gspread's HTTPClient with timeouts, bounded retries, pacing and our exceptions.

    gspread's high-level objects (used by `scripts/bench.py` for the naive comparison) call
    `request`; the adapter calls `call`, which can say a POST is idempotent.
    """

    def __init__(
        self,
        session_factory: Callable[[], requests.Session],
        *,
        base_url: str = GOOGLE_BASE,
        timeout: tuple[float, float] = (5.0, 30.0),
        retry: RetryPolicy = RetryPolicy(),
        writes_per_minute: float = 50.0,
        reads_per_minute: float = 50.0,
        burst: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
        service_account_email: str = "",
    ) -> None:
        # Not super().__init__: gspread would build an AuthorizedSession from credentials now;
        # we build ours on first use so nothing connects at import or composition time.
        self._session_factory = session_factory
        self._session: requests.Session | None = None
        self._session_lock = threading.Lock()
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retry = retry
        self.sleep, self.clock, self.rng = sleep, clock, rng
        self.write_bucket = TokenBucket(writes_per_minute, burst, clock, sleep)
        self.read_bucket = TokenBucket(reads_per_minute, burst * 2, clock, sleep)
        self.counts: Counter[str] = Counter()  # requests sent, by kind (retries included)
        self.retries: Counter[str] = Counter()
        self._service_account_email = service_account_email

    # -- session ------------------------------------------------------------------------
    @property
    def session(self) -> requests.Session:  # type: ignore[override]
        with self._session_lock:
            if self._session is None:
                self._session = self._session_factory()
            return self._session

    @session.setter
    def session(self, value: requests.Session) -> None:
        self._session = value

    @property
    def service_account_email(self) -> str:
        if self._service_account_email:
            return self._service_account_email
        creds = getattr(self.session, "credentials", None)
        email = getattr(creds, "service_account_email", "") or ""
        return "" if email == "default" else email

    def url(self, endpoint: str) -> str:
        if endpoint.startswith(GOOGLE_BASE):
            return self.base_url + endpoint[len(GOOGLE_BASE):]
        if endpoint.startswith("/"):
            return self.base_url + endpoint
        return endpoint

    # -- gspread entry point -------------------------------------------------------------
    def request(self, method, endpoint, params=None, data=None, json=None, files=None, headers=None):
        return self.call(method, endpoint, params=params, data=data, json=json, files=files, headers=headers)

    def set_timeout(self, timeout) -> None:
        if timeout is not None:  # never fall back to gspread's "wait forever"
            self.timeout = timeout

    # -- the chokepoint -------------------------------------------------------------------
    def call(
        self,
        method: str,
        endpoint: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        files: Any = None,
        headers: Any = None,
        idempotent: bool | None = None,
    ) -> requests.Response:
        url = self.url(endpoint)
        kind = kind_of(method, url)
        if idempotent is None:
            idempotent = kind in _IDEMPOTENT_KINDS
        bucket = self.read_bucket if kind in READ_KINDS else self.write_bucket

        def attempt(n: int, last: bool) -> requests.Response | Retry:
            bucket.take()
            self.counts[kind] += 1
            try:
                response = self.session.request(method=method, url=url, params=params, json=json, data=data,
                                                files=files, headers=headers, timeout=self.timeout)
            except requests.exceptions.ConnectTimeout as e:  # never reached the server
                return Retry("connect timeout", error=e)
            except requests.exceptions.Timeout as e:
                return _unsure(kind, Retry("read timeout", error=e), idempotent, n)
            except requests.exceptions.ConnectionError as e:
                return _unsure(kind, Retry("connection error", error=e), idempotent, n)
            except requests.exceptions.RequestException as e:
                raise SheetsApiError(f"Sheets {kind}: {type(e).__name__}", kind=kind) from e
            if response.ok:
                return response
            status = response.status_code
            message, reason = _error_text(response)
            error = SheetsApiError(f"Sheets {kind} {status} {reason}: {message}", status, reason, kind)
            if status not in RETRY_STATUSES:
                raise error
            retry = Retry(f"HTTP {status}", retry_after_seconds(response.headers.get("Retry-After")), error)
            return retry if status == 429 else _unsure(kind, retry, idempotent, n, status)  # a 429 was never applied

        return with_retries(attempt, self.retry, sleep=self.sleep, rng=self.rng,
                            give_up=lambda r, tries: _gave_up(kind, r, tries),
                            on_retry=lambda r, tries, delay: self._note_retry(kind, r, tries, delay))

    def _note_retry(self, kind: str, retry: Retry, tries: int, delay: float) -> None:
        self.retries[kind] += 1
        log("WARNING", "sheets request retry", kind=kind, problem=retry.problem, attempt=tries, delay_s=round(delay, 2))

    def call_json(self, method: str, path: str, **kw) -> dict:
        """`call` with a path under /v4/spreadsheets; returns the JSON body."""
        response = self.call(method, self.base_url + V4 + path, **kw)
        return response.json() if response.content else {}

    # -- the few endpoints the adapter uses ------------------------------------------------
    def get_metadata(self, spreadsheet_id: str, fields: str) -> dict:
        return self.call_json("GET", f"/{spreadsheet_id}", params={"fields": fields, "includeGridData": "false"})

    def batch_get(self, spreadsheet_id: str, ranges: list[str], render: str = "UNFORMATTED_VALUE") -> list[dict]:
        if not ranges:
            return []
        body = self.call_json(
            "GET", f"/{spreadsheet_id}/values:batchGet",
            params={"ranges": ranges, "valueRenderOption": render, "dateTimeRenderOption": "SERIAL_NUMBER",
                    "majorDimension": "ROWS"},
        )
        return body.get("valueRanges", [])

    def spreadsheet_batch_update(self, spreadsheet_id: str, requests_: list[dict], *, idempotent: bool,
                                 read_back: list[str] | None = None) -> dict:
        """`read_back`: whole-sheet ranges whose cells the reply carries as they are after the
        batch (`updatedSpreadsheet`): a check of the write at no extra request."""
        body: dict[str, Any] = {"requests": requests_}
        if read_back:
            body.update(includeSpreadsheetInResponse=True, responseRanges=read_back, responseIncludeGridData=True)
        return self.call_json("POST", f"/{spreadsheet_id}:batchUpdate", json=body, idempotent=idempotent)

    def values_append_raw(self, spreadsheet_id: str, table_range: str, rows: list[list]) -> dict:
        from urllib.parse import quote

        return self.call_json(
            "POST", f"/{spreadsheet_id}/values/{quote(table_range, safe='')}:append",
            params={"valueInputOption": "RAW", "insertDataOption": "INSERT_ROWS"},
            json={"range": table_range, "majorDimension": "ROWS", "values": rows},
        )

    def values_batch_update_raw(self, spreadsheet_id: str, data: list[dict]) -> dict:
        return self.call_json("POST", f"/{spreadsheet_id}/values:batchUpdate",
                              json={"valueInputOption": "RAW", "data": data})

    def create_spreadsheet(self, title: str) -> dict:
        return self.call_json("POST", "", json={"properties": {"title": title, "locale": "id_ID",
                                                               "timeZone": "Asia/Jakarta"}})


def _error_text(response: requests.Response) -> tuple[str, str]:
    """Google's JSON error shape: {"error": {"code", "message", "status"}}."""
    try:
        error = response.json().get("error", {})
        return str(error.get("message", ""))[:300], str(error.get("status", ""))
    except (ValueError, AttributeError):
        return response.text[:200], ""


def _unsure(kind: str, retry: Retry, idempotent: bool, n: int, status: int = 0) -> Retry:
    """A failure after the request may have reached Google: another try for a read or an
    idempotent write; for any other write, `AmbiguousWrite` (the caller looks before retrying)."""
    if idempotent:
        return retry
    log("WARNING", "sheets write outcome unknown", kind=kind, problem=retry.problem, attempt=n + 1)
    raise AmbiguousWrite(f"Sheets {kind}: {retry.problem}; the write may or may not have been applied",
                         status, "AMBIGUOUS", kind) from retry.error


def _gave_up(kind: str, retry: Retry, tries: int) -> StorageUnavailable:
    log("ERROR", "sheets request failed", kind=kind, problem=retry.problem, attempts=tries)
    return StorageUnavailable(f"Sheets {kind} failed after {tries} attempts: {retry.problem}")


def default_session() -> requests.Session:
    """Application Default Credentials with the Sheets scope (the function's service account)."""
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError
    from google.auth.transport.requests import AuthorizedSession

    try:
        credentials, _ = google.auth.default(scopes=[SHEETS_SCOPE])
    except DefaultCredentialsError as e:
        raise StorageUnavailable(
            "no Google credentials: in the cloud the function's service account is used; on a "
            "laptop run `gcloud auth application-default login`, or set SHEETS_EMULATOR_HOST"
        ) from e
    return AuthorizedSession(credentials)


def emulator_session() -> requests.Session:
    """Anonymous credentials for a local Sheets API stand-in."""
    from google.auth.credentials import AnonymousCredentials
    from google.auth.transport.requests import AuthorizedSession

    return AuthorizedSession(AnonymousCredentials())


def client_for(emulator_host: str = "", **kw) -> SheetsHTTPClient:
    """The process's Sheets client: Google with ADC, or plain HTTP to an emulator."""
    if emulator_host:
        host = emulator_host.removeprefix("http://").rstrip("/")
        return SheetsHTTPClient(emulator_session, base_url=f"http://{host}", **kw)
    return SheetsHTTPClient(default_session, **kw)


@cache
def shared_client(emulator_host: str) -> SheetsHTTPClient:
    """One client per process: both spreadsheets share its quota pacing."""
    return client_for(emulator_host)
