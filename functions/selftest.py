"""`python main.py selftest`: the store contract on the configured backend, on day one.

On Google Sheets it runs as the identity the functions use (the runtime service account, e.g.
through `gcloud auth application-default login --impersonate-service-account`) against the REAL
spreadsheets: it opens both, checks every tab and that the system-column protections let this
identity write, then appends, reads, finds, writes a protected system cell and a Log entry,
forwards and deletes on two scratch tabs it removes again, and writes to the contact
spreadsheet. Each check prints in Indonesian with what to fix; any failure exits non-zero, so a
wrong share, a missing editor or a wrong id shows up before the first citizen writes.
On the local backend the same contract runs on the SQLite workbook under KMC_DATA_DIR.
"""
from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable

from .journal import SELFTEST
from .schema import Opd, Schema
from .stores.port import CellUpdate, Changes, LogEntry, Move, NewCase

SCRATCH = ("UJI_MANDIRI_A", "UJI_MANDIRI_B")
SCRATCH_TITLES = ("Uji Mandiri A (dihapus otomatis)", "Uji Mandiri B (dihapus otomatis)")
LOG_KIND = SELFTEST  # journal.py
STEPS = ("Menambah aduan ke tab uji", "Membaca semua tab", "Mencari aduan per tiket",
         "Menulis kolom sistem yang diproteksi dan Log", "Meneruskan aduan ke tab lain",
         "Menghapus baris sampai tab uji kosong")


@dataclass
class Check:
    name: str
    ok: bool | None = None  # None: not run, because an earlier step it needs failed
    detail: str = ""
    fix: str = ""


@dataclass
class SelftestReport:
    backend: str
    identity: str
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    def lines(self) -> list[str]:
        out = [f"Uji mandiri KMC Aduan (backend {self.backend}, sebagai {self.identity}):"]
        for c in self.checks:
            mark = {True: "OK   ", False: "GAGAL", None: "LEWAT"}[c.ok]
            out.append(f"  [{mark}] {c.name}" + (f": {c.detail}" if c.detail else ""))
            if c.fix and c.ok is False:
                out.append(f"          Perbaiki: {c.fix}")
        failed = sum(1 for c in self.checks if c.ok is False)
        skipped = sum(1 for c in self.checks if c.ok is None)
        passed = len(self.checks) - failed - skipped
        verdict = "SEMUA LULUS" if self.ok else "ADA MASALAH: perbaiki yang GAGAL lalu jalankan lagi"
        out.append(f"Hasil: {passed} lulus, {failed} gagal, {skipped} dilewati. {verdict}.")
        return out


def scratch_schema(schema: Schema) -> Schema:
    opds = tuple(Opd(key, title, "Uji mandiri sistem", "tab uji sementara", "triage")
                 for key, title in zip(SCRATCH, SCRATCH_TITLES))
    return dataclasses.replace(schema, opds=opds)


