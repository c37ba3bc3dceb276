"""`repair.plan_repair` (stores/google/repair.py) on hand-made snapshots: what a commit's check read plans to put right.

Each test is one thing a staff sort, insert or delete between a job's read and its write can do
to a positional write, and the repair it must lead to — touching only the commit's own damage.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from functions.stores.google.repair import Intent, Place, Snapshot, plan_repair
from tests.fakes.clock import WIB

AT = datetime(2026, 11, 2, 8, 0, tzinfo=WIB)
A, B, C, M, X, D = (f"KMC-261102-{c * 5}" for c in "ABCMXD")


def case(ticket: str, **cells) -> dict:
    return {"ticket_id": ticket, "text": f"aduan {ticket[-1]}", "received_at": AT, "sla": "Berjalan",
            "note": "", "reply_sent_at": None, **cells}


def snap(**tabs: list[dict | None]) -> Snapshot:
    """Tabs as rows under the header (row 1 is index 1); None is a blank row."""
    s = Snapshot(tabs=set(tabs))
    for tab, rows in tabs.items():
        for i, row in enumerate(rows, start=1):
            if row is not None:
                s.add(tab, i, row)
    return s


def intent(*, updates=None, moves=None, deletes=(), wrote=None, shrunk=()) -> Intent:
    it = Intent(updates=dict(updates or {}), moves=dict(moves or {}), deletes=set(deletes), shrunk=set(shrunk))
    for tab, values in (wrote or {}).items():
        for v in values:
            it.wrote(tab, v)
    return it


def test_an_update_that_landed_in_another_cases_row_is_rewritten_and_the_other_row_put_back():
    before = snap(PUTR=[case(A), case(B, note="sudah dihubungi")])
    # Staff sorted B above A before the write: A's cells went into B's row.
    after = snap(PUTR=[case(B, sla="Terlambat", note="x-A"), case(A)])
    meant = {"sla": "Terlambat", "note": "x-A"}
    plan = plan_repair(before, after, intent(updates={A: meant}, wrote={"PUTR": [meant]}))

    assert plan.cells == {
        Place("PUTR", 2): meant,  # A's row, where it is now
        Place("PUTR", 1): {"sla": "Berjalan", "note": "sudah dihubungi"},  # B's own values back
    }
    assert plan.put_back == [B]
    assert not plan.deletes and not plan.appends and not plan.restored and not plan.missing


def test_stamps_in_the_same_second_that_landed_in_each_others_rows_are_swapped_back():
    """Replies go out within a second of each other; the sheet keeps milliseconds. A staff sort
    swapped A and B before the write, so A's 09:00:00.000 went into B's row and B's 09:00:00.500
    into A's. The check must see both as wrong (to the second, with round half to even, both
    were 09:00:00 and the swap stayed). The API reads a date-time back as a double, the day's
    fraction in full (https://developers.google.com/sheets/reference/rest/v4/DateTimeRenderOption,
    SERIAL_NUMBER); the adapter keeps it to the millisecond (`from_serial`)."""
    a_at, b_at = AT + timedelta(hours=1), AT + timedelta(hours=1, milliseconds=500)
    before = snap(PUTR=[case(A), case(B)])
    after = snap(PUTR=[case(B, reply_sent_at=a_at), case(A, reply_sent_at=b_at)])
    plan = plan_repair(before, after, intent(updates={A: {"reply_sent_at": a_at}, B: {"reply_sent_at": b_at}},
                                             wrote={"PUTR": [{"reply_sent_at": a_at}, {"reply_sent_at": b_at}]}))
    assert plan.cells == {Place("PUTR", 2): {"reply_sent_at": a_at}, Place("PUTR", 1): {"reply_sent_at": b_at}}
    assert plan.put_back == []  # both cells are rewritten as meant, none merely put back


def test_a_stamp_of_ours_in_another_cases_row_is_put_back_even_within_the_same_second():
    """B's own stamp (read before) and the one this commit wrote for A differ by half a second:
    B's cell holds ours, not its own, and goes back."""
    b_own, ours = AT + timedelta(hours=1), AT + timedelta(hours=1, milliseconds=500)
    before = snap(PUTR=[case(A), case(B, reply_sent_at=b_own)])
    after = snap(PUTR=[case(B, reply_sent_at=ours), case(A)])
    meant = {"reply_sent_at": ours}
    plan = plan_repair(before, after, intent(updates={A: meant}, wrote={"PUTR": [meant]}))
    assert plan.cells == {Place("PUTR", 2): {"reply_sent_at": ours}, Place("PUTR", 1): {"reply_sent_at": b_own}}
    assert plan.put_back == [B]


