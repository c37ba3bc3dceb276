"""Staff chaos: while complaints arrive and the jobs run (threads), a staff member does what
people do in a shared spreadsheet — sorts tabs, inserts and deletes rows, clears cells, types
free text into dropdowns, answers, forwards, renames a header.

Property: no case lost, none duplicated, none misplaced (a case is in the tab it was routed to,
or in the tab staff forwarded it to), and what the system could not understand is reported in
the leaders' digest.
"""
from __future__ import annotations

import contextlib
import email
import random
import threading
import time
from email import policy

import pytest

from functions.services.jobs import daily_job, sweep_job
from functions.stores.port import CellUpdate
from functions.services.intake import intake
from tests.conftest import complaint
from tests.fakes import meta_payloads as mp
from tests.fakes.fake_sheets import col_letter
from tests.reliability.harness import assert_sheet_invariants, google_stack

TEXTS = [
    ("Jalan di Desa Sandai Kiri rusak parah dan berlubang, motor sering jatuh", "PUTR"),
    ("Sampah menumpuk di depan Pasar Kota sudah seminggu tidak diangkut", "DLH"),
    ("Lampu PJU di Jalan Gajah Mada mati semua, gelap dan rawan", "DISHUB"),
    ("Air PDAM tidak mengalir tiga hari di Kelurahan Sampit", "PDAM"),
]
FORWARD_TO = ["DLH", "PUTR", "DINSOS", "TRIASE"]
FREE_TEXT_FORWARD = "Dinas PU bagian jalan"
FREE_TEXT_STATUS = "sudah beres pak"
RENAMED = ("Petugas", "Nama Petugas")


def digest_texts(outbox) -> list[str]:
    out = []
    for path in sorted(outbox.glob("*.eml")):
        msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        if "rekap" in str(msg["Subject"]).lower():
            out.append(msg.get_body(("plain",)).get_content())
    return out


def assert_reported(digest: str, tickets, workbook) -> None:
    """Each ticket's unknown-OPD note is in the digest, or the digest (which shows 20 notes) says
    there are more and the note is in the Log it points to."""
    logged = " ".join(e.detail for e in workbook.log_entries("problem"))
    for ticket in tickets:
        if ticket not in digest:
            assert "catatan lainnya (lihat tab Log)" in digest and f"{ticket} (" in logged, ticket
    assert not tickets or FREE_TEXT_FORWARD in digest


class Staff:
    """One staff member at the keyboard of the fake Sheets API, acting under its lock."""

    def __init__(self, stack, seed: int):
        self.stack, self.fake, self.sid = stack, stack.fake, stack.env.spreadsheet_id
        self.rng = random.Random(seed)
        self.forwarded: dict[str, str] = {}  # ticket -> OPD key typed into Teruskan ke
        self.free_text: set[str] = set()  # tickets with an unknown OPD typed into Teruskan ke
        self.renamed: str | None = None
        self.actions: list[str] = []
        self.tabs = [key for _, key in TEXTS] + ["TRIASE", "DINSOS"]

    def title(self, key):
        return self.stack.env.title(key)

    def cases(self, key) -> list[tuple[int, str]]:
        """(1-based row, ticket) of the case rows in a tab now."""
        values = self.fake.values(self.sid, self.title(key))
        return [(r + 1, cells[0]) for r, cells in enumerate(values) if r > 0 and cells and str(cells[0]).strip()]

    def blank_rows(self, key) -> list[int]:
        sheet = self.fake.sheet(self.sid, self.title(key))
        last = sheet.last_data_row()
        return [r + 1 for r in range(1, last + 1) if not sheet.row_has_data(r)]

    def type(self, key, row, column, value) -> None:
        self.fake.staff_set(self.sid, self.title(key), f"{col_letter(self.stack.env.col(column))}{row}", value)

    def act(self) -> None:
        choice = self.rng.random()
        with self.fake.lock:  # between any two requests, also inside a sweep's read-to-write window
            key = self.rng.choice(self.tabs)
            cases = self.cases(key)
            if choice < 0.15:
                self.fake.staff_sort(self.sid, self.title(key), self.rng.randrange(0, 12), self.rng.random() < 0.5)
                self.actions.append("sort")
            elif choice < 0.27:
                at = self.rng.randint(2, len(cases) + 2)
                self.fake.staff_insert_rows(self.sid, self.title(key), at, self.rng.randint(1, 2))
                self.actions.append("insert")
            elif choice < 0.37 and self.blank_rows(key):
                self.fake.staff_delete_row(self.sid, self.title(key), self.rng.choice(self.blank_rows(key)))
                self.actions.append("delete")
            elif choice < 0.40 and self.blank_rows(key):
                self.type(key, self.rng.choice(self.blank_rows(key)), "response", "catatan rapat: cek lapangan")
                self.actions.append("note row")
            elif not cases:
                return
            elif choice < 0.52:
                row, _ = self.rng.choice(cases)
                self.type(key, row, self.rng.choice(["status", "response", "responder", "location"]), "")
                self.actions.append("clear")
            elif choice < 0.64:
                row, _ = self.rng.choice(cases)
                self.type(key, row, "status", FREE_TEXT_STATUS)
                self.actions.append("free text status")
            elif choice < 0.74:
                row, ticket = self.rng.choice(cases)
                if ticket in self.forwarded or ticket in self.free_text:
                    return
                self.type(key, row, "forward_to", FREE_TEXT_FORWARD)
                self.free_text.add(ticket)
                self.actions.append("free text forward")
            elif choice < 0.84:
                row, ticket = self.rng.choice(cases)
                if ticket in self.forwarded or ticket in self.free_text:
                    return
                target = self.rng.choice([k for k in FORWARD_TO if k != key])
                self.type(key, row, "forward_to", target)
                self.forwarded[ticket] = target
                self.actions.append("forward")
            elif choice < 0.95:
                row, _ = self.rng.choice(cases)
                self.type(key, row, "response", "Sudah kami tindak lanjuti, terima kasih.")
                self.type(key, row, "status", "Diproses")
                self.actions.append("answer")
            elif self.renamed is None:
                column = "ABCDEFGHIJKLMNOPQRSTU"[self.stack.env.col("responder")]
                self.fake.staff_set(self.sid, self.title(key), f"{column}1", RENAMED[1], respect_protection=False)
                self.renamed = key
                self.actions.append("rename header")