# -- the contract, on scratch tabs (any Workbook) ------------------------------------------------------
def exercise(wb, now: datetime, sla_hours: int, explain: Callable[[Exception], tuple[str, str]]) -> list[Check]:
    """Append, read, find, write protected system cells and the Log, move, delete to empty."""
    a, b = SCRATCH
    stamp = uuid.uuid4().hex[:6].upper()
    t1, t2 = f"UJI-{stamp}-1", f"UJI-{stamp}-2"

    def case(ticket: str, minutes: int) -> dict[str, Any]:
        at = now + timedelta(minutes=minutes)
        return {"ticket_id": ticket, "received_at": at, "channel": "Formulir Web", "reporter": "Uji Mandiri",
                "contact": "", "text": "Uji mandiri sistem: baris ini dihapus otomatis", "category": "uji",
                "sentiment": "Netral", "status": "Baru", "sla": "Berjalan",
                "deadline": at + timedelta(hours=sla_hours)}

    def appended():
        created = wb.append([NewCase(a, case(t1, 0)), NewCase(a, case(t2, 1))])
        return created == [True, True], ""

    def read():
        tickets = [r["ticket_id"] for r in wb.read_all().get(a, [])]
        return tickets == [t1, t2], f"terbaca {tickets}"

    def found():
        hit = wb.find(t2)
        return hit is not None and hit.tab == a and hit.row.get("reporter") == "Uji Mandiri", ""

    def protected():
        report = wb.commit(Changes(updates=[CellUpdate(t1, {"sla": "Terlambat", "responded_at": now})],
                                   log=[LogEntry(LOG_KIND, stamp, now, "uji mandiri")]))
        hit = wb.find(t1)
        ok = report.written == 1 and hit is not None and hit.row.get("sla") == "Terlambat"
        return ok and wb.log_has(LOG_KIND, stamp), "; ".join(report.problems)

    def moved():
        report = wb.commit(Changes(moves=[Move(t1, b, {"category": "uji diteruskan"})]))
        hit = wb.find(t1)
        return bool(report.moved.get(t1)) and hit is not None and hit.tab == b, ""

    def deleted():
        gone = wb.delete([t1, t2])
        left = wb.read_all()
        return gone == 2 and not left.get(a) and not left.get(b), f"{gone} baris dihapus"

    checks, stop = [], False
    for name, step in zip(STEPS, (appended, read, found, protected, moved, deleted)):
        check = Check(name)
        checks.append(check)
        if stop:
            continue
        try:
            check.ok, detail = step()
            check.detail = "" if check.ok else detail or "hasil tidak sesuai"
        except Exception as e:  # noqa: BLE001 - every failure is reported, with what to fix
            check.ok = False
            check.detail, check.fix = explain(e)
        stop = not check.ok
    return checks


# -- Google Sheets -------------------------------------------------------------------------------------
def _google_explainer(identity: str, what: str, env_name: str, sid: str):
    from .config import ConfigError
    from .model import StorageUnavailable
    from .stores.google.http import SheetsApiError

    def explain(e: Exception) -> tuple[str, str]:
        if isinstance(e, ConfigError):  # bootstrap's refusal already says what to set
            return str(e), ""
        if isinstance(e, SheetsApiError) and e.status == 403:
            return (f"spreadsheet {what} belum dibagikan ke {identity} (403 PERMISSION_DENIED)",
                    f"buka spreadsheet {what} → Bagikan → tambahkan {identity} sebagai Editor")
        if isinstance(e, SheetsApiError) and e.status == 404:
            return (f"{env_name}={sid} tidak ditemukan (404): ID spreadsheet salah",
                    f"salin ID dari alamat https://docs.google.com/spreadsheets/d/ID/edit ke {env_name} "
                    f"(~/kmc.env), lalu jalankan deploy.sh lagi")
        if "protected cell" in str(e):
            return (f"{identity} tidak boleh menulis sel yang diproteksi",
                    f"jalankan `python main.py bootstrap` dengan KMC_SERVICE_ACCOUNT={identity}")
        if isinstance(e, SheetsApiError) and e.bad_range:
            return "tab tidak ditemukan", "jalankan `python main.py bootstrap`"
        if isinstance(e, StorageUnavailable):
            return f"Google Sheets tidak dapat dihubungi: {e}"[:300], "periksa koneksi dan login (gcloud auth)"
        return f"{type(e).__name__}: {e}"[:300], ""
    return explain


