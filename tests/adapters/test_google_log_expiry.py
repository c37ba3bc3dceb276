"""`Changes.log_expire` on Google Sheets: expired Log rows go in the commit's one batchUpdate.

The rows are found in the job's own read of the Log (by kind, key and time, never a positional
guess), deleted bottom-up in runs, and the commit's check reads the Log back: a row a stale
position deleted by mistake (staff sorted the Log in between) is written back, an expired row
still there is deleted at its new place. Sheets refuses a deleteDimension that would leave no
non-frozen row ("Sorry, it is not possible to delete all non-frozen rows.", see
tests/adapters/test_sheets_conformance.py); the fake enforces it.
"""
from __future__ import annotations

from datetime import timedelta

import pytest

from functions.journal import LogEntry
from functions.stores.google.log import LogExpiry, delete_runs, plan_expiry, recheck_expiry
from functions.stores.port import CellUpdate, Changes, NewCase
from tests.adapters.sheets_env import sheets_env
from tests.adapters.test_store_contract import T0, row

A = "KMC-261102-AAAAA"
LOG_TITLE = "Log Sistem"
OLD, NEW = T0 - timedelta(days=40), T0 - timedelta(days=1)
CUTOFF = T0 - timedelta(days=30)


@pytest.fixture
def env():
    with sheets_env() as e:
        yield e


@pytest.fixture
def wb(env):
    w = env.workbook()
    w.bootstrap()
    w.append([NewCase("PUTR", row(A))])
    w.log_add_many([LogEntry("reminder", f"old-{i}", OLD + timedelta(minutes=i)) for i in range(4)]
                   + [LogEntry("reminder", f"new-{i}", NEW + timedelta(minutes=i)) for i in range(3)]
                   + [LogEntry("digest", "2026-09-01", OLD, "terkirim")])
    return w


def log_rows(env) -> list[tuple[str, str]]:
    """(kind, key) of every Log row as it is in the sheet, header excluded."""
    values = env.fake.values(env.spreadsheet_id, LOG_TITLE, "UNFORMATTED_VALUE")[1:]
    return [(r[0], r[1]) for r in values if r and r[0]]


def reminders(env) -> list[str]:
    return sorted(key for kind, key in log_rows(env) if kind == "reminder")


def test_expired_entries_go_in_the_same_write_and_check_as_the_jobs_commit(env, wb):
    job = env.workbook()
    job.read_all()
    env.fake.reset_counts()
    report = job.commit(Changes(updates=[CellUpdate(A, {"sla": "Terlambat"})],
                                log=[LogEntry("digest", "2026-11-02", T0)], log_expire={"reminder": CUTOFF}))
    assert report.written == 1 and report.logged == 1
    # the same two requests a commit costs without expiry: one batchUpdate, one check
    assert dict(env.fake.counts) == {"spreadsheets.batchUpdate": 1, "values.batchGet": 1}
    assert reminders(env) == ["new-0", "new-1", "new-2"]
    assert ("digest", "2026-09-01") in log_rows(env)  # an old entry of a kind not named stays
    assert ("digest", "2026-11-02") in log_rows(env)
    assert not job.log_has("reminder", "old-0") and job.log_has("reminder", "new-0")
    assert not env.workbook().log_has("reminder", "old-3")


def test_expiry_on_a_log_only_commit_costs_the_one_request_its_append_did(env, wb):
    """The daily's last commit (its Log entries and the lease release) is where the pruning
    rides: one batchUpdate whose reply carries the Log after it (includeSpreadsheetInResponse
    + responseRanges + responseIncludeGridData, BatchUpdateSpreadsheetRequest in the Sheets v4
    reference) is both the write and its check, so the daily keeps its budget."""
    job = env.workbook()
    job.read_for_job()
    env.fake.reset_counts()
    report = job.commit(Changes(log=[LogEntry("digest", "2026-11-02", T0)], log_expire={"reminder": CUTOFF}))
    assert dict(env.fake.counts) == {"spreadsheets.batchUpdate": 1}
    assert report.logged == 1
    assert reminders(env) == ["new-0", "new-1", "new-2"] and ("digest", "2026-11-02") in log_rows(env)
    assert job.log_has("digest", "2026-11-02") and not job.log_has("reminder", "old-0")


def test_a_staff_sort_before_a_log_only_prune_is_put_right_from_the_reply(env, wb):
    job = env.workbook()
    job.read_for_job()
    env.fake.staff_sort(env.spreadsheet_id, LOG_TITLE, 1, reverse=True)
    env.fake.reset_counts()
    report = job.commit(Changes(log=[LogEntry("digest", "2026-11-02", T0)], log_expire={"reminder": CUTOFF}))
    assert reminders(env) == ["new-0", "new-1", "new-2"]
    assert ("digest", "2026-09-01") in log_rows(env) and ("digest", "2026-11-02") in log_rows(env)
    assert any(r.startswith("Log:") for r in report.repaired)
    assert dict(env.fake.counts) == {"spreadsheets.batchUpdate": 2}  # the write, one repair; no read


