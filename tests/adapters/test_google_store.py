"""The gspread adapter under what production does to it: staff, quotas, errors, lost replies.

Request counts are asserted (the budgets of DESIGN.md), never times.
"""
from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest

from functions.config import Settings
from functions.model import Contact, StorageUnavailable
from functions.stores.google import GoogleContactBook, GoogleWorkbook, from_serial, to_serial
from functions.stores.port import CellUpdate, Changes, ContactRecord, Move, NewCase
from functions.stores.google.http import RetryPolicy
from tests.adapters.sheets_env import SERVICE_ACCOUNT, sheets_env
from tests.adapters.test_store_contract import T0, row
from tests.fakes.clock import WIB
from tests.fakes.fake_sheets import FakeSheets

A, B, C = "KMC-261102-AAAAA", "KMC-261102-BBBBB", "KMC-261102-CCCCC"


@pytest.fixture
def env():
    with sheets_env() as e:
        yield e
        assert e.fake.formulas_written == [], "a formula reached the sheet"


@pytest.fixture
def wb(env):
    w = env.workbook()
    w.bootstrap()
    return w


def putr(env):
    return env.fake.values(env.spreadsheet_id, "PUTR")


# -- dates and text ---------------------------------------------------------------------------
def test_dates_are_real_date_cells_in_wib_and_text_is_never_parsed(env, wb):
    wb.append([NewCase("PUTR", row(A, "=SUM(A1:A9)", contact="+6281234567890"))])
    sheet = env.fake.sheet(env.spreadsheet_id, "PUTR")
    cell = sheet.cell(1, env.col("received_at"))
    assert cell.v == pytest.approx(to_serial(T0)) and isinstance(cell.v, float)
    assert cell.v == pytest.approx(46328 + 8 / 24)  # 2026-11-02 08:00 WIB as a serial number
    assert sheet.fmt_of(1, env.col("received_at"))["type"] == "DATE_TIME"
    shown = putr(env)[1]
    assert shown[env.col("received_at")] == "2026-11-02 08:00"  # what staff see, sortable
    assert shown[env.col("text")] == "=SUM(A1:A9)" and shown[env.col("contact")] == "+6281234567890"
    assert sheet.cell(1, env.col("text")).f is None
    assert from_serial(to_serial(T0)) == T0


# -- bootstrap ----------------------------------------------------------------------------------
def test_bootstrap_builds_every_tab_with_validation_formats_and_protection(env, wb):
    fake, sid = env.fake, env.spreadsheet_id
    for opd in env.schema.opds:
        sheet = fake.sheet(sid, opd.title)
        assert sheet.frozen_rows == 1
        assert putr(env)[0] == [c.header for c in env.schema.columns]
        kinds = {env.schema.columns[v["range"]["startColumnIndex"]].key: v["rule"] for v in sheet.validations}
        assert set(kinds) == {"status", "forward_to"}
        assert all(r["strict"] is False for r in kinds.values())  # free text allowed, flagged by Sheets
        assert [v["userEnteredValue"] for v in kinds["status"]["condition"]["values"]] == list(env.schema.choices("status"))
        assert sheet.col_widths[env.col("text")] == env.schema.column("text").width
        (rule,) = sheet.conditional_formats
        assert rule["booleanRule"]["condition"]["values"][0]["userEnteredValue"] == '=$Q2="Terlambat"'
        assert all(pr["editors"]["users"] == [SERVICE_ACCOUNT] for pr in sheet.protected_ranges)
    log_tab = fake.sheet(sid, "Log Sistem")
    assert log_tab.hidden and log_tab.protected_ranges


def test_staff_can_type_in_staff_columns_only(env, wb):
    wb.append([NewCase("PUTR", row(A))])
    fake, sid = env.fake, env.spreadsheet_id
    fake.staff_set(sid, "PUTR", "L2", "Sudah kami tambal")  # Tanggapan
    fake.staff_set(sid, "PUTR", "K2", "Selesai")  # Status
    for a1 in ("A2", "F2", "Q2", "A1"):  # ticket, citizen text, SLA, header
        with pytest.raises(PermissionError):
            fake.staff_set(sid, "PUTR", a1, "x")
    assert wb.find(A).row["response"] == "Sudah kami tambal"