def test_staff_chaos_on_the_google_sheet_loses_and_misplaces_nothing(tmp_path, clock, long_run):
    n_complaints = 120 if long_run else 36
    with google_stack(tmp_path, clock) as stack:
        route = stack.instance().route
        staff = Staff(stack, seed=7)
        acknowledged: dict[str, str] = {}  # ticket -> the tab intake routed it to
        errors: list[BaseException] = []
        done = threading.Event()

        def guarded(fn):
            def run():
                try:
                    fn()
                except BaseException as e:  # noqa: BLE001 - reported by the test thread
                    errors.append(e)
                    done.set()
            return run

        @guarded
        def citizens():
            app = stack.client()
            for i in range(n_complaints):
                text, _ = TEXTS[i % len(TEXTS)]
                text = f"{text} (laporan {i})" if i % 5 else f"Mohon dibantu, {i}: ada masalah di kampung kami"
                body, headers = mp.signed(mp.whatsapp([mp.wa_text(text, sender=f"62813{i:08d}", at=clock())]))
                reply = app.post("/meta", data=body, headers=headers)
                assert reply.status_code == 200, reply.get_data(as_text=True)
                (ticket,) = reply.json["tickets"]
                acknowledged[ticket] = route(text).opd
                time.sleep(0.002)
            done.set()

        @guarded
        def jobs():  # the sweep every "15 minutes", each run on a cold instance
            while not done.is_set():
                sweep_job(stack.instance())
                time.sleep(0.01)

        @guarded
        def person():
            while not done.is_set():
                staff.act()
                time.sleep(0.003)

        threads = [threading.Thread(target=t) for t in (citizens, jobs, person)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=600)
        assert not errors, errors
        clock.advance(minutes=15)
        for _ in range(20):  # staff go on after the last complaint
            staff.act()
        sweep_job(stack.instance())
        clock.advance(minutes=1)
        daily_job(stack.instance())  # today's digest
        clock.advance(hours=60)
        daily_job(stack.instance())  # two days later: overdue marks, and a digest again

        where = stack.tabs_of()
        assert sorted(where) == sorted(acknowledged), "a case was lost or appeared from nowhere"
        assert all(len(tabs) == 1 for tabs in where.values()), "a case is in two places"
        expected = {t: staff.forwarded.get(t, tab) for t, tab in acknowledged.items()}
        misplaced = {t: (where[t][0], expected[t]) for t in expected if where[t][0] != expected[t]}
        assert not misplaced
        assert_sheet_invariants(stack)

        digest = "\n".join(digest_texts(stack.settings.outbox_dir))
        assert digest, "no digest was sent"
        assert_reported(digest, staff.free_text, stack.instance().workbook)  # the unknown OPDs
        if staff.renamed:
            assert RENAMED[1] in digest  # the renamed header is reported
        assert {"sort", "insert", "clear", "forward", "free text forward", "answer"} <= set(staff.actions)