def test_nothing_expired_costs_nothing_more_than_the_append(env, wb):
    job = env.workbook()
    job.read_all()
    env.fake.reset_counts()
    job.commit(Changes(log=[LogEntry("digest", "2026-11-02", T0)], log_expire={"reminder": OLD - timedelta(days=1)}))
    assert dict(env.fake.counts) == {"values.append": 1}
    assert len(reminders(env)) == 7


def test_a_staff_sort_of_the_log_between_read_and_commit_deletes_only_expired_rows(env, wb):
    job = env.workbook()
    job.read_all()
    # an owner sorts the Log by key, newest first: every position the job read is now wrong
    env.fake.staff_sort(env.spreadsheet_id, LOG_TITLE, 1, reverse=True)
    report = job.commit(Changes(updates=[CellUpdate(A, {"sla": "Terlambat"})], log_expire={"reminder": CUTOFF}))
    assert reminders(env) == ["new-0", "new-1", "new-2"]
    assert ("digest", "2026-09-01") in log_rows(env) and any(k == "tab_ids" for k, _ in log_rows(env))
    assert report.written == 1 and any(r.startswith("Log:") for r in report.repaired)


def test_a_lost_reply_does_not_delete_twice(env, wb):
    job = env.workbook()
    job.read_all()
    env.fake.inject("applied_timeout", only=("spreadsheets.batchUpdate",))
    job.commit(Changes(updates=[CellUpdate(A, {"sla": "Terlambat"})], log_expire={"reminder": CUTOFF}))
    assert reminders(env) == ["new-0", "new-1", "new-2"] and ("digest", "2026-09-01") in log_rows(env)


def test_a_log_whose_every_entry_expires_keeps_its_header_and_a_row(env, wb):
    sheet = env.fake.sheet(env.spreadsheet_id, LOG_TITLE)
    sheet.delete_rows(sheet.last_data_row() + 1, sheet.row_count)  # the grid is header + entries, as appends leave it
    kinds = {kind for kind, _ in log_rows(env)}
    job = env.workbook()
    job.read_all()
    job.commit(Changes(log_expire={kind: T0 + timedelta(days=365) for kind in kinds}))
    values = env.fake.values(env.spreadsheet_id, LOG_TITLE, "UNFORMATTED_VALUE")
    assert values[0][:2] == ["Jenis", "Kunci"] and log_rows(env) == []
    assert sheet.row_count >= 2  # the header and at least one non-frozen row
    job.log_add(LogEntry("digest", "2026-11-03", T0))  # the Log still takes entries
    assert log_rows(env) == [("digest", "2026-11-03")]


# -- the pure planning ----------------------------------------------------------------------------
def test_plan_and_recheck_find_rows_by_kind_key_and_time_not_position():
    rows = [(1, LogEntry("reminder", "a", OLD)), (2, LogEntry("reminder", "b", NEW)), (3, LogEntry("batal", "c", OLD))]
    plan = plan_expiry(rows, {"reminder": CUTOFF})
    assert plan.deletes == [1] and bool(plan)
    # the delete hit row 1 after a sort had put "b" there: "a" still present, "b" missing
    after = [(1, LogEntry("batal", "c", OLD)), (2, LogEntry("reminder", "a", OLD))]
    again = recheck_expiry(plan, after)
    assert again.deletes == [2] and [e.key for e in again.restore] == ["b"]
    assert not recheck_expiry(plan, [(1, LogEntry("reminder", "b", NEW)), (2, LogEntry("batal", "c", OLD))])
    assert not LogExpiry()


def test_deletes_merge_into_runs_bottom_up():
    assert delete_runs([3, 1, 2, 7, 9, 8, 12]) == [(12, 13), (7, 10), (1, 4)]
    assert delete_runs([]) == []


def test_pruning_the_log_leaves_the_jobs_read_of_the_tabs_in_use(env, wb):
    """Deleting Log rows moves no case: the next commit of the same job writes at the positions
    of the job's read without reading the tabs again."""
    job = env.workbook()
    job.read_all()
    job.commit(Changes(log_expire={"reminder": CUTOFF}))
    env.fake.reset_counts()
    job.update([CellUpdate(A, {"sla": "Terlambat"})])
    assert dict(env.fake.counts) == {"spreadsheets.batchUpdate": 1, "values.batchGet": 1}