def test_second_bootstrap_sends_no_write_and_says_so(env, wb):
    env.fake.reset_counts()
    done = wb.bootstrap()
    assert env.fake.write_requests == 0 and env.fake.read_requests == 2
    assert done == []


def test_bootstrap_repairs_a_renamed_tab_and_header_without_touching_data(env, wb):
    wb.append([NewCase("PUTR", row(A))])
    fake, sid = env.fake, env.spreadsheet_id
    fake.staff_rename_tab(sid, "PUTR", "PU (jangan diubah)")
    fake.staff_set(sid, "PU (jangan diubah)", "Q1", "SLA?", respect_protection=False)  # an owner renames a header
    assert wb.read_all()["PUTR"][0]["sla"] == "Berjalan"  # still understood, by position
    done = env.workbook().bootstrap()
    assert any("dikembalikan" in d for d in done) and any("dipulihkan" in d for d in done)
    assert putr(env)[0][env.col("sla")] == "Status SLA"
    assert putr(env)[1][0] == A
    assert len(fake.sheet(sid, "PUTR").conditional_formats) == 1  # replaced, not piled up


def test_bootstrap_upgrades_a_tab_missing_new_columns(env):
    fake, sid = env.fake, env.spreadsheet_id
    old = [c.header for c in env.schema.columns[:-2]]  # a sheet made before the last two columns existed
    fake.book(sid).sheets[0].title = "PUTR"
    for i, h in enumerate(old):
        fake.staff_set(sid, "PUTR", f"{chr(65 + i)}1", h, respect_protection=False)
    fake.staff_set(sid, "PUTR", "A2", A, respect_protection=False)
    done = env.workbook().bootstrap()
    assert any("ditambahkan" in d for d in done)
    assert putr(env)[0] == [c.header for c in env.schema.columns]
    assert env.workbook().find(A).tab == "PUTR"


# -- staff between read and write -------------------------------------------------------------
def test_free_text_in_a_dropdown_is_kept_and_reported(env, wb):
    wb.append([NewCase("PUTR", row(A)), NewCase("PUTR", row(B))])
    env.fake.staff_set(env.spreadsheet_id, "PUTR", "K2", "sudah beres pak")
    env.fake.staff_set(env.spreadsheet_id, "PUTR", "N3", "Dinas PU")
    rows = {r["ticket_id"]: r for r in wb.read_all()["PUTR"]}
    assert rows[A]["status"] == "sudah beres pak" and rows[B]["forward_to"] == "Dinas PU"
    assert any("sudah beres pak" in p for p in wb.last_problems)
    assert any("Dinas PU" in p for p in wb.last_problems)
    assert wb.update([CellUpdate(A, {"sla": "Terlambat"})]).written == 1


def test_header_renamed_between_read_and_write_still_writes_the_right_column(env, wb):
    wb.append([NewCase("PUTR", row(A)), NewCase("PUTR", row(B))])
    wb.read_all()
    env.fake.staff_set(env.spreadsheet_id, "PUTR", "S1", "Catatan", respect_protection=False)
    report = wb.update([CellUpdate(B, {"note": "pengingat terkirim"})])
    assert report.written == 1 and any("Catatan" in p for p in report.problems)
    assert putr(env)[2][env.col("note")] == "pengingat terkirim" and putr(env)[1][env.col("note"):] in ([], [""])