def test_staff_chaos_on_the_local_store_loses_and_misplaces_nothing(svc, clock, long_run):
    """The embedded store under the same pressure: sorts, cleared cells, free text, forwards."""
    n = 90 if long_run else 30
    rng = random.Random(11)
    acknowledged: dict[str, str] = {}
    forwarded: dict[str, str] = {}
    free_text: set[str] = set()
    errors: list[BaseException] = []
    done = threading.Event()

    def citizens():
        try:
            for i in range(n):
                text, _ = TEXTS[i % len(TEXTS)]
                receipt = intake(svc, complaint(f"{text} ({i})", clock, phone=f"0813{i:08d}", source_id=f"m{i}"))
                acknowledged[receipt.ticket_id] = receipt.opd
        except BaseException as e:  # noqa: BLE001
            errors.append(e)
        finally:
            done.set()

    def jobs():
        try:
            while not done.is_set():
                sweep_job(svc)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    def person():
        try:
            while not done.is_set():
                tabs = svc.workbook.read_all()
                key = rng.choice([k for k, rows in tabs.items() if rows] or ["PUTR"])
                rows = tabs.get(key) or []
                if rng.random() < 0.3 or not rows:
                    svc.workbook.sort_tab(key, rng.choice(["text", "received_at", "status", "ticket_id"]),
                                          rng.random() < 0.5)
                    continue
                ticket = rng.choice(rows)["ticket_id"]
                roll = rng.random()
                if roll < 0.3:
                    values = {rng.choice(["status", "response", "responder"]): ""}
                elif roll < 0.5:
                    values = {"status": FREE_TEXT_STATUS}
                elif roll < 0.65 and ticket not in forwarded and ticket not in free_text:
                    values = {"forward_to": FREE_TEXT_FORWARD}
                    free_text.add(ticket)
                elif roll < 0.8 and ticket not in forwarded and ticket not in free_text:
                    target = rng.choice([k for k in FORWARD_TO if k != key])
                    values = {"forward_to": target}
                    forwarded[ticket] = target
                else:
                    values = {"response": "Sudah ditangani.", "status": "Selesai"}
                svc.workbook.update([CellUpdate(ticket, values)], staff=True)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=t) for t in (citizens, jobs, person)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not errors, errors
    clock.advance(minutes=15)
    sweep_job(svc)
    clock.advance(minutes=1)
    daily_job(svc)
    clock.advance(hours=60)
    daily_job(svc)

    where: dict[str, list[str]] = {}
    for key, rows in svc.workbook.read_all().items():
        for row in rows:
            where.setdefault(row["ticket_id"], []).append(key)
    assert sorted(where) == sorted(acknowledged)
    assert all(len(tabs) == 1 for tabs in where.values())
    expected = {t: forwarded.get(t, tab) for t, tab in acknowledged.items()}
    assert {t: where[t][0] for t in expected} == expected
    digest = "\n".join(digest_texts(svc.settings.outbox_dir))
    assert_reported(digest, free_text, svc.workbook)
    assert forwarded and free_text  # the run did exercise both



# -- a structural edit inside a job's read-then-write window -------------------------------------------
# Sheets has no conditional write: a commit writes at the positions of the job's read. A sort by
# staff landing just before the write shifts the rows under it; the commit's check read sees that
# and puts right what it wrote (docs/security.md, "Sheet integrity"). These tests put a sort there.

def _sort_before(stack, matches):
    fake, fired = stack.fake, []
    real = fake.handle

    def handle(method, url, body):
        raw = body if isinstance(body, (bytes, type(None))) else body.encode()
        if not fired and matches(url, raw or b""):
            fired.append(url)
            # by Isi Aduan, Z to A: the first case (Jalan ...) goes from row 2 to row 3
            fake.staff_sort(stack.env.spreadsheet_id, "PUTR", stack.env.col("text"), reverse=True)
        return real(method, url, body)
    fake.handle = handle
    return fired


