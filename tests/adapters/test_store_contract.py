"""One contract, two stores: the embedded SQLite store and the gspread adapter on the fake Sheets API.

Whatever a service can observe through the Workbook and ContactBook ports must be the same on
both, including after staff sorted, inserted, deleted or blanked rows in between.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from functions.model import Contact
from functions.schema import load_schema
from functions.stores.local import LocalContactBook, LocalWorkbook
from functions.stores.port import CellUpdate, ContactRecord, LogEntry, NewCase
from tests.adapters.sheets_env import sheets_env
from tests.fakes.clock import WIB

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=WIB)


def row(ticket: str, text: str = "jalan rusak di Delta Pawan", minutes: int = 0, **extra) -> dict:
    at = T0 + timedelta(minutes=minutes)
    return {"ticket_id": ticket, "received_at": at, "channel": "WhatsApp", "reporter": "B. S.",
            "contact": "0812****7890", "text": text, "category": "jalan", "sentiment": "Negatif",
            "status": "Baru", "sla": "Berjalan", "deadline": at + timedelta(hours=48), **extra}


class LocalStore:
    name = "local"

    def __init__(self, tmp_path):
        self.dir = tmp_path
        self.wb = self.reopen()
        self.wb.bootstrap()
        self.contacts = LocalContactBook(tmp_path / "contacts.sqlite")

    def reopen(self):
        return LocalWorkbook(self.dir / "workbook.sqlite", load_schema())

    # what staff do by hand; the SQLite store has no blank rows to insert
    def sort(self, tab, key, reverse=False):
        self.wb.sort_tab(tab, key, reverse)

    def insert_blank_rows(self, tab, before_ticket, n=2):
        pass

    def delete_row(self, tab, ticket):
        self.wb.delete([ticket])


class GoogleStore:
    name = "google"

    def __init__(self, env):
        self.env = env
        self.wb = env.workbook()
        self.wb.bootstrap()
        self.contacts = env.contacts()

    def reopen(self):
        return self.env.workbook()

    def sort(self, tab, key, reverse=False):
        self.env.fake.staff_sort(self.env.spreadsheet_id, self.env.title(tab), self.env.col(key), reverse)

    def insert_blank_rows(self, tab, before_ticket, n=2):
        at = self.env.fake.find_row(self.env.spreadsheet_id, self.env.title(tab), before_ticket)
        self.env.fake.staff_insert_rows(self.env.spreadsheet_id, self.env.title(tab), at, n)

    def delete_row(self, tab, ticket):
        at = self.env.fake.find_row(self.env.spreadsheet_id, self.env.title(tab), ticket)
        self.env.fake.staff_delete_row(self.env.spreadsheet_id, self.env.title(tab), at)


@pytest.fixture(params=["local", "google"])
def store(request, tmp_path):
    if request.param == "local":
        yield LocalStore(tmp_path)
    else:
        with sheets_env() as env:
            yield GoogleStore(env)
            assert env.fake.formulas_written == [], "a formula reached the sheet"


def tickets(tab_rows):
    return [r["ticket_id"] for r in tab_rows]


def test_append_then_find_keeps_types_and_text_as_data(store):
    nasty = "=IMPORTXML(\"http://x\",\"//a\") +62 812-3456-7890 @admin"
    assert store.wb.append([NewCase("PUTR", row("KMC-261102-AAAAA", nasty, contact="081234567890"))]) == [True]
    case = store.wb.find("KMC-261102-AAAAA")
    assert case.tab == "PUTR"
    assert case.row["text"] == nasty
    assert case.row["contact"] == "081234567890"  # a phone number stays a string with its 0
    assert case.row["received_at"] == T0 and case.row["received_at"].utcoffset() == timedelta(hours=7)
    assert case.row["deadline"] == T0 + timedelta(hours=48)
    assert case.row["responded_at"] is None and case.row["response"] == ""
    assert store.wb.find("KMC-261102-ZZZZZ") is None


def test_re_append_of_the_same_ticket_creates_no_duplicate(store):
    assert store.wb.append([NewCase("PUTR", row("KMC-261102-AAAAA"))]) == [True]
    assert store.wb.append([NewCase("PUTR", row("KMC-261102-AAAAA"))]) == [False]
    assert store.wb.append([NewCase("DLH", row("KMC-261102-AAAAA"))]) == [False]
    # another instance (cold cache), as a redelivery to another Cloud Functions instance
    other = store.reopen()
    assert other.find("KMC-261102-AAAAA").tab == "PUTR"
    assert other.append([NewCase("PUTR", row("KMC-261102-AAAAA"))]) == [False]
    both = store.wb.append([NewCase("PUTR", row("KMC-261102-BBBBB")), NewCase("PUTR", row("KMC-261102-BBBBB"))])
    assert both == [True, False]
    tabs = store.wb.read_all()
    assert tickets(tabs["PUTR"]) == ["KMC-261102-AAAAA", "KMC-261102-BBBBB"] and tabs["DLH"] == []


def test_unknown_tab_is_refused_and_nothing_written(store):
    with pytest.raises(ValueError):
        store.wb.append([NewCase("PUTR", row("KMC-261102-AAAAA")), NewCase("NOPE", row("KMC-261102-BBBBB"))])
    assert store.wb.find("KMC-261102-AAAAA") is None


def test_read_all_lists_every_tab_in_schema_order_and_rows_in_sheet_order(store):
    store.wb.append([NewCase("DLH", row("KMC-261102-CCCCC", minutes=2)),
                     NewCase("PUTR", row("KMC-261102-AAAAA", minutes=0)),
                     NewCase("PUTR", row("KMC-261102-BBBBB", minutes=1))])
    tabs = store.wb.read_all()
    assert list(tabs) == [o.key for o in load_schema().opds]
    assert tickets(tabs["PUTR"]) == ["KMC-261102-AAAAA", "KMC-261102-BBBBB"]
    assert tickets(tabs["DLH"]) == ["KMC-261102-CCCCC"]
    assert tabs["TRIASE"] == []
    assert set(tabs["PUTR"][0]) >= set(load_schema().column_keys)


def test_update_finds_rows_by_ticket_after_staff_sort_insert_delete_and_blank_rows(store):
    ids = [f"KMC-261102-{c * 5}" for c in "ABCDE"]
    store.wb.append([NewCase("PUTR", row(t, f"aduan {t}", minutes=i)) for i, t in enumerate(ids)])
    seen = store.wb.read_all()["PUTR"]  # the job reads ...
    store.sort("PUTR", "ticket_id", reverse=True)  # ... staff reorder, insert, delete ...
    store.insert_blank_rows("PUTR", ids[2], n=2)
    store.delete_row("PUTR", ids[4])
    report = store.wb.update([  # ... and the job writes what it decided from its read
        CellUpdate(r["ticket_id"], {"sla": "Terlambat", "note": f"catatan {r['ticket_id']}"}, tab="PUTR") for r in seen
    ])
    assert report.written == 4 and report.missing == [ids[4]]
    after = {r["ticket_id"]: r for r in store.wb.read_all()["PUTR"]}
    assert sorted(after) == sorted(ids[:4])  # blank rows skipped, nothing duplicated
    for t in ids[:4]:
        assert after[t]["note"] == f"catatan {t}" and after[t]["text"] == f"aduan {t}"
        assert after[t]["sla"] == "Terlambat"


def test_system_and_staff_writes_touch_only_their_own_columns(store):
    store.wb.append([NewCase("PUTR", row("KMC-261102-AAAAA"))])
    with pytest.raises(ValueError):
        store.wb.update([CellUpdate("KMC-261102-AAAAA", {"response": "diperbaiki"})])
    with pytest.raises(ValueError):
        store.wb.update([CellUpdate("KMC-261102-AAAAA", {"sla": "Tepat Waktu"})], staff=True)
    staff = store.wb.update([CellUpdate("KMC-261102-AAAAA", {"status": "Selesai", "response": "Sudah ditambal",
                                                             "responder": "Andi"})], staff=True)
    responded = T0 + timedelta(hours=3, minutes=5, seconds=7)
    system = store.wb.update([CellUpdate("KMC-261102-AAAAA", {"responded_at": responded, "sla": "Tepat Waktu"})])
    assert staff.written == system.written == 1
    case = store.wb.find("KMC-261102-AAAAA").row
    assert (case["status"], case["response"], case["responder"]) == ("Selesai", "Sudah ditambal", "Andi")
    assert case["responded_at"] == responded and case["sla"] == "Tepat Waktu"
    assert case["text"] == "jalan rusak di Delta Pawan"  # untouched
    assert store.wb.update([CellUpdate("KMC-261102-NOPE0", {"sla": "Terlambat"})]).missing == ["KMC-261102-NOPE0"]


def test_clearing_a_datetime_cell(store):
    store.wb.append([NewCase("PUTR", row("KMC-261102-AAAAA"))])
    store.wb.update([CellUpdate("KMC-261102-AAAAA", {"reply_sent_at": T0})])
    store.wb.update([CellUpdate("KMC-261102-AAAAA", {"reply_sent_at": None})])
    assert store.wb.find("KMC-261102-AAAAA").row["reply_sent_at"] is None


def test_move_forwards_a_case_with_its_data(store):
    store.wb.append([NewCase("PUTR", row("KMC-261102-AAAAA")), NewCase("PUTR", row("KMC-261102-BBBBB"))])
    store.wb.update([CellUpdate("KMC-261102-AAAAA", {"forward_to": "DLH", "response": "bukan kami"})], staff=True)
    assert store.wb.move("KMC-261102-AAAAA", "DLH", {"forward_to": "", "note": "diteruskan dari PUTR"}) is True
    moved = store.wb.find("KMC-261102-AAAAA")
    assert moved.tab == "DLH"
    assert moved.row["note"] == "diteruskan dari PUTR" and moved.row["forward_to"] == ""
    assert moved.row["text"] == "jalan rusak di Delta Pawan" and moved.row["received_at"] == T0
    tabs = store.wb.read_all()
    assert tickets(tabs["PUTR"]) == ["KMC-261102-BBBBB"] and tickets(tabs["DLH"]) == ["KMC-261102-AAAAA"]
    assert store.wb.move("KMC-261102-ZZZZZ", "DLH", {}) is False
    with pytest.raises(ValueError):
        store.wb.move("KMC-261102-BBBBB", "NOPE", {})


def test_delete_removes_rows_and_counts_them(store):
    store.wb.append([NewCase("PUTR", row("KMC-261102-AAAAA")), NewCase("PUTR", row("KMC-261102-BBBBB")),
                     NewCase("DLH", row("KMC-261102-CCCCC"))])
    assert store.wb.delete(["KMC-261102-AAAAA", "KMC-261102-CCCCC", "KMC-261102-NOPE0"]) == 2
    assert store.wb.find("KMC-261102-AAAAA") is None
    tabs = store.wb.read_all()
    assert tickets(tabs["PUTR"]) == ["KMC-261102-BBBBB"] and tabs["DLH"] == []
    assert store.wb.delete(["KMC-261102-AAAAA"]) == 0
    # a deleted ticket may come back (archive restore): it is not remembered as present
    assert store.wb.append([NewCase("PUTR", row("KMC-261102-AAAAA"))]) == [True]


def test_log_records_once(store):
    at = T0 + timedelta(days=1)
    assert store.wb.log_has("digest", "2026-11-03") is False
    assert store.wb.log_add(LogEntry("digest", "2026-11-03", at, "7 penerima")) is True
    assert store.wb.log_add(LogEntry("digest", "2026-11-03", at)) is False
    assert store.wb.log_add(LogEntry("reminder", "KMC-261102-AAAAA", at)) is True
    assert store.wb.log_has("digest", "2026-11-03") and not store.wb.log_has("digest", "2026-11-04")
    assert store.reopen().log_has("digest", "2026-11-03")
    digests = store.wb.log_entries("digest")
    assert [(e.key, e.at, e.detail) for e in digests] == [("2026-11-03", at, "7 penerima")]
    assert {e.kind for e in store.wb.log_entries()} == {"digest", "reminder"}


def test_contacts_put_get_latest_and_forget(store):
    c = store.contacts
    budi = Contact("Budi Santoso", "081234567890", "6281234567890")
    first = ContactRecord("KMC-261102-AAAAA", "WhatsApp", budi, T0)
    second = ContactRecord("KMC-261102-BBBBB", "WhatsApp", budi, T0 + timedelta(minutes=10))
    other = ContactRecord("KMC-261102-CCCCC", "Formulir Web", Contact("Sari", "", "", "sari@example.com"), T0)
    for r in (first, second, other):
        c.put(r)
    assert c.get("KMC-261102-AAAAA") == first
    assert c.get("KMC-261102-NOPE0") is None
    assert c.latest_for("6281234567890", T0).ticket_id == "KMC-261102-BBBBB"
    assert c.latest_for("6281234567890", T0 + timedelta(minutes=11)) is None
    assert c.latest_for("", T0) is None
    c.put(first)  # a redelivery writes the same record again: still one answer
    assert c.get("KMC-261102-AAAAA") == first
    assert sorted(c.forget("081234567890")) == ["KMC-261102-AAAAA", "KMC-261102-BBBBB"]
    gone = c.get("KMC-261102-AAAAA").contact
    assert (gone.name, gone.phone, gone.channel_user_id, gone.anonymous) == ("", "", "", True)
    assert c.get("KMC-261102-CCCCC").contact.email == "sari@example.com"
    assert c.forget("KMC-261102-CCCCC") == ["KMC-261102-CCCCC"]
    assert c.get("KMC-261102-CCCCC").contact.email == ""
    assert c.forget("089999999999") == []


def test_bootstrap_again_changes_no_data(store):
    store.wb.append([NewCase("PUTR", row("KMC-261102-AAAAA"))])
    store.wb.update([CellUpdate("KMC-261102-AAAAA", {"response": "ok"})], staff=True)
    before = store.wb.read_all()
    store.wb.bootstrap()
    assert store.wb.read_all() == before


def test_rute_tab_is_seeded_once_and_read_back_as_admins_see_it(store):
    from functions.routing import load_rules, rules_to_rows

    assert store.wb.read_rules() == []  # no Rute tab yet: the router uses the shipped rules
    rows = rules_to_rows(load_rules())
    assert store.wb.seed_rules(rows) is True
    assert store.wb.read_rules() == rows
    assert store.wb.seed_rules(rows[:1]) is False  # admins' rules are never overwritten
    assert len(store.reopen().read_rules()) == len(rows)


def test_routing_model_is_kept_whole_across_instances_and_replaced_whole(store):
    """The learned model survives a restart (a new store instance), larger than one Sheets cell
    (50,000 characters, Google Sheets' per-cell limit), and a shorter model replaces a longer one
    without leftovers."""
    assert store.wb.read_routing_model() is None  # nothing learned yet: rules alone
    big = '{"format":"x","pad":"' + "kata " * 30_000 + '"}'  # 150,000 characters: several cells
    store.wb.write_routing_model(big)
    assert store.reopen().read_routing_model() == big
    small = '{"format":"y"}'
    store.wb.write_routing_model(small)
    assert store.reopen().read_routing_model() == small


def test_routing_model_tab_is_hidden_and_each_cell_under_the_sheets_limit():
    with sheets_env() as env:
        wb = env.workbook()
        wb.bootstrap()
        wb.write_routing_model("é" * 120_000)
        sheet = env.fake.sheet(env.spreadsheet_id, "Model Rute")
        assert sheet.properties()["hidden"] is True
        cells = [c for r in env.fake.values(env.spreadsheet_id, "Model Rute") for c in r]
        assert max(len(str(c)) for c in cells) <= 50_000
        assert env.workbook().read_routing_model() == "é" * 120_000
        assert [t for t in wb.read_all()] == [t for t in env.workbook().read_all()]
        assert "Model Rute" not in wb.read_all()  # never mistaken for an OPD tab


def test_a_routing_model_edited_by_hand_in_the_sheet_reads_as_corrupt():
    with sheets_env() as env:
        wb = env.workbook()
        wb.bootstrap()
        wb.write_routing_model('{"format":"kmc-routing-model/1","classes":["PUTR"]}')
        env.fake.staff_set(env.spreadsheet_id, "Model Rute", "A2", '{"format":"diubah"}', respect_protection=False)
        with pytest.raises(ValueError, match="checksum"):
            env.workbook().read_routing_model()


def test_a_longer_model_grows_the_model_tab_instead_of_failing():
    with sheets_env() as env:
        wb = env.workbook()
        wb.bootstrap()
        wb.write_routing_model("a" * 10)
        rows_before = env.fake.sheet(env.spreadsheet_id, "Model Rute").row_count
        longer = "b" * (45_000 * (rows_before + 5))  # more chunks than the tab has rows
        wb.write_routing_model(longer)
        assert env.workbook().read_routing_model() == longer
