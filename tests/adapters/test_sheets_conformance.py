"""The gspread adapter against what the REAL Sheets API does, not our picture of it.

Each test names the documented (or widely reported) behaviour of the service it relies on; the
fake (`tests/fakes/fake_sheets.py`) enforces the same, and `test_fake_strictness.py` proves it.
"""
from __future__ import annotations

import pytest

from functions.config import ConfigError
from functions.stores.port import CellUpdate, Changes, Move, NewCase
from functions.stores.google.http import SheetsApiError
from tests.adapters.sheets_env import SERVICE_ACCOUNT, sheets_env
from tests.adapters.test_store_contract import row
from tests.fakes.fake_sheets import OWNER

OPERATOR = "it.diskominfo@ketapangkab.go.id"  # the regency IT person's own Google login


@pytest.fixture
def env():
    with sheets_env() as e:
        yield e


def fill(wb, tab: str, n: int, prefix: str = "KMC-261102-F") -> list[str]:
    tickets = [f"{prefix}{i:04d}" for i in range(n)]
    for start in range(0, n, 400):
        wb.append([NewCase(tab, row(t, minutes=i)) for i, t in enumerate(tickets[start:start + 400], start)])
    return tickets


# -- defect 1: deleting every non-frozen row ------------------------------------------------------
# Sheets refuses a deleteDimension that leaves no row below the frozen header: 400 "Invalid
# requests[0].deleteDimension: Sorry, it is not possible to delete all non-frozen rows." (reported
# e.g. in theoephraim/node-google-spreadsheet#186 and jlolling/talendcomp_tGoogleSheet#19; the UI
# does the same), and a batchUpdate is all or nothing. A tab whose grid grew by appends is exactly
# header + rows, so removing all its cases used to fail every time.
def test_deleting_every_case_of_a_tab_whose_grid_is_exactly_full(env):
    wb = env.workbook()
    wb.bootstrap()
    tickets = fill(wb, "DAMKAR", 199)  # the 200-row grid: header + 199 cases, not one row spare
    sheet = env.fake.sheet(env.spreadsheet_id, env.title("DAMKAR"))
    assert sheet.row_count == 200 and sheet.last_data_row() == 199
    assert env.workbook().delete(tickets) == 199
    assert env.tickets("DAMKAR") == [] and sheet.frozen_rows == 1
    assert env.workbook().read_all()["DAMKAR"] == []
    # and the emptied tab takes new cases again
    assert env.workbook().append([NewCase("DAMKAR", row("KMC-261102-NEXT1"))]) == [True]
    assert env.tickets("DAMKAR") == ["KMC-261102-NEXT1"]


def test_forwarding_every_case_out_of_a_full_tab(env):
    wb = env.workbook()
    wb.bootstrap()
    tickets = fill(wb, "DAMKAR", 199)
    job = env.workbook()
    job.read_all()
    report = job.commit(Changes(moves=[Move(t, "BPBD", {"forward_to": ""}) for t in tickets]))
    assert all(report.moved.values()) and len(report.moved) == 199
    assert env.tickets("DAMKAR") == [] and len(env.tickets("BPBD")) == 199


def test_archive_of_a_full_tab_leaves_each_case_in_one_place(env):
    """The audit's reproduction: 199 closed cases fill a 200-row tab; `archive` must move them
    all, not leave them in both the archive and the live tab."""
    from functions.services.archive import archive_closed
    from datetime import date

    from functions.stores.google import GoogleWorkbook

    live = env.workbook()
    live.bootstrap()
    target = GoogleWorkbook(live.client, env.fake.create("KMC Aduan Arsip 2026"), env.schema,
                            clock=env.time.clock, sleep=env.time.sleep)
    tickets = [f"KMC-261102-Z{i:04d}" for i in range(199)]
    for start in range(0, 199, 100):
        live.append([NewCase("DAMKAR", row(t, status="Selesai", response="sudah", minutes=i))
                     for i, t in enumerate(tickets[start:start + 100], start)])
    report = archive_closed(env.workbook(), lambda year: target, date(2027, 1, 1), tz=live.tz)
    assert report.removed == 199 and not report.problems
    assert env.tickets("DAMKAR") == []
    assert len(target.read_all()["DAMKAR"]) == 199