def _google_checks(settings, schema: Schema, workbook, contacts, now: datetime) -> SelftestReport:
    from .stores.google import layout
    from .stores.google import GoogleWorkbook

    client = workbook.client
    identity = client.service_account_email or ", ".join(workbook.editors) or "akun yang sedang masuk"
    report = SelftestReport("google", identity)
    explain = _google_explainer(identity, "OPD", "KMC_SPREADSHEET_ID", workbook.spreadsheet_id)
    add = report.checks.append

    opened = Check("Spreadsheet OPD dapat dibuka")
    add(opened)
    try:
        meta = client.get_metadata(workbook.spreadsheet_id, "sheets(properties(sheetId,title),developerMetadata,"
                                   "protectedRanges(description,warningOnly,requestingUserCanEdit))")
        opened.ok = True
    except Exception as e:  # noqa: BLE001
        opened.ok, (opened.detail, opened.fix) = False, explain(e)
        meta = None
    if meta is not None:
        sheets = layout.parse_metadata(meta)
        tabs = Check("Semua tab OPD, Triase, Luar Pemda dan Log ada")
        missing = [spec.title for spec in layout.tab_specs(schema) if layout.identify(sheets, spec.key, spec.title) is None]
        tabs.ok = not missing
        if missing:
            tabs.detail = f"tidak ada: {', '.join(missing[:8])}" + (" …" if len(missing) > 8 else "")
            tabs.fix = "jalankan `python main.py bootstrap`"
        add(tabs)
        guard = Check(f"Proteksi kolom sistem mengizinkan {identity} menulis")
        locked = [s.title for s in sheets for pr in s.protected
                  if str(pr.get("description", "")).startswith(layout.PROTECTION_PREFIX)
                  and not pr.get("warningOnly") and pr.get("requestingUserCanEdit") is False]
        guard.ok = not locked
        if locked:
            guard.detail = (f"{len(locked)} proteksi tidak mencantumkan {identity} sebagai editor "
                            f"(tab {', '.join(sorted(set(locked))[:5])})")
            guard.fix = (f"jalankan `python main.py bootstrap` dengan KMC_SERVICE_ACCOUNT={identity} "
                         f"(bootstrap mengganti proteksi lama)")
        add(guard)
        rules = Check("Tab Rute terbaca")
        try:
            workbook.read_rules()
            rules.ok = True
        except Exception as e:  # noqa: BLE001
            rules.ok, (rules.detail, rules.fix) = False, explain(e)
        add(rules)

        class Scratch(GoogleWorkbook):
            def _ids_entry(self):  # the scratch tabs' ids never replace the real ones in the Log
                return []

        wb = Scratch(client, workbook.spreadsheet_id, scratch_schema(schema), tz=settings.tz,
                     editors=workbook.editors, clock=workbook.clock, sleep=workbook.sleep)
        report.checks += _on_scratch_tabs(wb, now, settings.sla_hours, explain)
    else:
        report.checks += [Check(n) for n in ("Semua tab OPD, Triase, Luar Pemda dan Log ada",
                                             f"Proteksi kolom sistem mengizinkan {identity} menulis",
                                             "Tab Rute terbaca", "Tab uji dibuat", *STEPS, "Tab uji dihapus lagi")]
    report.checks += _google_contacts(contacts, identity)
    return report


def _on_scratch_tabs(wb, now: datetime, sla_hours: int, explain) -> list[Check]:
    made = Check("Tab uji dibuat")
    try:
        wb.remove_tabs(SCRATCH)  # leftovers of an interrupted run
        wb.bootstrap()
        made.ok = True
    except Exception as e:  # noqa: BLE001
        made.ok, (made.detail, made.fix) = False, explain(e)
        return [made] + [Check(name) for name in (*STEPS, "Tab uji dihapus lagi")]
    checks = [made] + exercise(wb, now, sla_hours, explain)
    gone = Check("Tab uji dihapus lagi")
    try:
        gone.ok = wb.remove_tabs(SCRATCH) == len(SCRATCH)
    except Exception as e:  # noqa: BLE001
        gone.ok, (gone.detail, gone.fix) = False, explain(e)
    if gone.ok is False and not gone.fix:
        gone.fix = f"hapus tab '{SCRATCH_TITLES[0]}' dan '{SCRATCH_TITLES[1]}' dengan tangan"
    return checks + [gone]


