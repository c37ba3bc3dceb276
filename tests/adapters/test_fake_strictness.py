"""The fake Sheets API refuses what the real one refuses: each rule, with where it is documented.

`tests/fakes/fake_sheets.py` stands in for Google in every store test, the load test and
`scripts/bench.py sheets`; a rule it does not enforce is a production failure no test can see.
"""
from __future__ import annotations

import pytest

from functions.stores.google.http import SheetsApiError
from tests.adapters.sheets_env import SERVICE_ACCOUNT, sheets_env
from tests.fakes.fake_sheets import OWNER

STAFF = "staf.putr@ketapangkab.go.id"


@pytest.fixture
def env():
    with sheets_env() as e:
        yield e


@pytest.fixture
def api(env):
    """A client as the runtime service account and the id of the first sheet."""
    return env.client(), env.fake.book(env.spreadsheet_id).sheets[0].sheet_id


def refused(call, *words: str, status: int = 400) -> SheetsApiError:
    with pytest.raises(SheetsApiError) as caught:
        call()
    assert caught.value.status == status, caught.value
    for w in words:
        assert w in str(caught.value), caught.value
    return caught.value


# -- request bodies and parameters against sheets.v4.json -------------------------------------------
# The discovery document is the API's published schema; Google's front end answers a field it
# does not know with 400 'Invalid JSON payload received. Unknown name "x" ...: Cannot find field.'
def test_a_field_the_discovery_document_does_not_name_is_refused(env, api):
    client, sheet_id = api
    refused(lambda: client.spreadsheet_batch_update(env.spreadsheet_id, [
        {"updateSheetProperties": {"properties": {"sheetId": sheet_id, "frozenRows": 1}, "fields": "frozenRows"}}],
        idempotent=True), 'Unknown name "frozenRows"', "Cannot find field")
    assert env.fake.sheet(env.spreadsheet_id, "Sheet1").frozen_rows == 0


@pytest.mark.parametrize("body, words", [
    ({"addSheet": {"properties": {"title": "X", "index": "satu"}}}, ("Invalid value", "TYPE_INT32")),
    ({"appendDimension": {"sheetId": 0, "dimension": "ROW", "length": 1}}, ("Invalid value", "dimension")),
    ({"addSheet": {"properties": {"title": "X", "hidden": "yes"}}}, ("Invalid value", "TYPE_BOOL")),
])
def test_a_value_of_the_wrong_type_or_outside_its_enum_is_refused(env, api, body, words):
    client, _ = api
    refused(lambda: client.spreadsheet_batch_update(env.spreadsheet_id, [body], idempotent=True), *words)


def test_query_parameters_are_those_the_method_declares(env, api):
    client, _ = api
    refused(lambda: client.call_json("GET", f"/{env.spreadsheet_id}/values:batchGet",
                                     params={"ranges": ["Sheet1"], "valueRender": "FORMULA"}),
            'Unknown name "valueRender"', "Cannot bind query parameter")
    refused(lambda: client.call_json("GET", f"/{env.spreadsheet_id}/values:batchGet",
                                     params={"ranges": ["Sheet1"], "valueRenderOption": "FORMULAS"}),
            "Invalid value", "FORMULAS")
    refused(lambda: client.call_json("POST", f"/{env.spreadsheet_id}/values/Sheet1!A1:append",
                                     params={"valueInputOption": "PARSED"}, json={"values": [["x"]]}),
            "Invalid value", "PARSED")


# -- field masks -----------------------------------------------------------------------------------
# FieldMask paths must name fields of the message they apply to (CellData for repeatCell,
# SheetProperties for updateSheetProperties ...): "Invalid field selection".
def test_a_request_mask_may_only_name_fields_of_its_message(env, api):
    client, sheet_id = api
    refused(lambda: client.spreadsheet_batch_update(env.spreadsheet_id, [{"repeatCell": {
        "range": {"sheetId": sheet_id}, "cell": {"userEnteredFormat": {"numberFormat": {"type": "TEXT"}}},
        "fields": "userEnteredFormat.numberFormats"}}], idempotent=True), "Invalid field selection")


# `fields` is a standard parameter of every method (sheets.v4.json "parameters"): the response
# holds only the selected fields; spreadsheets.get documents that `includeGridData` "is ignored
# if a field mask was set in the request".
def test_the_fields_mask_of_spreadsheets_get_selects_the_response(env, api):
    client, _ = api
    meta = client.get_metadata(env.spreadsheet_id, "sheets(properties(sheetId,title))")
    assert meta == {"sheets": [{"properties": {"sheetId": 0, "title": "Sheet1"}}]}
    full = client.get_metadata(env.spreadsheet_id, "*")
    assert full["spreadsheetId"] == env.spreadsheet_id and full["sheets"][0]["properties"]["gridProperties"]
    refused(lambda: client.get_metadata(env.spreadsheet_id, "sheets(properties(sheetTitle))"),
            "Invalid field selection sheetTitle")