def test_rows_without_ticket_are_reported_not_lost(env, wb):
    wb.append([NewCase("PUTR", row(A))])
    env.fake.staff_set(env.spreadsheet_id, "PUTR", "L5", "catatan staf tanpa tiket")
    rows = wb.read_all()["PUTR"]
    assert [r["ticket_id"] for r in rows] == [A]
    assert any("tanpa nomor tiket" in p for p in wb.last_problems)
    wb.append([NewCase("PUTR", row(B))])  # appends land after the staff line, never over it
    assert env.tickets("PUTR") == [A, "", "", "", B]
    assert putr(env)[4][env.col("response")] == "catatan staf tanpa tiket"


def test_a_renamed_tab_between_jobs_reloads_metadata_once(env, wb):
    wb.append([NewCase("PUTR", row(A))])
    env.fake.staff_rename_tab(env.spreadsheet_id, "PUTR", "Pekerjaan Umum")
    assert [r["ticket_id"] for r in wb.read_all()["PUTR"]] == [A]
    assert wb.update([CellUpdate(A, {"sla": "Terlambat"})]).written == 1


def test_a_ticket_pasted_twice_is_reported_and_written_once(env, wb):
    wb.append([NewCase("PUTR", row(A))])
    env.fake.staff_set(env.spreadsheet_id, "PUTR", "A3", A, respect_protection=False)
    report = wb.update([CellUpdate(A, {"note": "x"})])
    assert report.written == 1 and any("muncul 2 kali" in p for p in report.problems)
    assert [r["ticket_id"] for r in wb.read_all()["PUTR"]] == [A]


# -- quotas and errors -------------------------------------------------------------------------
def test_a_short_429_storm_is_ridden_out_with_backoff(env, wb):
    env.fake.inject("429", times=3)
    assert wb.append([NewCase("PUTR", row(A))]) == [True]
    assert env.tickets("PUTR") == [A]
    assert env.time.slept > 0


def test_a_long_429_storm_gives_up_with_storage_unavailable_and_nothing_half_written(env, wb):
    env.fake.inject("429", times=50)
    with pytest.raises(StorageUnavailable):
        wb.append([NewCase("PUTR", row(A)), NewCase("DLH", row(B))])
    assert env.tickets("PUTR") == [] and env.tickets("DLH") == []
    env.fake.faults.clear()
    assert wb.append([NewCase("PUTR", row(A)), NewCase("DLH", row(B))]) == [True, True]  # the redelivery
    assert env.tickets("PUTR") == [A] and env.tickets("DLH") == [B]


@pytest.mark.parametrize("fault", ["500", "503", "timeout", "reset", "applied_timeout"])
def test_a_failed_append_lands_exactly_once(env, wb, fault):
    wb.append([NewCase("PUTR", row(A))])
    env.fake.inject(fault, only=("spreadsheets.batchUpdate",))
    assert wb.append([NewCase("PUTR", row(B)), NewCase("DLH", row(C))]) == [True, True]
    assert env.tickets("PUTR") == [A, B] and env.tickets("DLH") == [C]


def test_an_append_applied_seconds_after_its_reply_was_lost_is_not_written_twice(env, wb):
    env.fake.inject("late_apply", only=("spreadsheets.batchUpdate",), delay=3.0)
    assert wb.append([NewCase("PUTR", row(A))]) == [True]
    env.time.sleep(10)
    wb.read_all()  # anything still pending at the fake has landed by now
    assert env.tickets("PUTR") == [A]


@pytest.mark.parametrize("fault", ["500", "timeout", "reset"])
def test_reads_and_updates_retry_through_errors(env, wb, fault):
    wb.append([NewCase("PUTR", row(A))])
    env.fake.inject(fault, times=2)
    assert wb.update([CellUpdate(A, {"sla": "Terlambat"})]).written == 1
    env.fake.inject(fault, times=2)
    assert wb.read_all()["PUTR"][0]["sla"] == "Terlambat"