# -- defect 2: reads past the grid -----------------------------------------------------------------
# A range with an explicit end past the sheet's grid is refused: 400 "Range ('Rute'!A1:Z) exceeds
# grid limits. Max rows: 1000, max columns: 4" (nithinmurali/pygsheets#124, #416;
# home-assistant/core#104198). It is not a missing tab and must never be taken for one.
def test_rules_on_a_rute_tab_trimmed_to_its_columns_are_read_and_never_overwritten(env):
    from functions.services.setup import bootstrap_workbook

    wb = env.workbook()
    bootstrap_workbook(wb)
    fake, sid = env.fake, env.spreadsheet_id
    fake.staff_set(sid, "Rute", "C2", "jalan berlubang khusus admin", respect_protection=False)
    rute = fake.sheet(sid, "Rute")
    rute.col_count = 4  # an admin deleted the empty columns E:Z
    rules = env.workbook().read_rules()
    assert rules and rules[0]["keywords"] == "jalan berlubang khusus admin"
    assert bootstrap_workbook(env.workbook()) == []  # nothing re-seeded over the admin's rows
    assert fake.values(sid, "Rute")[1][2] == "jalan berlubang khusus admin"


def test_a_grid_error_is_not_a_missing_tab(env):
    wb = env.workbook()
    wb.bootstrap()
    with pytest.raises(SheetsApiError) as caught:
        wb.client.batch_get(env.spreadsheet_id, ["'PUTR'!A1:ZZ"])
    assert "exceeds grid limits" in str(caught.value)
    assert not caught.value.bad_range and caught.value.beyond_grid
    with pytest.raises(SheetsApiError) as missing:
        wb.client.batch_get(env.spreadsheet_id, ["'Tidak Ada'!A1"])
    assert missing.value.bad_range


# -- defect 3: protections without the runtime account ------------------------------------------------
# Sheets makes the requester an editor of what it protects, with the `editors` it names and the
# owner; everyone else is refused: 400 "You are trying to edit a protected cell or object. Please
# contact the spreadsheet owner to remove protection if you need to edit." (the Sheets API follows
# the UI's permission model; theoephraim/node-google-spreadsheet#20 shows the message).
def test_bootstrap_by_a_person_without_kmc_service_account_is_refused(env):
    operator = env.client(OPERATOR, service_account=False)
    with pytest.raises(ConfigError) as refused:
        env.workbook(operator).bootstrap()
    assert "KMC_SERVICE_ACCOUNT" in str(refused.value)
    assert env.fake.write_requests == 0  # refused before anything was written


def test_bootstrap_by_a_person_with_kmc_service_account_leaves_the_runtime_able_to_write(env):
    operator = env.client(OPERATOR, service_account=False)
    assert env.workbook(operator, editors=[SERVICE_ACCOUNT]).bootstrap()
    runtime = env.workbook()  # the functions, as the runtime service account
    assert runtime.append([NewCase("PUTR", row("KMC-261102-RUN01"))]) == [True]
    runtime.read_all()
    assert runtime.commit(Changes(moves=[Move("KMC-261102-RUN01", "DLH", {})])).moved["KMC-261102-RUN01"]


def test_protections_without_the_runtime_account_lock_it_out(env):
    """What the old deploy guide produced: the fake refuses the runtime's writes, as Sheets does."""
    from functions.stores.google import layout

    operator = env.client(OPERATOR, service_account=False)
    meta = operator.get_metadata(env.spreadsheet_id, layout.METADATA_FIELDS)
    plan = layout.plan_bootstrap(env.schema, meta, {}, editors=[])  # no editors named
    operator.spreadsheet_batch_update(env.spreadsheet_id, plan.requests, idempotent=False)
    with pytest.raises(SheetsApiError) as refused:
        env.workbook().append([NewCase("PUTR", row("KMC-261102-LOCK1"))])
    assert "protected cell" in str(refused.value)
    assert env.tickets("PUTR") == []
    assert OWNER != OPERATOR  # the owner (not the operator) could still edit everything


