"""The one HTTP chokepoint: timeouts on every call, bounded jittered retries, our own exceptions."""
from __future__ import annotations

import threading

import pytest
import requests
import responses

from functions.model import StorageUnavailable
from functions.stores.google import Coalescer
from functions.stores.google.http import (AmbiguousWrite, RetryPolicy, SheetsApiError, SheetsHTTPClient, client_for,
                                          kind_of)
from tests.fakes.fake_sheets import FakeSheets, VirtualTime

BASE = "https://sheets.googleapis.com/v4/spreadsheets"


@pytest.fixture
def api():
    vt = VirtualTime()
    fake = FakeSheets(clock=vt.clock)
    sid = fake.create("t")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake.install(rsps)
        client = SheetsHTTPClient(requests.Session, clock=vt.clock, sleep=vt.sleep, rng=lambda: 1.0)
        yield fake, sid, client, vt, rsps


@pytest.mark.parametrize("method,url,kind", [
    ("GET", f"{BASE}/ID", "spreadsheets.get"),
    ("POST", f"{BASE}/ID:batchUpdate", "spreadsheets.batchUpdate"),
    ("GET", f"{BASE}/ID/values:batchGet?ranges=A", "values.batchGet"),
    ("POST", f"{BASE}/ID/values:batchUpdate", "values.batchUpdate"),
    ("POST", f"{BASE}/ID/values/%27Tab%27%21A1%3AB:append", "values.append"),
    ("PUT", f"{BASE}/ID/values/Tab%21A1", "values.update"),
    ("GET", f"{BASE}/ID/values/Tab%21A1", "values.get"),
    ("POST", BASE, "spreadsheets.create"),
])
def test_requests_are_named_by_kind(method, url, kind):
    assert kind_of(method, url) == kind


def test_every_request_carries_a_timeout(api):
    fake, sid, client, vt, rsps = api
    client.get_metadata(sid, "sheets.properties")
    client.batch_get(sid, ["Sheet1"])
    assert [c.request.req_kwargs["timeout"] for c in rsps.calls] == [(5.0, 30.0), (5.0, 30.0)]
    client.set_timeout(None)  # gspread's "wait forever" is refused
    assert client.timeout == (5.0, 30.0)


def test_reads_retry_a_bounded_number_of_times_then_raise_storage_unavailable(api):
    fake, sid, client, vt, rsps = api
    fake.inject("503", times=100)
    with pytest.raises(StorageUnavailable) as err:
        client.batch_get(sid, ["Sheet1"])
    assert "after 5 attempts" in str(err.value) and len(rsps.calls) == 5
    waits = vt.slept
    assert 0 < waits <= RetryPolicy().budget  # jittered exponential, capped


def test_a_429_is_retried_even_for_an_append_but_a_5xx_on_an_append_is_not_repeated_blindly(api):
    fake, sid, client, vt, rsps = api
    body = [{"appendCells": {"sheetId": 0, "rows": [{"values": [{"userEnteredValue": {"stringValue": "x"}}]}],
                             "fields": "userEnteredValue"}}]
    fake.inject("429", times=2)
    client.spreadsheet_batch_update(sid, body, idempotent=False)
    assert fake.values(sid, "Sheet1") == [["x"]]
    fake.inject("500")
    with pytest.raises(AmbiguousWrite):
        client.spreadsheet_batch_update(sid, body, idempotent=False)
    assert fake.values(sid, "Sheet1") == [["x"]]  # not sent twice
    fake.inject("500")
    client.spreadsheet_batch_update(sid, [{"updateCells": {"start": {"sheetId": 0, "rowIndex": 0, "columnIndex": 0},
                                                           "rows": [{"values": [{"userEnteredValue": {"stringValue": "y"}}]}],
                                                           "fields": "userEnteredValue"}}], idempotent=True)
    assert fake.values(sid, "Sheet1") == [["y"]]


def test_client_errors_are_not_retried_and_say_what_google_said(api):
    fake, sid, client, vt, rsps = api
    with pytest.raises(SheetsApiError) as err:
        client.batch_get(sid, ["'Nope'!A1"])
    assert err.value.status == 400 and err.value.bad_range and len(rsps.calls) == 1


def test_the_emulator_host_gets_plain_http_and_anonymous_credentials():
    client = client_for("127.0.0.1:8765")
    assert client.base_url == "http://127.0.0.1:8765"
    assert client.url(f"{BASE}/ID") == "http://127.0.0.1:8765/v4/spreadsheets/ID"
    from google.auth.credentials import AnonymousCredentials
    assert isinstance(client.session.credentials, AnonymousCredentials)


def test_a_failed_coalesced_write_fails_every_caller_in_it():
    started, release = threading.Event(), threading.Event()
    calls = []

    def flush(items):
        calls.append(list(items))
        if len(calls) == 1:
            started.set()
            release.wait(5)
            return [f"ok {i}" for i in items]
        raise StorageUnavailable("quota")

    c = Coalescer(flush, window=0)
    results, errors = {}, {}

    def submit(i):
        try:
            results[i] = c.submit([i])
        except StorageUnavailable as e:
            errors[i] = str(e)
    first = threading.Thread(target=submit, args=(0,))
    first.start()
    started.wait(5)
    others = [threading.Thread(target=submit, args=(i,)) for i in range(1, 6)]
    for t in others:
        t.start()
    while len(c.queue) < 5:
        threading.Event().wait(0.01)
    release.set()
    for t in [first, *others]:
        t.join(5)
    assert results == {0: ["ok 0"]} and sorted(errors) == [1, 2, 3, 4, 5]
    assert calls == [[0], [1, 2, 3, 4, 5]]  # five callers, one write