def test_a_lost_reply_on_move_and_delete_does_not_touch_another_row(env, wb):
    wb.append([NewCase("PUTR", row(A)), NewCase("PUTR", row(B)), NewCase("PUTR", row(C))])
    env.fake.inject("applied_timeout", only=("spreadsheets.batchUpdate",))
    assert wb.move(A, "DLH", {"note": "diteruskan"}) is True
    assert env.tickets("PUTR") == [B, C] and env.tickets("DLH") == [A]
    env.fake.inject("applied_timeout", only=("spreadsheets.batchUpdate",))
    assert wb.delete([B]) == 1
    assert env.tickets("PUTR") == [C]


def test_errors_that_retrying_cannot_fix_fail_fast(env):
    wb = GoogleWorkbook(env.client(), "no-such-spreadsheet", env.schema, clock=env.time.clock, sleep=env.time.sleep)
    with pytest.raises(StorageUnavailable) as err:
        wb.read_all()
    assert "404" in str(err.value)
    assert env.fake.rejected[404] == 1  # asked once, not retried


def test_client_pacing_keeps_a_busy_instance_under_the_write_quota():
    with sheets_env(write_quota_per_minute=60) as env:
        wb = env.workbook(client=env.client(writes_per_minute=50, retry=RetryPolicy(attempts=2)))
        wb.bootstrap()
        for i in range(120):  # two minutes' worth of sequential complaints
            wb.append([NewCase("PUTR", row(f"KMC-261102-{i:05d}"))])
        assert env.fake.rejected[429] == 0
        assert len(env.tickets("PUTR")) == 120


# -- request budgets -------------------------------------------------------------------------
def test_warm_intake_costs_one_write_and_no_metadata_read(env, wb):
    contacts = env.contacts()
    wb.append([NewCase("PUTR", row(A))])  # warm-up: metadata cached
    contacts.put(ContactRecord(A, "WhatsApp", Contact("Budi", "081234567890"), T0))
    env.fake.reset_counts()
    for i in range(10):
        t = f"KMC-261102-{i:05d}"
        wb.append([NewCase("DLH" if i % 2 else "PUTR", row(t))])
        contacts.put(ContactRecord(t, "WhatsApp", Contact("Budi", "081234567890"), T0))
    assert env.fake.counts["spreadsheets.batchUpdate"] == 10  # one per complaint to the OPD sheet
    assert env.fake.counts["values.append"] == 10  # one per complaint to the contact sheet
    assert env.fake.counts["spreadsheets.get"] == 0 and env.fake.read_requests == 0


def test_jobs_spend_a_constant_number_of_requests_whatever_the_tabs_and_rows(env, wb):
    def job_cost(n_rows: int) -> int:
        cases = [NewCase(o.key, row(f"KMC-{n_rows:02d}{i:04d}-{o.key[:3]}")) for o in env.schema.opds for i in range(n_rows)]
        wb.append(cases)
        env.fake.reset_counts()
        tabs = wb.read_all()
        wb.update([CellUpdate(r["ticket_id"], {"sla": "Terlambat"}) for rows in tabs.values() for r in rows])
        wb.log_has("digest", "2026-11-02")
        return env.fake.read_requests + env.fake.write_requests

    assert job_cost(1) == job_cost(20) == 3  # batchGet, batchGet (locate), batchUpdate; the Log came with read_all


def test_a_cold_job_instance_reads_no_metadata_and_logs_in_one_request(env, wb):
    from functions.stores.port import LogEntry

    wb.append([NewCase(o.key, row(f"KMC-261102-{o.key[:5]:0<5}")) for o in env.schema.opds])
    env.fake.reset_counts()
    job = env.workbook()  # Cloud Scheduler starts a fresh instance
    tabs = job.read_all()
    job.update([CellUpdate(r["ticket_id"], {"sla": "Terlambat"}) for rows in tabs.values() for r in rows])
    assert not job.log_has("digest", "2026-11-02")  # answered from what read_all brought
    new = job.log_add_many([LogEntry("reminder", f"PUTR:{i}", T0) for i in range(40)] + [LogEntry("digest", "2026-11-02", T0)])
    assert new == 41 and job.log_add_many([LogEntry("digest", "2026-11-02", T0)]) == 0
    # read_all, the commit's one batchUpdate and its check, one append: sheet ids came from the Log
    assert dict(env.fake.counts) == {"values.batchGet": 2, "spreadsheets.batchUpdate": 1, "values.append": 1}
    assert env.workbook().log_has("digest", "2026-11-02")


