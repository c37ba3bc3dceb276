"""A commit on the Sheets store while staff reorder the sheet under it.

`GoogleWorkbook.commit` writes at the positions of the job's `read_all` (one atomic batchUpdate),
then reads the touched tabs back and repairs what a staff sort, insert or delete in between made
of it. Whatever staff do — before the write, between the write and its check, between a check and
its repair — and whether or not the write's reply is lost, the end state is what the commit meant:

- every case not deleted is there exactly once, in its tab (a moved one in its new tab);
- each updated case holds the values written, each moved case its row plus the move's values;
- no other case's cells changed, no blank row holds anything, deleted cases are gone;
- each Log entry is recorded once, and the commit returns (it never gives up on staff edits).
"""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import example, given, settings as hsettings, strategies as st

from functions.services.jobs import sweep_job
from functions.stores.port import Changes, LogEntry, Move, NewCase
from functions.stores.google.repair import norm
from tests.adapters.test_store_contract import row
from tests.fakes import meta_payloads as mp
from tests.fakes.fake_sheets import col_letter
from tests.fakes.clock import WIB
from tests.reliability.harness import examples, google_stack, reset

AT = datetime(2026, 11, 2, 8, 0, tzinfo=WIB)
HOMES = ["PUTR", "DLH", "DISHUB"]  # where the cases are appended
TARGETS = ["PUTR", "DLH", "DISHUB", "TRIASE"]  # where moves may take them
WORDS = ["jalan", "sampah", "lampu", "air", "banjir", "jembatan", "parit", "pohon"]
SORT_KEYS = ["text", "sla", "note", "reply_sent_at", "received_at", "ticket_id"]
UPDATES = [  # system cells only: what the sweep, the reminders and the replies write
    lambda t: {"sla": "Terlambat"},
    lambda t: {"note": f"x-{t}"},
    lambda t: {"sla": "Tepat Waktu", "responded_at": AT + timedelta(minutes=30)},
    lambda t: {"reply_sent_at": AT + timedelta(hours=1), "note": ""},
    lambda t: {"reply_sent_at": AT + timedelta(hours=1, microseconds=500_400)},  # datetime.now() has them
]


def move_values(ticket: str) -> dict:
    return {"note": f"diteruskan {ticket}", "sla": "Berjalan", "forward_to": "",
            "forwarded_at": AT + timedelta(hours=2), "deadline": AT + timedelta(hours=50)}


@pytest.fixture
def stack(tmp_path, clock):
    with google_stack(tmp_path, clock) as s:
        yield s


# -- staff in the browser ---------------------------------------------------------------------------

ARRIVED: list[tuple[str, str, dict]] = []  # (ticket, tab, cells) of cases intake added meanwhile


def staff_do(stack, action) -> None:
    """One structural edit: ("sort", tab, column, descending), ("insert", tab, where, how many) or
    ("delete", tab, which blank row, _) — or ("arrive", tab, _, _): a new case lands below the
    last row, as intake on another instance appends it. Staff never delete a case in these tests."""
    kind, tab, a, b = action
    fake, sid, title = stack.fake, stack.env.spreadsheet_id, stack.env.title(tab)
    sheet = fake.sheet(sid, title)
    if kind == "arrive":
        ticket, text = f"KMC-261102-N{len(ARRIVED):04d}", f"kasus baru {len(ARRIVED)}"
        r = sheet.last_data_row() + 2  # 1-based: the row below the last one holding data
        for key, value in (("ticket_id", ticket), ("text", text)):
            fake.staff_set(sid, title, f"{col_letter(stack.env.col(key))}{r}", value, respect_protection=False)
        ARRIVED.append((ticket, tab, {"ticket_id": ticket, "text": text}))
    elif kind == "sort":
        fake.staff_sort(sid, title, stack.env.col(SORT_KEYS[a % len(SORT_KEYS)]), reverse=bool(b))
    elif kind == "insert":
        fake.staff_insert_rows(sid, title, 2 + a % (sheet.last_data_row() + 2), 1 + b % 2)
    else:
        blanks = [r + 1 for r in range(1, sheet.last_data_row() + 1) if not sheet.row_has_data(r)]
        if blanks:
            fake.staff_delete_row(sid, title, blanks[a % len(blanks)])


def before_requests(stack, schedule: dict[int, list]) -> list[int]:
    """Run staff actions just before the n-th Sheets request from now (0 = the next one)."""
    fake, real, count, fired = stack.fake, stack.fake.handle, [0], []

    def handle(method, url, body):
        for action in schedule.get(count[0], []):
            staff_do(stack, action)
            fired.append(count[0])
        count[0] += 1
        return real(method, url, body)

    fake.handle = handle
    return fired