# -- grid limits --------------------------------------------------------------------------------------
# "Range ('Sheet1'!A1:Z) exceeds grid limits. Max rows: 1000, max columns: 4" for an explicit
# bound past the grid (pygsheets#124, #416; home-assistant/core#104198); an open end is clipped.
def test_an_explicit_range_past_the_grid_is_refused_on_reads_and_writes(env, api):
    client, _ = api
    env.fake.sheet(env.spreadsheet_id, "Sheet1").col_count = 4
    refused(lambda: client.batch_get(env.spreadsheet_id, ["Sheet1!A1:Z"]), "exceeds grid limits", "max columns: 4")
    refused(lambda: client.batch_get(env.spreadsheet_id, ["Sheet1!A1001"]), "exceeds grid limits")
    refused(lambda: client.values_batch_update_raw(env.spreadsheet_id, [{"range": "Sheet1!E1", "values": [["x"]]}]),
            "exceeds grid limits")
    (whole, column) = client.batch_get(env.spreadsheet_id, ["Sheet1", "Sheet1!A:A"])
    assert whole["range"] == "Sheet1!A1:D1000" and column["range"] == "Sheet1!A1:A1000"


# -- the non-frozen-row rule ------------------------------------------------------------------------
# 400 "Sorry, it is not possible to delete all non-frozen rows." (node-google-spreadsheet#186,
# talendcomp_tGoogleSheet#19); a batchUpdate is atomic ("if any request is not valid, the entire
# request will fail and nothing will be applied", spreadsheets.batchUpdate reference).
def test_deleting_every_non_frozen_row_is_refused_and_the_batch_applies_nothing(env, api):
    client, sheet_id = api
    sheet = env.fake.sheet(env.spreadsheet_id, "Sheet1")
    sheet.row_count, sheet.frozen_rows = 3, 1
    env.fake.staff_set(env.spreadsheet_id, "Sheet1", "A2", "kasus")
    refused(lambda: client.spreadsheet_batch_update(env.spreadsheet_id, [
        {"updateSheetProperties": {"properties": {"sheetId": sheet_id, "title": "Baru"}, "fields": "title"}},
        {"deleteDimension": {"range": {"sheetId": sheet_id, "dimension": "ROWS", "startIndex": 1, "endIndex": 3}}},
    ], idempotent=True), "not possible to delete all non-frozen rows")
    assert sheet.title == "Sheet1" and sheet.row_count == 3 and env.fake.values(env.spreadsheet_id, "Sheet1") == [[], ["kasus"]]
    client.spreadsheet_batch_update(env.spreadsheet_id, [  # one non-frozen row left: allowed
        {"deleteDimension": {"range": {"sheetId": sheet_id, "dimension": "ROWS", "startIndex": 1, "endIndex": 2}}},
    ], idempotent=True)
    assert sheet.row_count == 2


# -- sharing and protections by identity -----------------------------------------------------------------
# Drive sharing: a spreadsheet not shared with the caller answers 403 PERMISSION_DENIED "The
# caller does not have permission" (google-api-ruby-client#461); an unknown id 404 NOT_FOUND.
def test_a_spreadsheet_not_shared_with_the_caller_is_403_and_an_unknown_id_404(env):
    private = env.fake.create("Pribadi", writers={"someone.else@ketapangkab.go.id"})
    client = env.client()
    refused(lambda: client.get_metadata(private, "sheets(properties(title))"), "does not have permission", status=403)
    refused(lambda: client.get_metadata("1TidakAdaSpreadsheetIni", "sheets(properties(title))"), "not found", status=404)
    viewer = env.fake.create("Hanya lihat", writers=set(), readers={SERVICE_ACCOUNT})
    assert client.batch_get(viewer, ["Sheet1"])[0]["range"].startswith("Sheet1!")
    refused(lambda: client.values_batch_update_raw(viewer, [{"range": "Sheet1!A1", "values": [["x"]]}]),
            "does not have permission", status=403)