def test_redelivery_checks_read_the_ticket_columns_unless_the_index_is_fresh(env, wb):
    wb.append([NewCase("PUTR", row(A))])
    other = env.workbook()  # another instance, where Meta redelivers
    env.fake.reset_counts()
    assert other.find(A).tab == "PUTR"  # caught: the miss was checked against the sheet
    assert other.find(B) is None and env.fake.read_requests == 2  # locate + row; B answered from the fresh index
    trusting = env.workbook(index_max_age=600)
    trusting.find(B)
    env.fake.reset_counts()
    assert trusting.find(C) is None and env.fake.read_requests == 0


def test_a_forward_costs_two_writes_and_two_checks(env, wb):
    wb.append([NewCase("PUTR", row(A)), NewCase("PUTR", row(B))])
    wb.read_all()  # the sweep's read: where B is, and what its tab holds
    env.fake.reset_counts()
    assert wb.move(B, "DLH", {"note": "diteruskan"}) is True
    # append to DLH; check (PUTR read whole); delete at those fresh positions; check
    assert dict(env.fake.counts) == {"spreadsheets.batchUpdate": 2, "values.batchGet": 2}
    assert env.tickets("PUTR") == [A] and env.tickets("DLH") == [B]
    wb.append([NewCase("DLH", row(C))])
    wb.read_all()
    # Staff insert a row above B after the read: the delete still removes C's row, not B's.
    env.fake.staff_insert_rows(env.spreadsheet_id, "DLH", 2)
    env.fake.reset_counts()
    report = wb.commit(Changes(moves=[Move(C, "PUTR", {})]))
    assert report.moved == {C: True} and env.tickets("PUTR") == [A, C]
    assert [t for t in env.tickets("DLH") if t] == [B] and report.repaired == []
    b_row = next(cells for cells in env.fake.values(env.spreadsheet_id, "DLH", "UNFORMATTED_VALUE") if B in cells)
    assert b_row[env.col("note")] == "diteruskan" and b_row[env.col("text")] == row(B)["text"]


def test_a_forward_never_deletes_a_case_that_arrived_after_the_jobs_read(env, wb):
    """A new case appended after the sweep's read, then sorted by an owner into the forwarded
    case's old row: a delete at the read's positions would remove it, and no read holds it."""
    late = "KMC-261102-ABBBB"  # sorts between A and B
    wb.append([NewCase("PUTR", row(A)), NewCase("PUTR", row(B)), NewCase("PUTR", row(C))])
    wb.read_all()
    env.workbook().append([NewCase("PUTR", row(late))])  # intake, on another instance
    env.fake.staff_sort(env.spreadsheet_id, "PUTR", env.col("ticket_id"))  # the owner sorts by ticket
    assert env.tickets("PUTR") == [A, late, B, C]  # the new case now sits in B's old row
    assert wb.commit(Changes(moves=[Move(B, "DLH", {})])).moved == {B: True}
    assert env.tickets("PUTR") == [A, late, C] and env.tickets("DLH") == [B]
    late_row = next(cells for cells in env.fake.values(env.spreadsheet_id, "PUTR", "UNFORMATTED_VALUE") if late in cells)
    assert late_row[env.col("text")] == row(late)["text"]


def test_a_cold_contact_book_writes_without_reading_and_creates_its_tab_when_missing(env):
    first = env.contacts()
    first.put(ContactRecord(A, "WhatsApp", Contact("Budi", "081234567890"), T0))  # creates `Kontak`
    assert env.fake.sheet(env.contacts_id, "Kontak")
    env.fake.reset_counts()
    env.contacts().put(ContactRecord(B, "WhatsApp", Contact("Sari", "081111111111"), T0))
    assert dict(env.fake.counts) == {"values.append": 1}
    assert env.contacts().get(B).contact.phone == "081111111111"


