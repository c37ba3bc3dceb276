"""`archive --before DATE`: closed cases move to a yearly archive; nothing open, recent or lost."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pytest

from functions.config import Settings
from functions.schema import load_schema
from functions.cli import archive_command as main_archive
from functions.services.archive import archive_closed, is_closed
from functions.stores.local import LocalWorkbook
from functions.stores.port import CellUpdate, NewCase
from tests.adapters.sheets_env import sheets_env
from tests.fakes.clock import WIB

OLD = datetime(2025, 12, 30, 9, 0, tzinfo=WIB)
NEW = datetime(2026, 1, 5, 9, 0, tzinfo=WIB)


def case(ticket, at, status="Baru", sla="Berjalan", response=""):
    return {"ticket_id": ticket, "received_at": at, "channel": "WhatsApp", "text": f"aduan {ticket}",
            "status": status, "sla": sla, "response": response, "deadline": at + timedelta(hours=48)}


CASES = [
    ("PUTR", case("KMC-251230-DONE1", OLD, status="Selesai", sla="Tepat Waktu", response="sudah")),
    ("DLH", case("KMC-251230-LATE1", OLD - timedelta(days=400), status="Diproses", sla="Terlambat Ditanggapi",
                 response="maaf terlambat")),
    ("PUTR", case("KMC-251230-OPEN1", OLD, status="Diproses", sla="Terlambat")),  # overdue, unanswered
    ("PUTR", case("KMC-251230-NORSP", OLD, sla="Tepat Waktu")),  # no response: not closed
    ("DLH", case("KMC-260105-DONE2", NEW, status="Selesai", response="ok")),  # after the cut-off
]


@pytest.mark.parametrize("row,closed", [
    ({"status": "Selesai"}, True),
    ({"sla": "Tepat Waktu", "response": "ok"}, True),
    ({"sla": "Terlambat Ditanggapi", "response": "ok"}, True),
    ({"sla": "Tepat Waktu", "response": "  "}, False),
    ({"status": "Diproses", "sla": "Terlambat"}, False),
    ({"status": "Bukan Wewenang"}, False),
])
def test_what_counts_as_closed(row, closed):
    assert is_closed(row) is closed


@pytest.fixture(params=["local", "google"])
def stores(request, tmp_path):
    """(live workbook, year -> archive workbook, a fresh view of the archive)."""
    schema = load_schema()
    if request.param == "local":
        live = LocalWorkbook(tmp_path / "workbook.sqlite", schema)
        live.bootstrap()
        yield live, lambda year: LocalWorkbook(tmp_path / f"archive-{year}.sqlite", schema)
    else:
        with sheets_env() as env:
            live = env.workbook()
            live.bootstrap()
            books: dict[int, object] = {}

            def archive(year):
                if year not in books:
                    sid = env.fake.create(f"KMC Aduan Arsip {year}")
                    books[year] = type(live)(live.client, sid, schema, clock=env.time.clock, sleep=env.time.sleep)
                return books[year]
            yield live, archive
            assert env.fake.formulas_written == []


def test_closed_cases_before_the_date_move_to_their_years_archive(stores):
    live, archive = stores
    live.append([NewCase(tab, row) for tab, row in CASES])
    report = archive_closed(live, archive, date(2026, 1, 1), tz=WIB)
    assert dict(report.moved) == {2024: 1, 2025: 1} and report.removed == 2
    left = {r["ticket_id"] for rows in live.read_all().values() for r in rows}
    assert left == {"KMC-251230-OPEN1", "KMC-251230-NORSP", "KMC-260105-DONE2"}
    moved = archive(2025).find("KMC-251230-DONE1")
    assert moved.tab == "PUTR" and moved.row["response"] == "sudah" and moved.row["received_at"] == OLD
    assert archive(2024).find("KMC-251230-LATE1").tab == "DLH"
    again = archive_closed(live, archive, date(2026, 1, 1), tz=WIB)
    assert again.total == 0


def test_dry_run_moves_nothing(stores):
    live, archive = stores
    live.append([NewCase(tab, row) for tab, row in CASES])
    report = archive_closed(live, archive, date(2026, 1, 1), tz=WIB, dry_run=True)
    assert report.total == 2 and "akan dipindahkan" in report.lines()[0]
    assert sum(len(r) for r in live.read_all().values()) == len(CASES)


def test_an_interrupted_run_is_finished_by_the_next_without_duplicates(stores):
    live, archive = stores
    live.append([NewCase(tab, row) for tab, row in CASES])
    # the previous run copied one case and died before removing it from the live workbook
    archive(2025).bootstrap()
    archive(2025).append([NewCase("PUTR", CASES[0][1])])
    report = archive_closed(live, archive, date(2026, 1, 1), tz=WIB)
    assert report.already_archived == 1 and report.removed == 2
    assert [r["ticket_id"] for r in archive(2025).read_all()["PUTR"]] == ["KMC-251230-DONE1"]


def test_staff_answer_after_archiving_starts_is_never_lost(stores):
    """The archive copies what it read; a case that is not closed yet stays live."""
    live, archive = stores
    live.append([NewCase(tab, row) for tab, row in CASES])
    live.update([CellUpdate("KMC-251230-OPEN1", {"status": "Selesai", "response": "beres"})], staff=True)
    archive_closed(live, archive, date(2026, 1, 1), tz=WIB)
    assert archive(2025).find("KMC-251230-OPEN1").row["response"] == "beres"


@dataclass
class FakeServices:
    settings: Settings
    schema: object
    workbook: object
    attachments: object = None  # no media kit: the archive moves rows only

    def now(self):
        return NEW


def test_cli_archive_on_the_local_backend_writes_a_yearly_file(tmp_path, capsys):
    settings = Settings.from_env({"KMC_DATA_DIR": str(tmp_path)})
    live = LocalWorkbook(tmp_path / "workbook.sqlite", load_schema())
    live.bootstrap()
    live.append([NewCase(tab, row) for tab, row in CASES])
    assert main_archive(FakeServices(settings, load_schema(), live), "2026-01-01") == 0
    assert "2 kasus dipindahkan" in capsys.readouterr().out
    assert (tmp_path / "archive-2025.sqlite").exists() and (tmp_path / "archive-2024.sqlite").exists()
    assert main_archive(FakeServices(settings, load_schema(), live), "1 Januari") == 2


def test_cli_archive_on_google_creates_the_yearly_spreadsheet_once_and_remembers_it(capsys):
    with sheets_env() as env:
        live = env.workbook()
        live.bootstrap()
        live.append([NewCase(tab, row) for tab, row in CASES])
        settings = Settings.from_env({"KMC_BACKEND": "google", "KMC_SPREADSHEET_ID": env.spreadsheet_id,
                                      "KMC_CONTACTS_SPREADSHEET_ID": env.contacts_id})
        services = FakeServices(settings, env.schema, live)
        assert main_archive(services, "2026-01-01") == 0
        titles = sorted(ss.title for ss in env.fake.spreadsheets.values())
        assert "KMC Aduan Arsip 2025" in titles and "KMC Aduan Arsip 2024" in titles
        assert "Spreadsheet arsip dibuat" in capsys.readouterr().out
        live.update([CellUpdate("KMC-251230-OPEN1", {"status": "Selesai", "response": "beres"})], staff=True)
        assert main_archive(services, "2026-01-01") == 0
        assert sorted(ss.title for ss in env.fake.spreadsheets.values()) == titles  # reused, not created again
        (arsip,) = [ss for ss in env.fake.spreadsheets.values() if ss.title == "KMC Aduan Arsip 2025"]
        assert env.fake.values(arsip.spreadsheet_id, "PUTR")[1][0] == "KMC-251230-DONE1"
        assert [r[0] for r in env.fake.values(arsip.spreadsheet_id, "PUTR")[1:]] == ["KMC-251230-DONE1", "KMC-251230-OPEN1"]


def test_cli_archive_uses_a_given_spreadsheet(capsys):
    with sheets_env() as env:
        live = env.workbook()
        live.bootstrap()
        live.append([NewCase(tab, row) for tab, row in CASES[:1]])
        given = env.fake.create("Arsip yang disiapkan TI")
        settings = Settings.from_env({"KMC_BACKEND": "google", "KMC_SPREADSHEET_ID": env.spreadsheet_id,
                                      "KMC_CONTACTS_SPREADSHEET_ID": env.contacts_id,
                                      "KMC_ARCHIVE_SPREADSHEET_2025": given})
        assert main_archive(FakeServices(settings, env.schema, live), "2026-01-01") == 0
        assert env.fake.values(given, "PUTR")[1][0] == "KMC-251230-DONE1"
        assert len(env.fake.spreadsheets) == 3  # nothing created
