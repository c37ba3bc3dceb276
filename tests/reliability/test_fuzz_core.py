"""Property tests of the core: whatever a citizen types or staff put in a cell, nothing is lost,
nothing crashes, and no row lacks a ticket number."""
from __future__ import annotations

import re
from datetime import timedelta

from hypothesis import given, strategies as st

from functions.bootstrap import build
from functions.config import Settings
from functions.model import InvalidComplaint
from functions.services.jobs import daily_job, sweep_job
from functions.stores.port import CellUpdate
from functions.text import clean_text
from functions.services.intake import intake
from tests.conftest import complaint
from tests.fakes.clock import FakeClock

TICKET = re.compile(r"^KMC-\d{6}-[0-9A-HJKMNP-TV-Z]{5}$")

any_text = st.one_of(
    st.text(max_size=300),
    st.lists(st.sampled_from(list("=+-@\t\r\n \x00\u202e\u200b'\"") + ["jalan", "rusak", "sampah"]),
             max_size=40).map("".join),
    st.from_regex(r"[=+\-@][A-Z]{2,8}\(.{0,20}\)", fullmatch=True),
)


def fresh(tmp_path_factory, clock):
    path = tmp_path_factory.mktemp("fuzz")
    svc = build(Settings.from_env({"KMC_DATA_DIR": str(path)}), clock=clock)
    svc.workbook.bootstrap()
    return svc


@given(text=any_text)
def test_any_text_is_either_refused_cleanly_or_stored_verbatim_after_cleaning(tmp_path_factory, clock, text):
    svc = fresh(tmp_path_factory, clock)
    try:
        expected = clean_text(text)
    except InvalidComplaint:
        expected = None
    try:
        receipt = intake(svc, complaint(text, clock))
    except InvalidComplaint as e:
        assert expected is None and e.message  # a message a person can read
        assert not any(svc.workbook.read_all().values())
        return
    row = svc.workbook.find(receipt.ticket_id).row
    assert TICKET.match(row["ticket_id"]) and row["text"] == expected


staff_value = st.one_of(st.text(max_size=60), st.sampled_from(["Selesai", "selesai ", "SELESAI", "Sudah", "-", "=1/0",
                                                               "PUTR", "putr", "Dinas PU", ""]))


@given(values=st.lists(st.tuples(st.sampled_from(["status", "response", "responder", "forward_to", "location"]),
                                 staff_value), min_size=1, max_size=6),
       hours=st.floats(min_value=0, max_value=120))
def test_whatever_staff_type_the_jobs_keep_every_case(tmp_path_factory, clock, values, hours):
    start = FakeClock(clock())
    svc = fresh(tmp_path_factory, start)
    tickets = [intake(svc, complaint(t, start)).ticket_id for t in ("jalan rusak parah", "sampah menumpuk di pasar")]
    for key, value in values:
        svc.workbook.update([CellUpdate(tickets[0], {key: value})], staff=True)
    start.advance(hours=hours)
    sweep_job(svc)
    daily_job(svc)
    sweep_job(svc)
    stored = [r["ticket_id"] for rows in svc.workbook.read_all().values() for r in rows]
    assert sorted(stored) == sorted(tickets)
    assert all(TICKET.match(t) for t in stored)
