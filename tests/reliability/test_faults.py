"""Fault injection: the Sheets API and the Graph API fail in every way they do in production,
instances crash at the worst moments, and Meta redelivers until it gets a 200.

The doors only accept into the durable intake queue, so Meta gets its 200 at the first delivery
whatever Sheets does; the writer (the drain after each request, `Stack.settle` for a restarted
writer) is where the faults and crashes bite. Property: every complaint ends up stored exactly
once (one row, one ticket, in one tab), and the citizen is acknowledged at most once.
"""
from __future__ import annotations

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from functions import tickets
from functions.model import StorageUnavailable
from functions.server import make_app
from functions.services.jobs import daily_job, sweep_job
from tests.fakes import meta_payloads as mp
from tests.reliability.harness import Crash, examples, assert_sheet_invariants, google_stack, reset

SHEET_FAULTS = ["429", "500", "503", "timeout", "reset", "applied_timeout"]
GRAPH_FAULTS = ["429", "500", "503", "timeout", "reset", "applied_timeout"]
REQUEST_KINDS = [(), ("spreadsheets.batchUpdate",), ("values.append",), ("values.batchGet",)]
CRASH_POINTS = [None, "after_contact", "after_sheet", "after_ack"]
TEXTS = ["Jalan di desa kami rusak parah dan berlubang, mohon diperbaiki",
         "Sampah menumpuk di depan pasar sudah seminggu tidak diangkut",
         "Lampu jalan PJU mati di Jalan Gajah Mada, gelap sekali malam hari",
         "Air PDAM tidak mengalir tiga hari di Kelurahan Sampit"]


class CrashAfter:
    """Wraps a port: `method` does its work, then the process dies (once)."""

    def __init__(self, inner, method: str, when=lambda *a, **k: True):
        self.inner, self.method, self.when, self.armed = inner, method, when, True

    def __getattr__(self, name):
        attr = getattr(self.inner, name)
        if name != self.method:
            return attr

        def call(*args, **kw):
            result = attr(*args, **kw)
            if self.armed and self.when(*args, **kw):
                self.armed = False
                raise Crash(f"process killed after {name}")
            return result
        return call


def is_ack(to, text, channel, **kw) -> bool:
    return "Nomor tiket:" in text


def crash_overrides(stack, point: str | None) -> dict:
    svc = stack.instance()
    if point == "after_contact":
        return {"contacts": CrashAfter(svc.contacts, "put")}
    if point == "after_sheet":
        return {"workbook": CrashAfter(svc.workbook, "append")}
    if point == "after_ack":
        return {"messenger": CrashAfter(svc.messenger, "send_text", is_ack)}
    return {}


sheet_fault = st.tuples(st.sampled_from(SHEET_FAULTS), st.integers(1, 8), st.sampled_from(REQUEST_KINDS))
graph_fault = st.tuples(st.sampled_from(GRAPH_FAULTS), st.integers(1, 3))
delivery = st.fixed_dictionaries({
    "messages": st.integers(1, 3),
    "sheet_faults": st.lists(sheet_fault, max_size=2),
    "graph_faults": st.lists(graph_fault, max_size=2),
    "crash": st.sampled_from(CRASH_POINTS),
})


@pytest.fixture
def stack(tmp_path, clock):
    with google_stack(tmp_path, clock) as s:
        yield s


@hsettings(max_examples=examples(20, 200))
@given(deliveries=st.lists(delivery, min_size=1, max_size=4))
def test_every_complaint_is_stored_exactly_once_and_acknowledged_at_most_once(stack, clock, deliveries):
    reset(stack)
    expected: dict[str, str] = {}  # sender -> ticket
    n = 0
    for d in deliveries:
        messages = []
        for _ in range(d["messages"]):
            n += 1
            sender = f"62812000{n:05d}"
            m = mp.wa_text(f"{TEXTS[n % len(TEXTS)]} ({n})", sender=sender, at=clock())
            messages.append(m)
            expected[sender] = tickets.make_ticket("KMC", clock(), m["id"])
        body, headers = mp.signed(mp.whatsapp(messages))
        for kind, times, only in d["sheet_faults"]:
            stack.fake.inject(kind, times=times, only=only)
        for kind, times in d["graph_faults"]:
            stack.graph.inject(kind, times=times)
        app = stack.client(stack.instance(**crash_overrides(stack, d["crash"])))
        reply = app.post("/meta", data=body, headers=headers)
        assert reply.status_code == 200  # accepted at the first delivery, whatever Sheets is doing
        stack.fake.faults.clear()  # outages end
        if reply.crashed or reply.drained.retry_later:
            stack.settle()  # a new writer process; the crashed one's memory is gone, its queue is not
        assert app.post("/meta", data=body, headers=headers).get_json()["actions"] == ["duplicate"] * d["messages"]

    stored = stack.tabs_of()
    assert sorted(stored) == sorted(expected.values()), "a complaint was lost or a stranger row appeared"
    assert all(len(tabs) == 1 for tabs in stored.values())
    for sender, ticket in expected.items():
        acks = [t for t in stack.graph.texts_to(sender) if "Nomor tiket:" in t]
        assert len(acks) <= 1, f"{sender} acknowledged {len(acks)} times"
        assert all(ticket in a for a in acks)
    assert sorted(set(stack.contact_tickets())) == sorted(expected.values())  # the private record too
    assert_sheet_invariants(stack)