# The requester becomes an editor of what it protects, besides the editors it names; the owner can
# always edit; any other account's write is refused with "You are trying to edit a protected cell
# or object" (node-google-spreadsheet#20). `editors` is "only visible to users with edit access to
# the protected range" and `requestingUserCanEdit` says whether the caller may edit
# (sheets.v4.json, ProtectedRange); warning-only protections take no editors ("ProtectedRange is
# warningOnly. Editors cannot be set on it.", gspread#1437).
def test_protections_are_enforced_by_identity(env):
    fake, sid = env.fake, env.spreadsheet_id
    operator = env.client("operator@ketapangkab.go.id", service_account=False)
    runtime, staff, owner = env.client(), env.client(STAFF, service_account=False), env.client(OWNER)
    operator.spreadsheet_batch_update(sid, [{"addProtectedRange": {"protectedRange": {
        "range": {"sheetId": 0, "startColumnIndex": 0, "endColumnIndex": 1}, "description": "KMC: sistem"}}}],
        idempotent=False)
    write = lambda c: c.values_batch_update_raw(sid, [{"range": "Sheet1!A5", "values": [["x"]]}])  # noqa: E731
    for locked_out in (runtime, staff):
        refused(lambda: write(locked_out), "protected cell or object")
    write(operator)
    write(owner)
    staff.values_batch_update_raw(sid, [{"range": "Sheet1!B5", "values": [["bebas"]]}])  # outside the range
    (seen_by_runtime,) = runtime.get_metadata(sid, "sheets(protectedRanges)")["sheets"][0]["protectedRanges"]
    assert seen_by_runtime["requestingUserCanEdit"] is False and "editors" not in seen_by_runtime
    (seen_by_operator,) = operator.get_metadata(sid, "sheets(protectedRanges)")["sheets"][0]["protectedRanges"]
    assert seen_by_operator["requestingUserCanEdit"] is True
    assert seen_by_operator["editors"]["users"] == ["operator@ketapangkab.go.id"]
    refused(lambda: runtime.spreadsheet_batch_update(sid, [{"deleteProtectedRange": {
        "protectedRangeId": seen_by_runtime["protectedRangeId"]}}], idempotent=False), "protected cell")
    refused(lambda: operator.spreadsheet_batch_update(sid, [{"addProtectedRange": {"protectedRange": {
        "range": {"sheetId": 0}, "warningOnly": True, "editors": {"users": [SERVICE_ACCOUNT]}}}}],
        idempotent=False), "warningOnly")


# -- what a range covers, as stored ------------------------------------------------------------------------
# GridRange: "Missing indexes indicate the range is unbounded on that side" — a protection or a
# conditional format without endRowIndex covers rows added later. Formats and data validation
# are per cell (CellData.userEnteredFormat, CellData.dataValidation): repeatCell and
# setDataValidation set the cells the grid has at that moment, not rows appended afterwards.
def test_formats_and_validation_reach_the_grid_of_the_moment_protections_reach_new_rows(env, api):
    client, sheet_id = api
    sheet = env.fake.sheet(env.spreadsheet_id, "Sheet1")
    sheet.row_count = 10
    rule = {"condition": {"type": "ONE_OF_LIST", "values": [{"userEnteredValue": "Baru"}]}, "strict": False}
    client.spreadsheet_batch_update(env.spreadsheet_id, [
        {"repeatCell": {"range": {"sheetId": sheet_id, "startRowIndex": 1, "startColumnIndex": 0, "endColumnIndex": 1},
                        "cell": {"userEnteredFormat": {"numberFormat": {"type": "DATE_TIME", "pattern": "yyyy"}}},
                        "fields": "userEnteredFormat.numberFormat"}},
        {"setDataValidation": {"range": {"sheetId": sheet_id, "startRowIndex": 1, "startColumnIndex": 1,
                                         "endColumnIndex": 2}, "rule": rule}},
        {"addProtectedRange": {"protectedRange": {"range": {"sheetId": sheet_id, "startRowIndex": 1,
                                                            "startColumnIndex": 2, "endColumnIndex": 3}}}},
        {"appendDimension": {"sheetId": sheet_id, "dimension": "ROWS", "length": 5}},
    ], idempotent=False)
    assert sheet.fmt_of(9, 0)["type"] == "DATE_TIME" and sheet.validation_at(9, 1) == rule
    assert sheet.fmt_of(12, 0) is None and sheet.validation_at(12, 1) is None  # rows added later: nothing
    ss = env.fake.book(env.spreadsheet_id)
    assert not env.fake.may_edit(ss, sheet, 12, 2, who=STAFF)  # the unbounded protection reaches them
    (stored,) = sheet.protected_ranges
    assert "endRowIndex" not in stored["range"]


# -- formulas typed by staff ------------------------------------------------------------------------
# valueRenderOption: FORMATTED_VALUE / UNFORMATTED_VALUE return "calculated" values; only
# FORMULA returns the formula (ValueRenderOption in sheets.v4.json).
def test_a_formula_typed_by_staff_reads_back_as_its_value(env, api):
    client, _ = api
    env.fake.staff_set(env.spreadsheet_id, "Sheet1", "A1", '="Sudah ditangani"')
    env.fake.staff_set(env.spreadsheet_id, "Sheet1", "B1", "=2*3")
    (shown,) = client.batch_get(env.spreadsheet_id, ["Sheet1!A1:B1"], render="UNFORMATTED_VALUE")
    assert shown["values"] == [["Sudah ditangani", 6]]
    (typed,) = client.batch_get(env.spreadsheet_id, ["Sheet1!A1:B1"], render="FORMULA")
    assert typed["values"] == [['="Sudah ditangani"', "=2*3"]]