# -- open question: rows appended after the initial grid ----------------------------------------------
# GridRange: "Missing indexes indicate the range is unbounded on that side" (sheets.v4.json,
# schema GridRange), so a protection or conditional format without endRowIndex covers rows added
# later. Data validation and number formats are properties of each cell (CellData.dataValidation,
# CellData.userEnteredFormat): set over a range they reach only the rows the grid has then. So
# every appended case row carries its own dropdowns and formats (ROW_FIELDS).
def test_a_tab_of_1500_cases_keeps_dropdowns_protection_and_the_overdue_format_on_its_last_row(env):
    wb = env.workbook()
    wb.bootstrap()
    fill(wb, "PUTR", 1500)
    fake, sid = env.fake, env.spreadsheet_id
    sheet = fake.sheet(sid, "PUTR")
    last = sheet.last_data_row()
    assert last == 1500 and sheet.row_count >= 1501  # far past the 200 rows bootstrap made
    status, forward, sla = env.col("status"), env.col("forward_to"), env.col("sla")
    # dropdowns
    assert [v["userEnteredValue"] for v in sheet.validation_at(last, status)["condition"]["values"]] == \
        list(env.schema.choices("status"))
    assert sheet.validation_at(last, forward)["condition"]["type"] == "ONE_OF_LIST"
    # formats: a real date cell
    assert sheet.fmt_of(last, env.col("received_at"))["type"] == "DATE_TIME"
    # protection: staff cannot type into a system cell of the last row; the runtime can
    ss = fake.book(sid)
    assert not fake.may_edit(ss, sheet, last, sla, who="staf.putr@ketapangkab.go.id")
    assert fake.may_edit(ss, sheet, last, status, who="staf.putr@ketapangkab.go.id")
    assert fake.may_edit(ss, sheet, last, sla, who=SERVICE_ACCOUNT)
    # the overdue format covers the last row
    (rule,) = sheet.conditional_formats
    assert sheet.covered(rule["ranges"], last, 0) and sheet.covered(rule["ranges"], last, sla)
    # and the job marks it overdue there
    ticket = fake.values(sid, "PUTR")[last][0]
    wb.read_all()
    assert wb.update([CellUpdate(ticket, {"sla": "Terlambat"})]).written == 1
    assert fake.values(sid, "PUTR")[last][sla] == "Terlambat"


# -- open question: the first bootstrap against the 30 s timeout -----------------------------------------
# A lost reply to a write is ambiguous (it may have been applied); bootstrap must not crash on it
# nor re-send what landed (addSheet of an existing sheet id is a 400), but look and converge.
@pytest.mark.parametrize("fault", ["timeout", "applied_timeout", "late_apply"])
def test_bootstrap_survives_a_lost_reply_and_a_rerun_changes_nothing(env, fault):
    env.fake.inject(fault, times=1, only=("spreadsheets.batchUpdate",), delay=3.0)
    done = env.workbook().bootstrap()
    assert any("dibuat" in d for d in done)
    for opd in env.schema.opds:
        assert env.fake.values(env.spreadsheet_id, opd.title)[0][0] == "No. Tiket"
        assert len(env.fake.sheet(env.spreadsheet_id, opd.title).conditional_formats) == 1
    env.fake.reset_counts()
    assert env.workbook().bootstrap() == [] and env.fake.write_requests == 0


def test_the_first_bootstrap_goes_in_several_small_batches(env):
    env.workbook().bootstrap()
    sizes = env.fake.batch_sizes
    assert len(sizes) >= 4 and max(sizes) <= 400


def test_bootstrap_batches_send_every_request_once_in_order_whole_tabs_together(env):
    from functions.stores.google import layout

    plan = layout.plan_bootstrap(env.schema, {"sheets": []}, {}, [SERVICE_ACCOUNT])
    plan.add({"updateSpreadsheetProperties": {"properties": {"title": "KMC"}, "fields": "title"}})  # outside a tab
    batches = plan.batches(400)
    assert [r for b in batches for r in b] == plan.requests
    assert all(len(b) <= 400 for b in batches)
    for batch in batches:  # a tab's requests never straddle two batches (each carries its fingerprint)
        ids = {r["addSheet"]["properties"]["sheetId"] for r in batch if "addSheet" in r}
        layouts = {r["createDeveloperMetadata"]["developerMetadata"]["location"]["sheetId"] for r in batch
                   if r.get("createDeveloperMetadata", {}).get("developerMetadata", {}).get("metadataKey") == "kmc_layout"}
        assert ids == layouts