@pytest.mark.parametrize("point", ["after_contact", "after_sheet", "after_ack"])
def test_a_writer_crash_loses_nothing_and_leaves_one_row_and_at_most_one_acknowledgement(stack, clock, point):
    sender = "6281200000777"
    message = mp.wa_text("Jembatan di Desa Pemahan patah, warga tidak bisa menyeberang", sender=sender, at=clock())
    body, headers = mp.signed(mp.whatsapp([message]))
    app = stack.client(stack.instance(**crash_overrides(stack, point)))
    reply = app.post("/meta", data=body, headers=headers)
    assert reply.status_code == 200 and isinstance(reply.crashed, Crash)  # answered, then the writer died
    stack.settle()  # the restarted writer takes the job over
    ticket = tickets.make_ticket("KMC", clock(), message["id"])
    assert stack.tickets() == [ticket]
    acks = stack.graph.texts_to(sender)
    # after_contact: the rerun files the case and acknowledges it; after_sheet: the case was
    # filed before the crash, so the rerun finds it and says nothing; after_ack: already said.
    assert len(acks) == (0 if point == "after_sheet" else 1)
    for _ in range(3):  # Meta may deliver the same message again, days later
        assert stack.client().post("/meta", data=body, headers=headers).json["actions"] == ["duplicate"]
    assert stack.tickets() == [ticket] and len(stack.graph.texts_to(sender)) == len(acks)


def test_a_429_storm_never_reaches_meta_and_every_message_lands_once_after_it(stack, clock):
    senders = [f"628130000{i:04d}" for i in range(5)]
    messages = [mp.wa_text(f"Banjir setinggi lutut di Kecamatan Delta Pawan ({i})", sender=s, at=clock())
                for i, s in enumerate(senders)]
    body, headers = mp.signed(mp.whatsapp(messages))
    stack.fake.inject("429", times=200)  # longer than one request's retry budget
    app = stack.client()
    first = app.post("/meta", data=body, headers=headers)
    assert first.status_code == 200 and first.drained.retry_later  # accepted; the writer waits
    assert stack.tickets() == [] and stack.graph.sent == []  # nobody told "stored" before it is
    stack.fake.faults.clear()
    stack.settle()
    assert len(stack.tickets()) == 5 == len(set(stack.tickets()))
    assert all(len([t for t in stack.graph.texts_to(s) if "Nomor tiket:" in t]) == 1 for s in senders)


@pytest.mark.parametrize("fault", GRAPH_FAULTS)
def test_a_failing_graph_api_never_costs_the_complaint_nor_sends_twice(stack, clock, fault):
    sender = "6281200000888"
    message = mp.wa_text("Puskesmas Sandai tutup siang hari, warga tidak dilayani", sender=sender, at=clock())
    body, headers = mp.signed(mp.whatsapp([message]))
    stack.graph.inject(fault, times=5)
    app = stack.client()
    first = app.post("/meta", data=body, headers=headers)
    assert first.status_code == 200 and first.stored == ["created"]  # stored: no redelivery needed
    assert app.post("/meta", data=body, headers=headers).json["actions"] == ["duplicate"]
    assert len(stack.tickets()) == 1
    assert len(stack.graph.texts_to(sender)) <= 1


def test_the_web_form_during_an_outage_gives_the_ticket_and_keeps_one_case(stack, clock):
    from tests.entrypoints.test_web_form import Browser, filled, ticket_of

    browser = Browser(make_app(stack.instance()))
    form = browser.open_form()
    stack.fake.inject("503", times=200, only=("spreadsheets.batchUpdate",))
    down = browser.post("/form", {**form, **filled()})
    assert down.status_code == 200  # the citizen has the ticket; the queue holds the case
    ticket = ticket_of(down)
    stack.fake.faults.clear()
    twice = browser.post("/form", {**form, **filled()})  # a double click
    assert ticket_of(twice) == ticket
    stack.settle()
    assert stack.tickets() == [ticket]
    assert_sheet_invariants(stack)


def test_daily_and_sweep_under_sheet_faults_mark_each_case_once(stack, clock):
    app = stack.client()
    for i in range(4):
        body, headers = mp.signed(mp.whatsapp([mp.wa_text(f"Jalan rusak di Desa Sandai Kiri nomor {i}",
                                                          sender=f"62812111{i:05d}", at=clock())]))
        assert app.post("/meta", data=body, headers=headers).status_code == 200
    clock.advance(hours=50)
    for fault in SHEET_FAULTS:
        stack.fake.inject(fault, times=2)
        try:
            daily_job(stack.instance(), clock())
        except StorageUnavailable:  # a job may give up; Cloud Scheduler runs it again
            pass
        stack.fake.faults.clear()
        sweep_job(stack.instance(), clock())
        clock.advance(minutes=15)
    sla = stack.env.schema.column_keys.index("sla")
    assert [cells[sla] for _, cells in stack.rows()] == ["Terlambat"] * 4
    digests = [p for p in (stack.settings.outbox_dir).glob("*.eml") if "Rekap" in p.read_text(errors="replace")]
    assert len(digests) == 1  # retried runs on the same day send the leaders one digest
    assert_sheet_invariants(stack)
