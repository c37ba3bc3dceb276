"""Public reads never cost a Sheets request each: the status page and the Open311 GETs are
served from a per-instance snapshot refreshed at most once a minute, one refresh in flight."""
from __future__ import annotations

import threading
import time

import pytest

from functions.model import StorageUnavailable
from functions.services.public_reads import Snapshot
from tests.fakes import meta_payloads as mp
from tests.reliability.harness import OPEN311_KEY, google_stack


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_concurrent_visitors_share_one_refresh_and_it_is_reused_for_a_minute():
    calls = []
    gate = threading.Event()

    def read_all():
        calls.append(1)
        gate.wait(2)  # a slow Sheets read: everyone else arrives meanwhile
        return {"PUTR": [{"ticket_id": "KMC-261102-AAAAA"}]}

    clock = Clock()
    snap = Snapshot(read_all, max_age=60.0, clock=clock)
    found = []
    threads = [threading.Thread(target=lambda: found.append(snap.find("KMC-261102-AAAAA"))) for _ in range(30)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    gate.set()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(found) == 30 and all(f is not None and f.tab == "PUTR" for f in found)
    clock.now = 59.0
    snap.find("KMC-261102-AAAAA")
    assert len(calls) == 1
    clock.now = 61.0
    snap.find("KMC-261102-AAAAA")
    assert len(calls) == 2


def test_a_failed_refresh_keeps_serving_the_previous_snapshot_and_does_not_hammer_sheets():
    answers = [{"PUTR": [{"ticket_id": "KMC-261102-AAAAA"}]}]
    calls = []

    def read_all():
        calls.append(1)
        if not answers:
            raise StorageUnavailable("503")
        return answers.pop()

    clock = Clock()
    snap = Snapshot(read_all, max_age=60.0, clock=clock)
    assert snap.find("KMC-261102-AAAAA") is not None
    clock.now = 120.0
    assert snap.find("KMC-261102-AAAAA") is not None  # Sheets is down: yesterday's answer beats none
    assert snap.find("KMC-261102-AAAAA") is not None
    assert len(calls) == 2  # one failed refresh, then a pause before the next try


def test_with_no_snapshot_yet_a_failed_refresh_is_an_outage():
    def read_all():
        raise StorageUnavailable("503")

    with pytest.raises(StorageUnavailable):
        Snapshot(read_all, max_age=60.0, clock=Clock()).find("KMC-261102-AAAAA")


def test_many_anonymous_open311_gets_and_status_pages_cost_at_most_one_sheets_read(tmp_path, clock):
    with google_stack(tmp_path, clock) as stack:
        svc = stack.instance()
        svc.workbook.read_all()  # the instance is warm (sheet ids known), as after any job or intake
        client = stack.client(svc)
        reply = client.post("/open311/v2/requests.json", data={
            "api_key": OPEN311_KEY, "service_code": "jalan-rusak", "address_string": "Jl. Poros Sukabangun",
            "description": "Jalan berlubang besar di depan SD 5"})
        ticket = reply.get_json()[0]["service_request_id"]
        stack.fake.reset_counts()
        for _ in range(20):
            assert client.get("/open311/v2/requests.json").status_code == 200
            assert client.get(f"/open311/v2/requests/{ticket}.json").status_code == 200
            assert client.get(f"/form/status?tiket={ticket}").status_code == 200
        assert stack.fake.read_requests <= 1 and stack.fake.write_requests == 0


def test_a_ticket_not_landed_yet_is_being_recorded_not_unknown(tmp_path, clock):
    with google_stack(tmp_path, clock) as stack:
        svc = stack.instance()
        client = stack.client(svc)
        stack.fake.inject("503", times=10 ** 6)  # Sheets down: the snapshot cannot even be read
        body, headers = mp.signed(mp.whatsapp([mp.wa_text("Jalan rusak di Desa Sandai", at=clock())]))
        accepted = client.post("/meta", data=body, headers=headers)
        ticket = accepted.get_json()["tickets"][0]
        page = client.get(f"/form/status?tiket={ticket}")  # still down: no snapshot can be read
        assert page.status_code == 200 and "Sedang dicatat" in page.get_data(as_text=True)
        api = client.get(f"/open311/v2/requests/{ticket}.json")
        assert api.status_code == 200 and api.get_json()[0]["status"] == "open"
        stack.fake.faults.clear()
        assert client.get("/form/status?tiket=KMC-261102-ZZZZZ").status_code == 404