def _three_cases(stack, clock):
    app = stack.client()
    tickets = []
    for i, text in enumerate(["Jalan rusak di Desa Sandai Kiri", "Jembatan rusak di Desa Pemahan",
                              "Drainase tersumbat di Jalan Merdeka"]):
        body, headers = mp.signed(mp.whatsapp([mp.wa_text(text, sender=f"6281555{i:06d}", at=clock())]))
        tickets += app.post("/meta", data=body, headers=headers).json["tickets"]
    assert set(stack.tabs_of()) == set(tickets) and {t[0] for t in stack.tabs_of().values()} == {"PUTR"}
    return tickets


def test_a_sort_inside_a_forwards_window_loses_nothing(tmp_path, clock):
    with google_stack(tmp_path, clock) as stack:
        first, *_ = tickets = _three_cases(stack, clock)
        fired = _sort_before(stack, lambda url, body: ":batchUpdate" in url and b"deleteDimension" in body)
        assert stack.instance().workbook.move(first, "DLH", {}) is True
        assert fired
        assert sorted(stack.tabs_of()) == sorted(tickets) and stack.tabs_of()[first] == ["DLH"]


def test_a_sort_inside_an_updates_window_writes_the_right_row(tmp_path, clock):
    with google_stack(tmp_path, clock) as stack:
        first, *_ = _three_cases(stack, clock)
        fired = _sort_before(stack, lambda url, body: ":batchUpdate" in url and b"updateCells" in body)
        stack.instance().workbook.update([CellUpdate(first, {"sla": "Terlambat"})])
        assert fired
        sla, ticket = stack.env.col("sla"), stack.env.col("ticket_id")
        marked = [cells[ticket] for _, cells in stack.rows() if len(cells) > sla and cells[sla] == "Terlambat"]
        assert marked == [first]


def test_a_problem_found_by_the_sweep_running_alongside_the_daily_reaches_the_next_digest_once(svc, clock):
    """Cloud Scheduler fires the 07:00 sweep and the daily together: the sweep may write what it
    could not understand after the daily has read the Log. The next digest reports it, once."""
    from datetime import datetime, timedelta

    from functions.services.staff import staff_edit
    from tests.fakes.clock import WIB

    ticket = intake(svc, complaint("Jalan rusak parah di Desa Sandai Kiri", clock, source_id="a")).ticket_id
    staff_edit(svc.workbook, svc.schema, ticket, [f"forward_to={FREE_TEXT_FORWARD}"], "KMC")
    seven = datetime(2026, 11, 3, 7, 0, tzinfo=WIB)
    daily_job(svc, seven + timedelta(seconds=2))  # the daily read the Log first ...
    sweep_job(svc, seven)  # ... the sweep, started a moment earlier, records its problem after that
    for day in (1, 2):
        daily_job(svc, seven + timedelta(days=day, seconds=2))
    digests = digest_texts(svc.settings.outbox_dir)
    assert [FREE_TEXT_FORWARD in d for d in digests] == [False, True, False]


def test_a_renamed_header_is_reported_once_a_day_not_by_every_sweep(tmp_path, clock):
    """Every sweep that writes sees the renamed header; the leaders should read about it once,
    not 96 times a day (the digest shows 20 notes, so a flood would hide the others)."""
    with google_stack(tmp_path, clock) as stack:
        app = stack.client()
        for i in range(8):
            body, headers = mp.signed(mp.whatsapp([mp.wa_text(f"Jalan rusak parah di Desa Sandai Kiri ({i})",
                                                              sender=f"6281777{i:06d}", at=clock())]))
            assert app.post("/meta", data=body, headers=headers).status_code == 200
        column = "ABCDEFGHIJKLMNOPQRSTU"[stack.env.col("responder")]
        stack.fake.staff_set(stack.env.spreadsheet_id, "PUTR", f"{column}1", RENAMED[1], respect_protection=False)
        stack.fake.staff_set(stack.env.spreadsheet_id, "PUTR", f"{column}2", "x")  # keep it in use
        for row in range(2, 10):  # staff answer one case per quarter hour; each sweep stamps it
            clock.advance(minutes=15)
            col = "ABCDEFGHIJKLMNOPQRSTU"[stack.env.col("response")]
            stack.fake.staff_set(stack.env.spreadsheet_id, "PUTR", f"{col}{row}", "Sudah ditangani.")
            sweep_job(stack.instance())
        clock.advance(minutes=5)
        daily_job(stack.instance())
        (digest,) = digest_texts(stack.settings.outbox_dir)
        assert digest.count(RENAMED[1]) == 1, digest[digest.find("CATATAN"):]