def stop_staff(stack) -> None:
    stack.fake.__dict__.pop("handle", None)


# -- what is in the sheet ---------------------------------------------------------------------------

def placements(stack) -> dict[str, list[str]]:
    """ticket -> every tab holding it (a ticket twice in one tab is listed twice)."""
    out: dict[str, list[str]] = {}
    for opd in stack.env.schema.opds:
        for ticket in stack.env.tickets(opd.key):
            if ticket:
                out.setdefault(ticket, []).append(opd.key)
    return out


def stray_rows(stack) -> list[tuple[str, int, list]]:
    """Rows holding something but no ticket (staff never type into blank rows in these tests)."""
    out = []
    for opd in stack.env.schema.opds:
        values = stack.fake.values(stack.env.spreadsheet_id, opd.title)
        for r, cells in enumerate(values[1:], start=2):
            if any(str(c).strip() for c in cells) and not str(cells[0]).strip():
                out.append((opd.key, r, cells))
    return out


def log_count(stack, kind: str, key: str) -> int:
    values = stack.fake.values(stack.env.spreadsheet_id, "Log Sistem")
    return sum(1 for cells in values[1:] if cells[:2] == [kind, key])


def same(a, b) -> bool:
    if isinstance(a, datetime) and isinstance(b, datetime):
        return abs(a - b) < timedelta(milliseconds=1)  # the sheet keeps milliseconds
    return norm(a) == norm(b)


def differing(actual: dict, expected: dict) -> dict:
    return {k: (actual.get(k), expected.get(k)) for k in expected if not same(actual.get(k), expected.get(k))}


def assert_end_state(stack, *, read: dict[str, tuple[str, dict]], expect: dict[str, tuple[str, dict]]) -> None:
    """`read`: what the job read (ticket -> tab, row); `expect`: the cases that should be there
    and their full rows; every other ticket of `read` should be gone."""
    where = placements(stack)
    should = {t: [tab] for t, (tab, _) in expect.items()}
    assert {t: where.get(t, []) for t in set(where) | set(should) if where.get(t, []) != should.get(t, [])} == {}, \
        "a case is lost, duplicated, misplaced or not deleted (ticket -> tabs holding it)"
    assert stray_rows(stack) == [], "the write left cells in a row without a ticket"
    check = stack.env.workbook()
    now = {r["ticket_id"]: r for rows in check.read_all().values() for r in rows}
    assert check.last_problems == []
    wrong = {t: differing(now[t], cells) for t, (_, cells) in expect.items() if differing(now[t], cells)}
    assert wrong == {}, "a case does not hold what the commit meant (ticket -> {column: (is, should)})"
    assert set(read) - set(expect) == {t for t in read if t not in now}


# -- the property -------------------------------------------------------------------------------------

action = st.tuples(st.sampled_from(["sort", "sort", "insert", "delete", "arrive"]), st.sampled_from(TARGETS),
                   st.integers(0, 20), st.integers(0, 1))
case_spec = st.tuples(st.sampled_from(WORDS), st.sampled_from(["Berjalan", "Terlambat", "Tepat Waktu"]),
                      st.booleans(),
                      st.one_of(st.tuples(st.just("update"), st.integers(0, len(UPDATES) - 1)),
                                st.tuples(st.just("move"), st.sampled_from(TARGETS)),
                                st.just(("delete",)), st.just(("keep",))))


@hsettings(max_examples=examples(25, 250))
# Two stamps in the same second (09:00:00 and 09:00:00.500 as the sheet keeps them) for two cases
# a staff sort swapped before the write: each landed in the other's row, and a check comparing
# date-times to the second took the swapped stamps for the meant ones.
@example(homes=["PUTR", "DLH"],
         cases=[(0, ("jalan", "Berjalan", False, ("update", 3))), (0, ("air", "Berjalan", False, ("update", 4))),
                (1, ("sampah", "Berjalan", False, ("keep",))), (1, ("pohon", "Berjalan", False, ("keep",)))],
         staff_before=[("sort", "PUTR", SORT_KEYS.index("ticket_id"), 1)], staff_during=[], fault=None, n_log=0)
@given(homes=st.lists(st.sampled_from(HOMES), min_size=2, max_size=3, unique=True),
       cases=st.lists(st.tuples(st.integers(0, 2), case_spec), min_size=4, max_size=8),
       staff_before=st.lists(action, min_size=1, max_size=4),
       staff_during=st.lists(st.tuples(st.integers(1, 4), action), max_size=4),
       fault=st.sampled_from([None, None, None, "applied_timeout", "late_apply", "timeout"]),
       n_log=st.integers(0, 2))
