"""The typed Case: the codec reads a row once, the business rules are its methods."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from functions import sla
from functions.case import NOTE_MAX, WITHDRAWN_MARK, Case, add_note, as_cases, case_from_row, case_to_row
from functions.digest.data import build_digest
from functions.model import Sla
from tests.fakes.clock import WIB

NOW = datetime(2026, 11, 5, 8, 0, tzinfo=WIB)
RECEIVED = NOW - timedelta(hours=50)
DUE = RECEIVED + timedelta(hours=48)


def case(**cells) -> Case:
    row = {"ticket_id": "KMC-261103-AB3X9", "received_at": RECEIVED, "deadline": DUE, "status": "Baru",
           "response": "", "responded_at": None, "sla": "Berjalan", "note": "", "forward_to": "", **cells}
    return case_from_row("PUTR", row)


def test_the_codec_reads_typed_fields_and_gives_the_row_back_unchanged():
    row = {"ticket_id": " KMC-261103-AB3X9 ", "received_at": RECEIVED, "deadline": "rusak", "status": "Diproses",
           "note": None, "extra_column": "kept"}
    c = case_from_row("DLH", row)
    assert (c.tab, c.ticket_id, c.received_at, c.deadline, c.status, c.note) == (
        "DLH", "KMC-261103-AB3X9", RECEIVED, None, "Diproses", "")
    assert case_to_row(c) == row and c["extra_column"] == "kept" and c == row  # the read-only mapping view
    with pytest.raises(TypeError):
        c["status"] = "Selesai"  # noqa - a Case never changes
    assert c.with_cells({"status": "Selesai"}).status == "Selesai" and c.status == "Diproses"


def test_a_naive_datetime_is_not_trusted_as_a_moment():
    assert case(deadline=DUE.replace(tzinfo=None)).deadline is None


@pytest.mark.parametrize("cells, answered, owes", [
    ({}, False, True),
    ({"response": "Sudah diperbaiki"}, True, False),
    ({"responded_at": NOW}, True, False),  # an erased answer still counts as answered
    ({"note": f"x | {WITHDRAWN_MARK} pada 03/11 09.00."}, False, False),
    ({"note": f"lama\n{WITHDRAWN_MARK} pada 03/11 09.00."}, False, False),  # the old newline form
])
def test_answered_and_owed(cells, answered, owes):
    c = case(**cells)
    assert (c.answered, c.owes_answer) == (answered, owes)


@pytest.mark.parametrize("cells, overdue", [
    ({}, True),  # 50 h after it arrived, 2 h past its deadline
    ({"deadline": NOW + timedelta(hours=1)}, False),
    ({"deadline": NOW + timedelta(hours=1), "sla": "Terlambat"}, True),  # marked by the daily stays
    ({"response": "Sudah"}, False),
    ({"note": WITHDRAWN_MARK}, False),  # the citizen withdrew it: owed nothing
    ({"note": WITHDRAWN_MARK, "sla": "Terlambat"}, False),
])
def test_overdue_at(cells, overdue):
    assert case(**cells).overdue_at(NOW) is overdue


@pytest.mark.parametrize("cells, due_soon", [
    ({"deadline": NOW + timedelta(hours=12)}, True),  # exactly at the horizon counts
    ({"deadline": NOW + timedelta(hours=12, minutes=1)}, False),
    ({"deadline": NOW}, False),  # due now is not "within": it is due
    ({"deadline": NOW + timedelta(hours=3), "forward_to": "DINKES"}, False),
    ({"deadline": NOW + timedelta(hours=3), "note": WITHDRAWN_MARK}, False),
    ({"deadline": NOW + timedelta(hours=3), "sla": "Terlambat"}, False),
    ({"deadline": NOW + timedelta(hours=3), "response": "Sudah"}, False),
])
def test_due_within(cells, due_soon):
    assert case(**cells).due_within(NOW, 12) is due_soon


@pytest.mark.parametrize("responded, previous, verdict", [
    (DUE, "Berjalan", Sla.ON_TIME),  # exactly 48 h is on time
    (DUE + timedelta(seconds=1), "Berjalan", Sla.LATE),
    (DUE + timedelta(hours=5), "Terlambat", Sla.LATE),
    (None, "Terlambat", Sla.OVERDUE),  # the daily's mark stays until an answer comes
    (None, "", Sla.RUNNING),
    (None, "Beres", Sla.RUNNING),  # free text in the SLA cell is not a verdict
])
def test_verdict(responded, previous, verdict):
    assert case(sla=previous).verdict(NOW, DUE, responded) == verdict


def test_the_deadline_falls_back_to_the_last_arrival_when_the_cell_is_unreadable():
    forwarded = NOW - timedelta(hours=3)
    assert case(deadline="").due_at(48, sla.deadline) == RECEIVED + timedelta(hours=48)
    assert case(deadline="", forwarded_at=forwarded).due_at(48, sla.deadline) == forwarded + timedelta(hours=48)


@pytest.mark.parametrize("status, free_text, closed", [
    ("Baru", False, False), ("Selesai", False, True), ("Bukan  Wewenang", False, True),
    ("selesai", False, False), ("Beres", True, False), ("", False, False),
])
def test_status_free_text_counts_as_open(status, free_text, closed):
    c = case(status=status)
    assert (c.free_text_status, c.closed) == (free_text, closed)


def test_add_note_is_the_one_way_to_write_a_note():
    assert add_note("", "A") == "A"
    assert add_note("A", "B") == "A | B"
    assert add_note("A | B", "B") == "A | B"  # once
    assert add_note(None, "  ") == ""
    long = add_note("x" * NOTE_MAX, "terbaru")
    assert len(long) == NOTE_MAX and long.startswith("…") and long.endswith(" | terbaru")


def test_as_cases_converts_in_place_so_the_steps_of_one_job_share_their_read():
    tabs = {"PUTR": [{"ticket_id": "A"}], "DLH": []}
    rows = tabs["PUTR"]
    as_cases(tabs)
    assert tabs["PUTR"] is rows and isinstance(rows[0], Case) and rows[0].tab == "PUTR"


def test_a_withdrawn_case_is_neither_overdue_nor_judged_in_the_digest():
    tabs = {"PUTR": [case(ticket_id="KMC-261103-AAAAA"), case(ticket_id="KMC-261103-BBBBB", note=WITHDRAWN_MARK)]}
    digest = build_digest(tabs, {"PUTR": "PUTR"}, NOW)
    (line,) = [x for x in digest.lines if x.key == "PUTR"]
    assert [r.ticket_id for r in digest.overdue] == ["KMC-261103-AAAAA"]
    assert (line.total, line.overdue, line.running, line.judged) == (2, 1, 0, 1)


def test_a_withdrawn_case_is_not_judged_unanswered_in_the_monthly_evaluation():
    from functions.services.monthly import evaluate_month

    tabs = {"PUTR": [case(ticket_id="KMC-261103-AAAAA"), case(ticket_id="KMC-261103-BBBBB", note=WITHDRAWN_MARK),
                     case(ticket_id="KMC-261103-CCCCC", response="Sudah", responded_at=DUE)]}
    month = RECEIVED.date().replace(day=1)
    evaluation = evaluate_month(tabs, {"PUTR": "PUTR"}, month, WIB, now=NOW)
    (line,) = evaluation.lines
    assert (line["cases"], line["on_time"], line["unanswered"], line["on_time_pct"]) == (3, 1, 1, 50.0)