def _google_contacts(contacts, identity: str) -> list[Check]:
    from .stores.google import CONTACT_TITLE

    client, sid = contacts.client, contacts.spreadsheet_id
    explain = _google_explainer(identity, "kontak", "KMC_CONTACTS_SPREADSHEET_ID", sid)
    opened, tab, write = (Check("Spreadsheet kontak dapat dibuka"), Check(f"Tab {CONTACT_TITLE} ada"),
                          Check("Spreadsheet kontak dapat ditulis"))
    try:
        meta = client.get_metadata(sid, "sheets(properties(sheetId,title))")
        opened.ok = True
    except Exception as e:  # noqa: BLE001
        opened.ok, (opened.detail, opened.fix) = False, explain(e)
        return [opened, tab, write]
    titles = {s["properties"]["title"]: s["properties"]["sheetId"] for s in meta.get("sheets", [])}
    tab.ok = CONTACT_TITLE in titles
    if not tab.ok:
        tab.detail, tab.fix = "belum dibuat", "jalankan `python main.py bootstrap`"
    scratch_id = max([*titles.values(), 1000]) + 7
    try:  # a scratch tab: no citizen's row is touched
        client.spreadsheet_batch_update(sid, [{"addSheet": {"properties": {
            "sheetId": scratch_id, "title": f"Uji Mandiri {scratch_id}", "hidden": True}}}], idempotent=False)
        try:
            client.values_batch_update_raw(sid, [{"range": f"'Uji Mandiri {scratch_id}'!A1", "values": [["uji"]]}])
        finally:
            client.spreadsheet_batch_update(sid, [{"deleteSheet": {"sheetId": scratch_id}}], idempotent=False)
        write.ok = True
    except Exception as e:  # noqa: BLE001
        write.ok, (write.detail, write.fix) = False, explain(e)
    return [opened, tab, write]


# -- local SQLite --------------------------------------------------------------------------------------
def _local_checks(settings, schema: Schema, workbook, contacts, now: datetime) -> SelftestReport:
    from .stores.local import LocalWorkbook

    report = SelftestReport("local", str(settings.data_dir))

    def explain(e: Exception) -> tuple[str, str]:
        return f"{type(e).__name__}: {e}"[:300], f"periksa KMC_DATA_DIR ({settings.data_dir}) dapat ditulis"

    tabs = Check("Semua tab OPD ada")
    present = {k for k, _ in workbook.tabs()}
    missing = [o.key for o in schema.opds if o.key not in present]
    tabs.ok = not missing
    if missing:
        tabs.detail, tabs.fix = f"tidak ada: {', '.join(missing[:8])}", "jalankan `python main.py bootstrap`"
    report.checks.append(tabs)
    wb = LocalWorkbook(workbook.db.path, scratch_schema(schema))
    made = Check("Tab uji dibuat")
    try:
        wb.remove_tabs(SCRATCH)
        wb.bootstrap()
        made.ok = True
    except Exception as e:  # noqa: BLE001
        made.ok, (made.detail, made.fix) = False, explain(e)
    report.checks.append(made)
    if made.ok:
        report.checks += exercise(wb, now, settings.sla_hours, explain)
        gone = Check("Tab uji dihapus lagi")
        gone.ok = wb.remove_tabs(SCRATCH) == len(SCRATCH)
        report.checks.append(gone)
    else:
        report.checks += [Check(name) for name in (*STEPS, "Tab uji dihapus lagi")]
    reach = Check("Penyimpanan kontak terbaca")
    try:
        contacts.get("UJI-TIDAK-ADA")
        reach.ok = True
    except Exception as e:  # noqa: BLE001
        reach.ok, (reach.detail, reach.fix) = False, explain(e)
    report.checks.append(reach)
    return report


def run_selftest(settings, schema: Schema, workbook, contacts, now: datetime) -> SelftestReport:
    if settings.backend == "google":
        return _google_checks(settings, schema, workbook, contacts, now)
    return _local_checks(settings, schema, workbook, contacts, now)