def test_a_commit_lands_as_meant_whatever_staff_do_to_the_rows(stack, homes, cases, staff_before, staff_during,
                                                                fault, n_log):
    reset(stack)
    ARRIVED.clear()
    env = stack.env
    new = []
    for i, (home, (word, sla, noted, _)) in enumerate(cases):
        ticket = f"KMC-261102-T{i:04d}"
        cells = row(ticket, f"{word} rusak ({37 * i % 11})", minutes=7 * i, sla=sla, note=f"n{i}" if noted else "")
        new.append(NewCase(homes[home % len(homes)], cells))
    env.workbook().append(new)

    job = env.workbook()  # a cold instance, as Cloud Scheduler starts one
    read = {r["ticket_id"]: (tab, r) for tab, rows in job.read_all().items() for r in rows}
    assert len(read) == len(new)

    changes = Changes(log=[LogEntry("reminder", f"chaos:{k}", AT, "x") for k in range(n_log)])
    expect: dict[str, tuple[str, dict]] = {}
    for i, (_, (*_, op)) in enumerate(cases):
        ticket = f"KMC-261102-T{i:04d}"
        tab, cells = read[ticket]
        if op[0] == "update":
            values = UPDATES[op[1]](ticket)
            changes.update(ticket, values, tab)
            expect[ticket] = (tab, {**cells, **values})
        elif op[0] == "move" and op[1] != tab:
            changes.moves.append(Move(ticket, op[1], move_values(ticket)))
            expect[ticket] = (op[1], {**cells, **move_values(ticket)})
        elif op[0] == "delete":
            changes.deletes.append(ticket)
        else:
            expect[ticket] = (tab, cells)

    for a in staff_before:  # after the job's read, before its write
        staff_do(stack, a)
    schedule: dict[int, list] = {}
    for n, a in staff_during:  # between the write and its check, a check and its repair, ...
        schedule.setdefault(n, []).append(a)
    if fault:
        stack.fake.inject(fault, only=("spreadsheets.batchUpdate",))
    before_requests(stack, schedule)
    try:
        report = job.commit(changes)
    finally:
        stop_staff(stack)
        stack.fake.faults.clear()

    assert report.moved == {m.ticket_id: True for m in changes.moves}
    assert report.deleted == len(changes.deletes) and report.missing == []
    assert report.written == len(changes.updates)
    expect.update({ticket: (tab, cells) for ticket, tab, cells in ARRIVED})  # never lost nor touched
    assert_end_state(stack, read=read, expect=expect)
    for e in changes.log:
        assert log_count(stack, e.kind, e.key) == 1, e


# -- deterministic cases ------------------------------------------------------------------------------

A, B, C, D, E = (f"KMC-261102-{c * 5}" for c in "ABCDE")


def five_cases(stack) -> tuple:
    env = stack.env
    env.workbook().append([NewCase("PUTR", row(A, "air mati", sla="Terlambat")), NewCase("PUTR", row(B, "banjir")),
                           NewCase("PUTR", row(C, "jalan rusak", note="catatan C")), NewCase("PUTR", row(D, "lampu")),
                           NewCase("DLH", row(E, "sampah"))])
    job = env.workbook()
    read = {r["ticket_id"]: (tab, r) for tab, rows in job.read_all().items() for r in rows}
    return job, read


@pytest.mark.parametrize("fault", ["applied_timeout", "late_apply", "timeout", "reset", "500"])
def test_a_lost_reply_on_a_commit_with_moves_and_log_entries_writes_each_once(stack, fault):
    job, read = five_cases(stack)
    log = [LogEntry("reminder", "PUTR:2026-11-02", AT, "3 aduan"), LogEntry("reply", "wamid.X1", AT, A)]
    changes = Changes(moves=[Move(A, "DLH", move_values(A)), Move(C, "DINKES", move_values(C))],
                      deletes=[D], log=log)
    changes.update(B, {"sla": "Terlambat", "note": "x-B"}, "PUTR")
    stack.fake.inject(fault, only=("spreadsheets.batchUpdate",))

    report = job.commit(changes)

    stack.env.time.sleep(10)  # anything still pending at the fake lands
    assert report.moved == {A: True, C: True} and report.deleted == 1 and report.logged == 2
    assert_end_state(stack, read=read, expect={
        A: ("DLH", {**read[A][1], **move_values(A)}), C: ("DINKES", {**read[C][1], **move_values(C)}),
        B: ("PUTR", {**read[B][1], "sla": "Terlambat", "note": "x-B"}), E: read[E]})
    assert [log_count(stack, e.kind, e.key) for e in log] == [1, 1]
    assert all(stack.env.workbook().log_has(e.kind, e.key) for e in log)


