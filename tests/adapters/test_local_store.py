"""The embedded store: durable, WAL, safe under several writing processes."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from pathlib import Path

import pytest

from functions.model import StorageUnavailable
from functions.schema import load_schema
from functions.stores.local import LocalContactBook, LocalWorkbook, prepare_dir
from functions.stores.port import CellUpdate, NewCase
from tests.fakes.clock import WIB

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 2, 8, 0, tzinfo=WIB)


def row(ticket: str, text: str = "jalan rusak") -> dict:
    return {"ticket_id": ticket, "received_at": T0, "channel": "WhatsApp", "text": text, "status": "Baru",
            "sla": "Berjalan", "deadline": T0}


@pytest.fixture
def wb(tmp_path):
    w = LocalWorkbook(tmp_path / "workbook.sqlite", load_schema())
    w.bootstrap()
    return w


def test_database_runs_in_wal_mode(wb, tmp_path):
    conn = sqlite3.connect(tmp_path / "workbook.sqlite")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_rows_keep_their_types_and_survive_reopening(wb, tmp_path):
    wb.append([NewCase("PUTR", row("KMC-261102-AAAAA", "=1+1"))])
    again = LocalWorkbook(tmp_path / "workbook.sqlite", load_schema())
    case = again.find("KMC-261102-AAAAA")
    assert case.tab == "PUTR"
    assert case.row["text"] == "=1+1"
    assert case.row["received_at"] == T0 and case.row["received_at"].utcoffset().total_seconds() == 7 * 3600
    assert case.row["responded_at"] is None and case.row["response"] == ""


def test_append_is_idempotent_on_ticket(wb):
    assert wb.append([NewCase("PUTR", row("KMC-261102-AAAAA"))]) == [True]
    assert wb.append([NewCase("DLH", row("KMC-261102-AAAAA"))]) == [False]
    tabs = wb.read_all()
    assert [r["ticket_id"] for r in tabs["PUTR"]] == ["KMC-261102-AAAAA"] and tabs["DLH"] == []


def test_unknown_tab_is_refused_and_nothing_written(wb):
    with pytest.raises(ValueError):
        wb.append([NewCase("PUTR", row("KMC-261102-AAAAA")), NewCase("NOPE", row("KMC-261102-BBBBB"))])
    assert wb.find("KMC-261102-AAAAA") is None


def test_updates_find_rows_by_ticket_after_staff_sort(wb):
    wb.append([NewCase("PUTR", row(f"KMC-261102-{c * 5}", f"aduan {c}")) for c in "ABC"])
    wb.sort_tab("PUTR", "text", reverse=True)
    assert [r["text"] for r in wb.read_all()["PUTR"]] == ["aduan C", "aduan B", "aduan A"]
    report = wb.update([CellUpdate("KMC-261102-BBBBB", {"sla": "Tepat Waktu"}),
                        CellUpdate("KMC-261102-ZZZZZ", {"sla": "Terlambat"})])
    assert report.written == 1 and report.missing == ["KMC-261102-ZZZZZ"]
    assert {r["ticket_id"]: r["sla"] for r in wb.read_all()["PUTR"]}["KMC-261102-BBBBB"] == "Tepat Waktu"


def test_system_writes_cannot_touch_staff_cells_and_staff_cannot_touch_system_cells(wb):
    wb.append([NewCase("PUTR", row("KMC-261102-AAAAA"))])
    with pytest.raises(ValueError):
        wb.update([CellUpdate("KMC-261102-AAAAA", {"response": "x"})])
    with pytest.raises(ValueError):
        wb.update([CellUpdate("KMC-261102-AAAAA", {"sla": "Tepat Waktu"})], staff=True)
    assert wb.update([CellUpdate("KMC-261102-AAAAA", {"response": "sudah"})], staff=True).written == 1


def test_move_and_delete(wb):
    wb.append([NewCase("PUTR", row("KMC-261102-AAAAA"))])
    assert wb.move("KMC-261102-AAAAA", "PERKIM", {"note": "diteruskan"})
    assert wb.find("KMC-261102-AAAAA").tab == "PERKIM"
    assert wb.delete(["KMC-261102-AAAAA"]) == 1 and wb.find("KMC-261102-AAAAA") is None


def test_log_records_each_key_once(wb):
    from functions.stores.port import LogEntry

    assert wb.log_add(LogEntry("digest", "2026-11-02", T0)) is True
    assert wb.log_add(LogEntry("digest", "2026-11-02", T0)) is False
    assert wb.log_has("digest", "2026-11-02") and not wb.log_has("digest", "2026-11-03")


def test_bootstrap_is_idempotent_and_keeps_data(wb):
    wb.append([NewCase("PUTR", row("KMC-261102-AAAAA"))])
    assert wb.bootstrap() == []
    assert wb.find("KMC-261102-AAAAA") is not None
    assert [k for k, _ in wb.tabs()][:2] == ["TRIASE", "PUTR"]


def _append_many(args):
    path, worker, count = args
    w = LocalWorkbook(Path(path), load_schema())
    for i in range(count):
        w.append([NewCase("PUTR" if i % 2 else "DLH", row(f"KMC-261102-W{worker}{i:03d}"))])
    return count


def test_several_processes_appending_at_once_lose_and_duplicate_nothing(wb, tmp_path):
    workers, each = 4, 40
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_append_many, [(str(tmp_path / "workbook.sqlite"), w, each) for w in range(workers)]))
    tickets = [r["ticket_id"] for rows in wb.read_all().values() for r in rows]
    assert len(tickets) == workers * each
    assert len(set(tickets)) == workers * each


CRASH_SCRIPT = """
import os, sys
sys.path.insert(0, {root!r})
from pathlib import Path
from functions.schema import load_schema
from functions.stores.local import LocalWorkbook
from functions.stores.port import NewCase
from tests.adapters.test_local_store import row
wb = LocalWorkbook(Path({path!r}), load_schema())
wb.append([NewCase("PUTR", row("KMC-261102-CMMTD"))])
with wb.db.connect(write=True) as conn:
    conn.execute("INSERT INTO rows (tab, position, ticket_id, cells) VALUES ('PUTR', 99, 'KMC-261102-HALFW', '{{}}')")
    os._exit(9)  # the process dies mid-transaction
"""


def test_a_crash_mid_write_loses_nothing_committed_and_leaves_no_half_write(wb, tmp_path):
    path = tmp_path / "workbook.sqlite"
    result = subprocess.run([sys.executable, "-c", CRASH_SCRIPT.format(root=str(ROOT), path=str(path))])
    assert result.returncode == 9
    assert wb.find("KMC-261102-CMMTD") is not None
    assert wb.find("KMC-261102-HALFW") is None


def test_contacts_live_in_their_own_file(tmp_path):
    from functions.model import Contact
    from functions.stores.port import ContactRecord

    book = LocalContactBook(tmp_path / "contacts.sqlite")
    book.put(ContactRecord("KMC-261102-AAAAA", "WhatsApp", Contact("Budi Santoso", "081328383222", "6281328383222"), T0))
    assert book.get("KMC-261102-AAAAA").contact.phone == "081328383222"
    assert book.latest_for("6281328383222", T0).ticket_id == "KMC-261102-AAAAA"
    assert book.forget("081328383222") == ["KMC-261102-AAAAA"]
    assert book.get("KMC-261102-AAAAA").contact.phone == ""


def test_unwritable_data_dir_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StorageUnavailable, match="tidak dapat ditulisi"):
        prepare_dir(blocker / "data")