def test_only_the_cells_the_commit_wrote_are_put_back():
    before = snap(PUTR=[case(A), case(B), case(C)])
    meant = {"sla": "Terlambat"}
    # A's write landed; B's sla holds a value this commit never wrote (another job judged it),
    # C's note was changed too: both are someone else's doing and stay as they are.
    after = snap(PUTR=[case(A, sla="Terlambat"), case(B, sla="Tepat Waktu"), case(C, note="dari job lain")])
    plan = plan_repair(before, after, intent(updates={A: meant}, wrote={"PUTR": [meant]}))
    assert not plan
    assert plan.cells == {} and plan.put_back == []


def test_a_cell_put_back_is_only_the_one_the_commit_overwrote_not_the_whole_row():
    before = snap(PUTR=[case(A), case(B)])
    meant = {"sla": "Terlambat"}
    # B got A's sla (ours) AND a new note from someone else: only the sla goes back.
    after = snap(PUTR=[case(B, sla="Terlambat", note="catatan lain"), case(A)])
    plan = plan_repair(before, after, intent(updates={A: meant}, wrote={"PUTR": [meant]}))
    assert plan.cells[Place("PUTR", 1)] == {"sla": "Berjalan"}
    assert plan.cells[Place("PUTR", 2)] == meant


def test_a_move_whose_delete_removed_another_case_re_adds_it_and_deletes_the_leftover_source_row():
    x_row = case(X, note="catatan X")
    before = snap(PUTR=[case(M), x_row, case(C)], DLH=[case(D)])
    # Staff sorted X to the top before the write: the delete meant for M's row 1 removed X,
    # and M (now at row 1) stayed behind, while its copy reached DLH.
    moved = {"note": "Diteruskan dari PUTR", "sla": "Berjalan"}
    after = snap(PUTR=[case(M), case(C)], DLH=[case(D), case(M, **moved)])
    plan = plan_repair(before, after, intent(moves={M: ("DLH", moved)}, shrunk={"PUTR"}))

    assert plan.deletes == {Place("PUTR", 1)}  # M's leftover, where it is now
    assert plan.appends == [("PUTR", x_row)]  # X back, whole, as it was read
    assert plan.restored == [X]
    assert plan.moved == {M: True}
    assert not plan.cells and not plan.missing


def test_a_case_deleted_by_mistake_comes_back_with_this_commits_cells_for_it():
    before = snap(PUTR=[case(M), case(X)], DLH=[])
    meant = {"sla": "Terlambat"}
    after = snap(PUTR=[case(M)], DLH=[case(M)])  # the delete hit X; X's stamp went with it
    plan = plan_repair(before, after, intent(updates={X: meant}, moves={M: ("DLH", {})},
                                             wrote={"PUTR": [meant]}, shrunk={"PUTR"}))
    assert plan.appends == [("PUTR", case(X, sla="Terlambat"))]
    assert plan.restored == [X] and plan.missing == []  # not reported missing: it is being restored
    assert plan.deletes == {Place("PUTR", 1)}


def test_a_moved_case_that_reached_its_tab_twice_keeps_one_row():
    before = snap(PUTR=[case(M)], DLH=[case(D)])
    # A lost reply: the append landed, and the retry appended it again.
    after = snap(PUTR=[], DLH=[case(D), case(M), case(M)])
    plan = plan_repair(before, after, intent(moves={M: ("DLH", {})}, shrunk={"PUTR"}))
    assert plan.deletes == {Place("DLH", 3)}
    assert plan.appends == [] and not plan.cells and plan.restored == []