def test_a_lost_reply_while_staff_sort_the_tab_still_lands_each_case_once(stack):
    job, read = five_cases(stack)
    changes = Changes(moves=[Move(B, "DLH", move_values(B))], deletes=[D],
                      log=[LogEntry("reminder", "PUTR:sort", AT, "")])
    changes.update(C, {"sla": "Terlambat"}, "PUTR")
    stack.fake.inject("late_apply", only=("spreadsheets.batchUpdate",))
    # the write is sent, staff sort while it is still on its way, it lands, then the check reads
    fired = before_requests(stack, {0: [("sort", "PUTR", SORT_KEYS.index("text"), 1)],
                                    1: [("insert", "PUTR", 1, 1), ("sort", "PUTR", SORT_KEYS.index("sla"), 0)]})
    try:
        report = job.commit(changes)
    finally:
        stop_staff(stack)
    assert fired == [0, 1, 1]
    assert report.moved == {B: True} and report.deleted == 1
    assert_end_state(stack, read=read, expect={
        A: read[A], B: ("DLH", {**read[B][1], **move_values(B)}),
        C: ("PUTR", {**read[C][1], "sla": "Terlambat"}), E: read[E]})
    assert log_count(stack, "reminder", "PUTR:sort") == 1


@pytest.mark.parametrize("fault", [None, "applied_timeout", "timeout"])
def test_a_commit_of_log_entries_and_nothing_left_to_change_in_the_tabs_returns(stack, fault):
    """A move already made (a job run again) and an update of a case no longer in the sheet,
    with the job's Log entry: nothing to write in the tabs, the Log entry is written, and the
    commit returns instead of giving up."""
    job, read = five_cases(stack)
    gone = "KMC-261030-ZZZZZ"  # archived by another job since
    changes = Changes(moves=[Move(E, "DLH", {})], log=[LogEntry("digest", "2026-11-02", AT, "")])
    changes.update(gone, {"sla": "Terlambat"}, "PUTR")
    if fault:
        stack.fake.inject(fault, only=("spreadsheets.batchUpdate",))
    report = job.commit(changes)
    assert report.moved == {E: True} and report.missing == [gone] and report.logged == 1
    assert log_count(stack, "digest", "2026-11-02") == 1
    assert_end_state(stack, read=read, expect=read)


def test_a_no_op_move_beside_a_stamp_costs_one_write_and_one_check(stack):
    job, read = five_cases(stack)
    changes = Changes(moves=[Move(E, "DLH", {})])  # already there: nothing to do for it
    changes.update(A, {"note": "x-A"}, "PUTR")
    stack.fake.reset_counts()
    report = job.commit(changes)
    assert report.moved == {E: True} and report.written == 1
    assert dict(stack.fake.counts) == {"spreadsheets.batchUpdate": 1, "values.batchGet": 1}
    assert_end_state(stack, read=read, expect={**{t: read[t] for t in (B, C, D, E)},
                                               A: ("PUTR", {**read[A][1], "note": "x-A"})})


@pytest.mark.parametrize("micro", [500_400, 499_700, 999_800, 0])
def test_a_stamp_with_sub_second_precision_is_confirmed_by_the_check(stack, micro):
    """Jobs stamp `datetime.now()`; the sheet keeps milliseconds. The check must still see that
    the stamp landed, for every second (even and odd) and microsecond."""
    job, read = five_cases(stack)
    for second in (0, 1):
        stamp = datetime(2026, 11, 2, 9, 0, second, micro, tzinfo=WIB)
        changes = Changes()
        changes.update(B, {"reply_sent_at": stamp, "responded_at": stamp}, "PUTR")
        report = job.commit(changes)
        assert report.written == 1
        got = stack.env.workbook().find(B).row
        assert abs(got["reply_sent_at"] - stamp) < timedelta(milliseconds=1)