def test_row_links_come_from_what_the_instance_already_knows(env, wb):
    wb.append([NewCase("PUTR", row(A)), NewCase("PUTR", row(B))])
    wb.read_all()
    env.fake.reset_counts()
    gid = env.fake.sheet(env.spreadsheet_id, "PUTR").sheet_id
    assert wb.row_link("PUTR", B) == f"https://docs.google.com/spreadsheets/d/{env.spreadsheet_id}/edit#gid={gid}&range=A3"
    assert wb.row_link("PUTR", "KMC-261102-NOPE0") is None
    assert sum(env.fake.counts.values()) == 0


def test_concurrent_appends_share_one_write(env, wb):
    wb.append([NewCase("PUTR", row(A))])
    env.fake.reset_counts()
    gate = threading.Barrier(20)
    results: list[list[bool]] = []
    real = wb.appends.flush

    def slow_flush(items):  # hold the first flush open so the others queue behind it
        gate_open.wait(5)
        return real(items)
    gate_open = threading.Event()
    wb.appends.flush = slow_flush

    def submit(i):
        gate.wait(5)
        results.append(wb.append([NewCase("DLH", row(f"KMC-261102-{i:05d}"))]))
    threads = [threading.Thread(target=submit, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    while len(wb.appends.queue) < 19 and any(t.is_alive() for t in threads):
        threading.Event().wait(0.01)
    gate_open.set()
    for t in threads:
        t.join(10)
    assert sorted(results) == [[True]] * 20
    assert len(env.tickets("DLH")) == 20 == len(set(env.tickets("DLH")))
    assert env.fake.counts["spreadsheets.batchUpdate"] <= 2


def test_cell_usage_counts_every_grid_cell(env, wb):
    wb.append([NewCase("PUTR", row(A))])  # loads metadata
    used, limit = wb.cell_usage()
    sheets = env.fake.book(env.spreadsheet_id).sheets
    assert limit == 10_000_000 and used == sum(s.row_count * s.col_count for s in sheets)


def test_a_cold_daily_job_answers_cell_usage_from_its_read(env, wb):
    job = env.workbook()
    job.read_all()
    env.fake.reset_counts()
    used, _ = job.cell_usage()
    kmc = [env.fake.sheet(env.spreadsheet_id, t.title) for t in job.tabs().values()]
    assert used == sum(s.row_count * s.col_count for s in kmc) and sum(env.fake.counts.values()) == 0


# -- the emulator host --------------------------------------------------------------------------
def test_whole_adapter_over_a_loopback_emulator(tmp_path):
    fake = FakeSheets()
    sid, cid = fake.create("KMC Aduan"), fake.create("Kontak")
    with fake.serve() as host:
        settings = Settings.from_env({"KMC_BACKEND": "google", "KMC_SPREADSHEET_ID": sid,
                                      "KMC_CONTACTS_SPREADSHEET_ID": cid, "SHEETS_EMULATOR_HOST": host,
                                      "KMC_DATA_DIR": str(tmp_path), "KMC_SERVICE_ACCOUNT": SERVICE_ACCOUNT})
        from functions.schema import load_schema
        wb = GoogleWorkbook.from_settings(settings, load_schema())
        contacts = GoogleContactBook.from_settings(settings)
        assert any("dibuat" in d for d in wb.bootstrap())
        assert wb.append([NewCase("PUTR", row(A))]) == [True]
        contacts.put(ContactRecord(A, "WhatsApp", Contact("Budi", "081234567890", "6281234567890"), T0))
        assert wb.find(A).row["received_at"] == T0
        assert contacts.get(A).contact.phone == "081234567890"
    assert fake.values(sid, "PUTR")[1][0] == A
    assert wb.client.base_url == f"http://{host}"
    # anonymous credentials name no service account: the configured one stays editor of system columns
    # (next to the requester, whom Sheets makes an editor of what it protects)
    assert all(pr["editors"]["users"] == [SERVICE_ACCOUNT, fake.default_caller]
               for pr in fake.sheet(sid, "PUTR").protected_ranges)


def test_timeouts_over_a_real_socket_are_retried(tmp_path):
    from functions.stores.google.http import SheetsHTTPClient, emulator_session

    fake = FakeSheets(server_timeout_delay=0.5)
    sid = fake.create("t")
    with fake.serve() as host:
        client = SheetsHTTPClient(emulator_session, base_url=f"http://{host}", timeout=(1.0, 0.2),
                                  sleep=lambda s: None)
        fake.inject("timeout", times=2)
        assert client.batch_get(sid, ["Sheet1"]) == [{"range": "Sheet1!A1:Z1000", "majorDimension": "ROWS"}]
        assert client.retries["values.batchGet"] == 2


def test_bootstrap_refuses_when_it_cannot_name_the_service_account(env):
    """Issue 15: protections without the runtime account lock it out, so this is refused, not
    merely warned about (see test_sheets_conformance.py for the operator's case)."""
    from functions.config import ConfigError

    wb = env.workbook(client=env.client())
    wb.client._service_account_email = ""
    wb.client._session = __import__("requests").Session()
    with pytest.raises(ConfigError, match="KMC_SERVICE_ACCOUNT"):
        wb.bootstrap()
    assert env.fake.write_requests == 0


def test_many_forwards_cost_constant_requests_and_land_in_their_tabs_after_a_sort(env, wb):
    tickets = [f"KMC-261102-F{i:04d}" for i in range(6)]
    wb.append([NewCase("PUTR", row(A))] + [NewCase("PUTR" if i % 2 else "DLH", row(t)) for i, t in enumerate(tickets)])
    wb.read_all()
    env.fake.staff_sort(env.spreadsheet_id, "PUTR", 0, True)  # staff reorder the tab before the sweep forwards
    env.fake.reset_counts()
    targets = ["DINKES", "DISHUB", "PDAM", "DINKES", "TRIASE", "BPBD"]
    moved = wb.commit(Changes(moves=[Move(t, to, {"note": "diteruskan"}) for t, to in zip(tickets, targets)])).moved
    assert moved == dict.fromkeys(tickets, True)
    # The positions read before the sort were stale: the check after the write saw it and one
    # repair round (a write and its check) put every row where it belongs.
    assert dict(env.fake.counts) == {"spreadsheets.batchUpdate": 2, "values.batchGet": 2}
    for t, to in zip(tickets, targets):
        case = wb.find(t)
        assert case.tab == to and case.row["note"] == "diteruskan"
    assert env.tickets("PUTR") == [A] and env.tickets("DLH") == []
    again = wb.commit(Changes(moves=[Move(tickets[0], "DINKES", {}), Move(tickets[1], "DISHUB", {})])).moved
    assert again == {tickets[0]: True, tickets[1]: True}  # already there


# -- the scheduled jobs' budget on a cold instance (DESIGN.md "Quotas are physics") ---------------
def _job_services(env, tmp_path):
    from functions.bootstrap import build

    settings = Settings.from_env({"KMC_BACKEND": "google", "KMC_SPREADSHEET_ID": env.spreadsheet_id,
                                  "KMC_CONTACTS_SPREADSHEET_ID": env.contacts_id, "KMC_DATA_DIR": str(tmp_path),
                                  "DIGEST_TO": "bupati@ketapangkab.go.id"})
    return build(settings, schema=env.schema, workbook=env.workbook(), contacts=env.contacts(),
                 clock=lambda: T0 + timedelta(days=3))


def test_a_cold_sweep_and_daily_spend_five_requests_each_lease_included(env, tmp_path):
    """The claim is the one request the lease adds: its read-back is the job's one batchGet (OPD
    tabs, Log, Kontak OPD, Rute, Model Rute together) and the release rides in the job's last
    write. Before: 9 for a sweep (Log read, claim, Log read-back, tabs, Kontak OPD, contacts,
    commit, check, release) and 9+ for a daily."""
    from functions.services.jobs import daily_job, sweep_job
    from functions.services.lease import LEASE_LOG, RELEASED_LOG
    from functions.services.setup import bootstrap_workbook

    bootstrap_workbook(env.workbook(), env.contacts(), env.schema)
    wb = env.workbook()
    wb.append([NewCase("PUTR", row(A)), NewCase("DLH", row(B))])
    wb.update([CellUpdate(A, {"status": "Selesai", "response": "Sudah kami tambal."})], staff=True)
    env.contacts().put(ContactRecord(A, "WhatsApp", Contact("Warga", "081234567890", "6281234567890"), T0))
    now = T0 + timedelta(days=3)

    env.fake.reset_counts()
    report = sweep_job(_job_services(env, tmp_path), now)  # stamps A's answer, marks B overdue
    assert not report.busy
    assert dict(env.fake.counts) == {"values.append": 1, "values.batchGet": 3, "spreadsheets.batchUpdate": 1}

    env.fake.reset_counts()
    assert not daily_job(_job_services(env, tmp_path), now + timedelta(hours=1)).busy
    # the claim, one read, the overdue marks' commit and its check, the digest's Log entries with
    # the release in one append; no metadata read (the sheet ids are in the Log's `tab_ids`)
    assert dict(env.fake.counts) == {"values.append": 2, "values.batchGet": 2, "spreadsheets.batchUpdate": 1}
    # both leases were released: the next run goes ahead at once
    entries = env.workbook().log_entries(None, fresh=True, as_written=True)
    claims = [e.key for e in entries if e.kind == LEASE_LOG]
    assert len(claims) == 2 and {e.key for e in entries if e.kind == RELEASED_LOG} == set(claims)
    assert not sweep_job(_job_services(env, tmp_path), now + timedelta(minutes=15)).busy


def test_the_daily_s_model_write_reads_no_metadata_after_the_job_read_and_regrows_a_shrunk_tab(env, wb):
    """The whole-tab read of Model Rute reports its grid (`'Model Rute'!A1:C50`), so the job's
    model write is one values.batchUpdate; a tab shrunk by hand in between ("exceeds grid limits")
    is grown and written, never lost."""
    wb.write_routing_model("m" * 10)  # the tab exists (50 rows)
    job = env.workbook()
    job.read_for_job()
    assert job.read_routing_model() == "m" * 10  # served by the job's one read
    env.fake.reset_counts()
    job.write_routing_model("n" * 120_000)  # 3 chunks: fits the 50-row grid
    assert dict(env.fake.counts) == {"values.batchUpdate": 1}
    job.drop_job_read()
    job.read_for_job()
    sheet = env.fake.sheet(env.spreadsheet_id, "Model Rute")
    sheet.delete_rows(2, sheet.row_count)  # someone trims the tab to two rows
    job.write_routing_model("o" * 120_000)
    assert env.workbook().read_routing_model() == "o" * 120_000


def test_a_side_tab_not_created_yet_costs_one_refused_read_and_its_reader_none(env, wb):
    """No Model Rute yet (no model learned): the job's one read leaves it out after Google's 400
    "Unable to parse range" and the model reader answers "none" without another request."""
    job = env.workbook()
    env.fake.reset_counts()
    job.read_for_job()
    assert env.fake.rejected[400] == 2  # Rute (bare bootstrap does not seed it) and Model Rute
    assert dict(env.fake.counts) == {"values.batchGet": 1}
    refused = env.fake.rejected[400]
    assert job.read_routing_model() is None and job.read_rules() == []
    assert job.read_directory() is not None  # Kontak OPD exists: served by the one read
    assert dict(env.fake.counts) == {"values.batchGet": 1} and env.fake.rejected[400] == refused