def test_a_move_that_did_not_land_is_appended_from_what_was_read():
    before = snap(PUTR=[case(M)], DLH=[])
    values = {"note": "diteruskan"}
    after = snap(PUTR=[case(M)], DLH=[])  # the write never happened
    plan = plan_repair(before, after, intent(moves={M: ("DLH", values)}, shrunk={"PUTR"}))
    assert plan.appends == [("DLH", case(M, note="diteruskan"))]
    assert plan.deletes == {Place("PUTR", 1)} and plan.moved == {M: True}


def test_cells_of_ours_in_a_moved_cases_new_row_are_put_back_to_the_moved_row():
    """A repair round's stamp can land in the row a move just appended (staff sorted the
    receiving tab again): that row goes back to what was read plus the move's cells."""
    before = snap(PUTR=[case(M, note="n")], DLH=[case(D)])
    moved = {"note": "diteruskan", "sla": "Berjalan"}
    meant = {"sla": "Terlambat", "note": "x-D"}
    after = snap(PUTR=[], DLH=[case(M, **meant), case(D)])  # D's cells went into M's new row
    plan = plan_repair(before, after, intent(updates={D: meant}, moves={M: ("DLH", moved)},
                                             wrote={"DLH": [meant]}, shrunk={"PUTR"}))
    assert plan.cells == {Place("DLH", 1): {"sla": "Berjalan", "note": "diteruskan"}, Place("DLH", 2): meant}
    assert plan.put_back == [M] and not plan.appends and not plan.deletes


def test_a_move_done_before_the_commit_into_a_tab_the_check_did_not_read_is_left_alone():
    """The case was already in its new tab (a job run again), so nothing was written there and
    the check did not read that tab: not seeing the case there is no reason to add it again."""
    before = snap(PUTR=[case(A)], DLH=[case(M)])
    meant = {"sla": "Terlambat"}
    after = snap(PUTR=[case(A, **meant)])
    plan = plan_repair(before, after, intent(updates={A: meant}, moves={M: ("DLH", {})}, wrote={"PUTR": [meant]}))
    assert not plan and plan.appends == [] and plan.deletes == set()


def test_a_case_meant_to_be_deleted_that_is_still_there_is_deleted_where_it_is_now():
    before = snap(PUTR=[case(A), case(B)])
    after = snap(PUTR=[None, case(B), case(A)])  # staff inserted a row, the delete hit a blank row
    plan = plan_repair(before, after, intent(deletes={A}, shrunk={"PUTR"}))
    assert plan.deletes == {Place("PUTR", 3)}
    assert plan.appends == [] and plan.restored == []


def test_an_update_of_a_case_gone_from_an_untouched_tab_is_reported_missing_not_re_added():
    before = snap(PUTR=[case(A)])
    plan = plan_repair(before, snap(PUTR=[]), intent(updates={A: {"sla": "Terlambat"}}))
    assert plan.missing == [A]
    assert not plan and plan.appends == []


def test_nothing_to_repair_is_an_empty_plan():
    before = snap(PUTR=[case(A), case(B)], DLH=[case(D)])
    meant = {"sla": "Terlambat", "reply_sent_at": AT}
    after = snap(PUTR=[case(B), case(A, **meant)], DLH=[case(D), case(M, note="diteruskan")])
    before.add("PUTR", 3, case(M))
    plan = plan_repair(before, after, intent(updates={A: meant}, moves={M: ("DLH", {"note": "diteruskan"})},
                                             wrote={"PUTR": [meant]}, shrunk={"PUTR"}))
    assert not plan
    assert plan.cells == {} and plan.deletes == set() and plan.appends == []
    assert plan.restored == [] and plan.put_back == [] and plan.missing == []
    assert plan.moved == {M: True}