def test_a_repair_that_lands_in_a_moved_cases_new_row_is_put_right(stack):
    """Staff sort the receiving tab twice: before the write, and again between the check and
    the repair. The repair's stamp then hits the row the move just appended there."""
    five_cases(stack)
    env = stack.env
    env.workbook().append([NewCase("DLH", row(f"KMC-261102-{c * 5}", w)) for c, w in (("F", "banjir"), ("G", "pohon"))])
    job = env.workbook()
    read = {r["ticket_id"]: (tab, r) for tab, rows in job.read_all().items() for r in rows}  # DLH: E, F, G
    changes = Changes(moves=[Move(A, "DLH", move_values(A))])
    changes.update(E, {"sla": "Terlambat", "note": "x-E"}, "DLH")
    by_text, by_ticket = ("sort", "DLH", SORT_KEYS.index("text"), 0), ("sort", "DLH", SORT_KEYS.index("ticket_id"), 0)
    fired = before_requests(stack, {0: [by_text], 2: [by_ticket]})
    try:
        job.commit(changes)
    finally:
        stop_staff(stack)
    assert fired == [0, 2]
    expect = {t: v for t, v in read.items() if t != A}
    expect[A] = ("DLH", {**read[A][1], **move_values(A)})
    expect[E] = ("DLH", {**read[E][1], "sla": "Terlambat", "note": "x-E"})
    assert_end_state(stack, read=read, expect=expect)


# -- the sweep on the Google stack ----------------------------------------------------------------------

SWEEP_TEXTS = ["Jalan rusak di Desa Sandai Kiri", "Jembatan rusak di Desa Pemahan",  # PUTR, in this order
               "Drainase tersumbat di Jalan Merdeka", "Sampah menumpuk di depan Pasar Kota sudah seminggu"]


def test_a_sweep_whose_tab_staff_sort_while_the_replies_go_out_stamps_the_right_rows(stack, clock):
    app = stack.client()
    senders = {}
    for i, text in enumerate(SWEEP_TEXTS):
        sender = f"6281777{i:06d}"
        body, headers = mp.signed(mp.whatsapp([mp.wa_text(text, sender=sender, at=clock())]))
        (ticket,) = app.post("/meta", data=body, headers=headers).json["tickets"]
        senders[ticket] = sender
        clock.advance(minutes=3)
    env, sid = stack.env, stack.env.spreadsheet_id
    tab = {t: tabs[0] for t, tabs in stack.tabs_of().items()}
    jalan, jembatan, drainase, sampah = senders
    assert [tab[t] for t in senders] == ["PUTR", "PUTR", "PUTR", "DLH"]
    answered = [jalan, drainase, sampah]
    for ticket in answered:  # the OPDs answer three of them
        title = env.title(tab[ticket])
        r = stack.fake.find_row(sid, title, ticket)
        for key, value in (("response", f"Sudah ditangani ({ticket[-5:]})."), ("status", "Selesai")):
            stack.fake.staff_set(sid, title, f"{'ABCDEFGHIJKLMNOPQRSTU'[env.col(key)]}{r}", value)
    clock.advance(minutes=15)
    before = {r["ticket_id"]: r for rows in env.workbook().read_all().values() for r in rows}
    texts_before = {t: len(stack.graph.texts_to(s)) for t, s in senders.items()}

    # While the sweep sends the answers (after its read, before its commit), staff sort PUTR by
    # Isi Aduan, Z to A: Jembatan goes up into the row the sweep read Jalan (answered) in.
    rows_at_sort, real_send = [], stack.graph.handle

    def sending(method, path, headers, body):
        if not rows_at_sort:
            stack.fake.staff_sort(sid, "PUTR", env.col("text"), reverse=True)
            rows_at_sort.append({t: stack.fake.find_row(sid, "PUTR", t) for t in (jalan, jembatan, drainase)})
        return real_send(method, path, headers, body)

    stack.graph.handle = sending
    try:
        report = sweep_job(stack.instance())
    finally:
        stack.graph.__dict__.pop("handle", None)
    now = clock()
    assert rows_at_sort == [{jembatan: 2, jalan: 3, drainase: 4}]  # was Jalan 2, Jembatan 3
    assert sorted(report.replies.sent) == sorted(answered)

    after = {r["ticket_id"]: r for rows in env.workbook().read_all().values() for r in rows}
    assert sorted(after) == sorted(before) and {t: tabs[0] for t, tabs in stack.tabs_of().items()} == tab
    for ticket in answered:
        assert after[ticket]["reply_sent_at"] == now and after[ticket]["responded_at"] == now, ticket
        assert set(differing(after[ticket], before[ticket])) == {"reply_sent_at", "responded_at", "sla"}, ticket
        assert after[ticket]["sla"] == "Tepat Waktu"
    assert differing(after[jembatan], before[jembatan]) == {}  # the row the stamps were aimed at
    assert stray_rows(stack) == []
    # Each citizen got the answer once, and the next sweep (stamps where they belong) sends nothing.
    assert {t: len(stack.graph.texts_to(s)) - texts_before[t] for t, s in senders.items()} == \
        {t: int(t in answered) for t in senders}
    clock.advance(minutes=15)
    assert sweep_job(stack.instance()).replies.sent == []
