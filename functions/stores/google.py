"""The production store: the shared OPD spreadsheet and the private contact spreadsheet (gspread).

Request budget (DESIGN.md "Quotas are physics"):
- intake, warm instance: one write per complaint to each spreadsheet, coalesced with concurrent
  complaints into one `spreadsheets.batchUpdate` (appendCells to several tabs) / one
  `values.append`; spreadsheet metadata (sheet ids, header rows) is cached per instance;
- `read_all`: ONE `values.batchGet` over every tab and the Log (which also records the sheet
  ids, so a cold job needs no metadata read);
- `commit` (a job's stamps, forwards, deletions and Log entries together): ONE atomic
  `spreadsheets.batchUpdate` at the positions of the job's read and ONE `values.batchGet` of
  the touched tabs that checks where it landed; rows are deleted (forwards, archive) in a second
  write at the positions of that check, and checked again. A staff sort/insert/delete in between
  costs one repair round (see `reconcile.py`). Without a recent `read_all`, one read first.

Redelivery (same ticket appended twice) is caught by an instance-local ticket index. A `find`
that misses the index refreshes it (ticket columns only) unless the index is younger than
`index_max_age`; concurrent refreshes share one read. A write whose outcome is unknown
(timeout, 5xx) is resolved by re-reading the ticket columns and retrying only what is missing,
so a lost reply never duplicates a row. The trade-off is documented in docs/sheets.md ("Redelivery").

Dates are written as real date serial numbers (days since 1899-12-30, WIB wall time) with a
date-time number format; every string goes in as a literal string (never parsed as a formula).
"""
from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any, Callable, Iterable, Sequence
from zoneinfo import ZoneInfo

from ..case import case_from_row
from ..config import ConfigError
from ..logs import log
from ..model import Contact, StorageUnavailable
from ..schema import Schema
from . import sheets_layout as layout
from .port import (CellUpdate, Changes, CommitReport, ContactRecord, LogEntry, Move, NewCase, Row, StoredCase,
                   WriteReport, refuse_foreign_cells)
from .reconcile import Intent, Place, Plan, Snapshot, plan_repair
from .sheets_http import AmbiguousWrite, SheetsApiError, SheetsHTTPClient, client_for

EPOCH = datetime(1899, 12, 30)
CELL_LIMIT = 10_000_000
SETTLE_SECONDS = 5.0  # a timed-out write may still be applied server-side for a moment
DEFAULT_TZ = ZoneInfo("Asia/Jakarta")
BOOTSTRAP_BATCH = 400  # sub-requests per bootstrap batchUpdate (whole tabs): small replies, short requests
REFUSE_WITHOUT_EDITOR = (
    "bootstrap ditolak: KMC_SERVICE_ACCOUNT belum diisi, padahal Anda masuk dengan akun pribadi. Proteksi "
    "kolom sistem hanya akan mengizinkan akun yang menjalankan bootstrap, sehingga fungsi (akun layanan "
    "kmc-runtime) tidak bisa menulis aduan. Isi KMC_SERVICE_ACCOUNT=kmc-runtime@PROJECT_ID.iam.gserviceaccount.com "
    "(di ~/kmc.env) lalu jalankan bootstrap lagi.")
SPARE_ROWS = 5  # blank rows a tab keeps below its header when deletes would empty its grid
SEEN_MAX_AGE = 900.0  # a job's read_all serves as the "before" of its commit this long (seconds)
TAB_IDS_LOG = "tab_ids"  # Log entries recording sheet ids, so a cold job needs no metadata read


# ----------------------------------------------------------------------------- cell codecs
def to_serial(value: datetime, tz: ZoneInfo = DEFAULT_TZ) -> float:
    """A datetime as a Sheets date serial in WIB wall time."""
    wall = value.astimezone(tz).replace(tzinfo=None) if value.tzinfo else value
    return (wall - EPOCH) / timedelta(days=1)


def from_serial(value: float, tz: ZoneInfo = DEFAULT_TZ) -> datetime:
    ms = round(float(value) * 86_400_000)
    return (EPOCH + timedelta(milliseconds=ms)).replace(tzinfo=tz)


def read_datetime(value: Any, tz: ZoneInfo) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return from_serial(value, tz)
    text = str(value).strip()
    for parse in (datetime.fromisoformat, lambda t: datetime.strptime(t, "%Y-%m-%d %H:%M"),
                  lambda t: datetime.strptime(t, "%d/%m/%Y %H:%M"), lambda t: datetime.strptime(t, "%d/%m/%Y")):
        try:
            dt = parse(text)
        except ValueError:
            continue
        return dt if dt.tzinfo else dt.replace(tzinfo=tz)
    return None


def read_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def cell_data(value: Any, is_datetime: bool, tz: ZoneInfo, pattern: str) -> dict:
    """CellData for appendCells/updateCells: literal strings, date serials; never a formula."""
    if is_datetime:
        fmt = {"numberFormat": {"type": "DATE_TIME", "pattern": pattern}}
        if isinstance(value, datetime):
            return {"userEnteredValue": {"numberValue": to_serial(value, tz)}, "userEnteredFormat": fmt}
        return {"userEnteredFormat": fmt}
    text = "" if value is None else (value.isoformat() if isinstance(value, datetime) else str(value))
    out: dict[str, Any] = {"userEnteredFormat": {"numberFormat": {"type": "TEXT"}}}
    if text:
        out["userEnteredValue"] = {"stringValue": text}
    return out


CELL_FIELDS = "userEnteredValue,userEnteredFormat.numberFormat"
# A new case row carries its own dropdowns: data validation belongs to each cell in Sheets, and a
# rule set by bootstrap covers only the rows the grid had then, not the rows appends add later.
ROW_FIELDS = CELL_FIELDS + ",dataValidation"


def raw_value(value: Any, tz: ZoneInfo) -> Any:
    """A value for `valueInputOption=RAW`: dates as serials (the column is date-formatted), text as is."""
    if isinstance(value, datetime):
        return to_serial(value, tz)
    return "" if value is None else str(value)


# ----------------------------------------------------------------------------- write coalescing
class Coalescer:
    """Concurrent callers within a short window share one write; each gets its own results.

    The first caller to arrive while no flush is running becomes the leader: it waits until
    `window` has passed since the previous flush (no wait when idle), takes everything queued and
    calls `flush(items) -> results` once. Followers block until their items are durably written,
    then return their results, or raise the flush's exception.
    """

    def __init__(self, flush: Callable[[list], list], *, window: float = 1.0, max_items: int = 500,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        self.flush, self.window, self.max_items = flush, window, max_items
        self.clock, self.sleep = clock, sleep
        self.cond = threading.Condition()
        self.queue: list[_Pending] = []
        self.busy = False
        self.last = float("-inf")
        self.flushes = 0
        self.items = 0

    def submit(self, items: list) -> list:
        entry = _Pending(list(items))
        with self.cond:
            self.queue.append(entry)
            while not entry.done:
                if not self.busy:
                    self.busy = True
                    break
                self.cond.wait()
            else:
                return entry.result()
        try:
            while not entry.done:
                wait = self.last + self.window - self.clock()
                if wait > 0:
                    self.sleep(wait)
                with self.cond:
                    batch, count = [], 0
                    while self.queue and (not batch or count + len(self.queue[0].items) <= self.max_items):
                        nxt = self.queue.pop(0)
                        batch.append(nxt)
                        count += len(nxt.items)
                    self.last = self.clock()
                self._run(batch)
        finally:
            with self.cond:
                self.busy = False
                self.cond.notify_all()
        return entry.result()

    def _run(self, batch: list["_Pending"]) -> None:
        flat = [item for p in batch for item in p.items]
        try:
            results = self.flush(flat) if flat else []
            error = None
        except BaseException as e:  # every waiter must learn about it
            results, error = [], e
        self.flushes += 1
        self.items += len(flat)
        with self.cond:
            at = 0
            for p in batch:
                if error is None:
                    p.results = results[at:at + len(p.items)]
                    at += len(p.items)
                p.error = error
                p.done = True
            self.cond.notify_all()


@dataclass
class _Pending:
    items: list
    results: list = field(default_factory=list)
    error: BaseException | None = None
    done: bool = False

    def result(self) -> list:
        if self.error is not None:
            raise self.error
        return self.results


# ----------------------------------------------------------------------------- the workbook
@dataclass
class Tab:
    key: str
    sheet_id: int | None  # None until metadata is loaded (jobs never need it)
    title: str
    columns: dict[str, int]
    width: int
    verified: bool = False  # columns confirmed against the header row in the sheet

    @property
    def quoted(self) -> str:
        return layout.quote_title(self.title)


@dataclass
class Located:
    tab: Tab
    row: int  # 0-based row index in the sheet


RULES_TITLE = "Rute"
RULES_SHEET_ID = 7_100_000  # chosen by us so the protection can name it in the same request
JOB_READ_MAX_AGE = 60.0  # seconds a job's whole-workbook read serves its reads (read_for_job)
ABSENT: dict = {"absent": True}  # read_for_job found no such side tab: its reader needs no request
MODEL_TITLE = "Model Rute"  # hidden tab holding the learned routing model (issue 18)
MODEL_SHEET_ID = 7_200_000
MODEL_MARKER = "kmc-routing-model"
MODEL_CHUNK = 45_000  # characters per cell; Sheets allows 50,000


def _corrupt(reason: str):
    raise ValueError(reason)


@cache
def shared_client(emulator_host: str) -> SheetsHTTPClient:
    """One client per process: both spreadsheets share its quota pacing."""
    return client_for(emulator_host)


class GoogleWorkbook:
    """The Workbook port on a Google spreadsheet (one tab per OPD key, a hidden Log tab)."""

    def __init__(self, client: SheetsHTTPClient, spreadsheet_id: str, schema: Schema, *,
                 tz: ZoneInfo = DEFAULT_TZ, coalesce_window: float = 1.0, index_max_age: float = 2.0,
                 log_max_age: float = 30.0, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, editors: Sequence[str] = ()):
        self.client = client
        self.editors = tuple(e for e in editors if e)  # may edit system columns besides the requester
        self.spreadsheet_id = spreadsheet_id
        self.schema = schema
        self.tz = tz
        self.pattern = schema.values.get("formats", {}).get("datetime", "yyyy-mm-dd hh:mm")
        self.clock, self.sleep = clock, sleep
        self.index_max_age, self.log_max_age = index_max_age, log_max_age
        self.lock = threading.RLock()
        self._tabs: dict[str, Tab] = self._provisional()
        self._meta_at = float("-inf")
        self._grid_cells = 0
        self._read_grid: tuple[int, float] = (0, float("-inf"))  # (cells of the tabs read_all saw, when)
        self._index: dict[str, tuple[str, int | None]] = {}  # ticket -> (tab key, 0-based row or None)
        self._index_at = float("-inf")
        self._appended: dict[str, tuple[str, float]] = {}  # ticket -> (tab, when) written by this instance
        self._log: dict[tuple[str, str], LogEntry] = {}
        self._log_at = float("-inf")
        self._logged_ids: dict[str, int] = {}  # tab key -> sheet id, as last recorded in the Log
        self._seen: tuple[float, Snapshot] | None = None  # the last read_all, by ticket, with positions
        # read_for_job: (when, the tabs as read_all returns them, {side tab title: value range}),
        # each part served once to the job's next read of it
        self._job_read: tuple[float, dict | None, dict[str, dict]] | None = None
        self._job_side: dict[str, dict] = {}
        self._model_grid: tuple[int, int] | None = None  # (rows, columns) of Model Rute, as the job read saw it
        self._grid_rows: dict[str, int] = {}  # tab key -> rows of its grid, from the last whole-tab read
        self.last_problems: list[str] = []
        self.appends = Coalescer(self._flush_appends, window=coalesce_window, clock=clock, sleep=sleep)
        self.refreshes = Coalescer(self._flush_refresh, window=min(coalesce_window, index_max_age) or 0.0,
                                   clock=clock, sleep=sleep)
        self._keys_headers = [(c.key, c.header) for c in schema.columns]
        self._rules = {c.key: layout.validation_rule(schema, c) for c in schema.columns
                       if layout.validation_rule(schema, c) is not None}

    @classmethod
    def from_settings(cls, settings, schema: Schema, **kw) -> "GoogleWorkbook":
        if not settings.spreadsheet_id:
            raise StorageUnavailable("KMC_SPREADSHEET_ID is not set")
        editors = list(settings.service_accounts)
        if settings.sheets_index_max_age is not None:
            kw.setdefault("index_max_age", settings.sheets_index_max_age)
        return cls(shared_client(settings.sheets_emulator_host), settings.spreadsheet_id, schema,
                   tz=settings.tz, editors=editors, **kw)

    # -- metadata (cached per instance, loaded only when needed) -------------------------
    # Jobs address tabs by title (the schema's, or the last seen), so they need no metadata read;
    # appends, moves and deletes need sheet ids, loaded once per instance. A range that no longer
    # parses (a tab renamed by staff) reloads the metadata once.
    def _provisional(self) -> dict[str, Tab]:
        return {spec.key: Tab(spec.key, None, spec.title, {c.key: i for i, c in enumerate(spec.columns)},
                              len(spec.columns))
                for spec in layout.tab_specs(self.schema)}

    def _load_metadata(self, meta: dict | None = None) -> None:
        meta = meta or self.client.get_metadata(
            self.spreadsheet_id, "sheets(properties(sheetId,title,index,gridProperties),developerMetadata)")
        sheets = layout.parse_metadata(meta)
        grid = sum(s["properties"].get("gridProperties", {}).get("rowCount", 0)
                   * s["properties"].get("gridProperties", {}).get("columnCount", 0) for s in meta.get("sheets", []))
        with self.lock:
            previous = self._tabs or self._provisional()
            tabs: dict[str, Tab] = {}
            for spec in layout.tab_specs(self.schema):
                sheet = layout.identify(sheets, spec.key, spec.title)
                if sheet is None:
                    continue
                old = previous.get(spec.key) or self._provisional()[spec.key]
                tabs[spec.key] = Tab(spec.key, sheet.sheet_id, sheet.title, old.columns, old.width,
                                     old.verified and old.title == sheet.title)
            self._tabs, self._meta_at, self._grid_cells = tabs, self.clock(), grid

    def _have_ids(self) -> bool:
        return all(t.sheet_id is not None for t in self._tabs.values())

    def _need_ids(self) -> None:
        """Sheet ids for batchUpdate: from metadata loaded by this instance, else from the Log
        (bootstrap and every metadata reload record them there), else one metadata read. A
        recorded id that no longer exists fails the request and reloads (`_with_fresh_metadata`)."""
        if self._meta_at != float("-inf") or self._have_ids():
            return
        logged = self._logged_ids
        if logged and all(k in logged for k in self._tabs):
            with self.lock:
                self._tabs = {k: Tab(t.key, logged[k], t.title, t.columns, t.width, t.verified)
                              for k, t in self._tabs.items()}
            return
        self._load_metadata()

    def _ids_entry(self) -> list[LogEntry]:
        """A Log entry with the sheet ids this instance loaded, when the Log does not have them."""
        if self._meta_at == float("-inf") or not self._have_ids():
            return []
        ids = {k: t.sheet_id for k, t in sorted(self._tabs.items())}
        if ids == self._logged_ids:
            return []
        detail = json.dumps(ids, sort_keys=True)
        return [LogEntry(TAB_IDS_LOG, f"ids:{len(detail)}:{hash_text(detail)}", datetime.now(self.tz), detail)]

    def _verify_headers(self, keys: Iterable[str]) -> None:
        """Read the header row of tabs whose columns were never confirmed (once per instance)."""
        tabs = [self._tabs[k] for k in keys if k in self._tabs and not self._tabs[k].verified]
        if not tabs:
            return
        vr = self.client.batch_get(self.spreadsheet_id, [f"{t.quoted}!1:1" for t in tabs])
        for tab, r in zip(tabs, vr):
            self._check_header(tab, (r.get("values") or [[]])[0], [])

    @staticmethod
    def _log_keys() -> list[tuple[str, str]]:
        return [(k, layout.LOG_HEADERS[k]) for k in layout.LOG_COLUMNS]

    def tabs(self) -> dict[str, Tab]:
        return self._tabs

    def forget_metadata(self) -> None:
        with self.lock:
            self._tabs, self._meta_at, self._seen = self._provisional(), float("-inf"), None

    def _tab(self, key: str) -> Tab:
        tab = self._tabs.get(key)
        if tab is None or tab.sheet_id is None:
            self._need_ids()
            tab = self._tabs.get(key)
        if tab is None:
            raise ValueError(f"unknown tab {key!r}; run bootstrap")
        return tab

    def _opd_tabs(self) -> list[Tab]:
        tabs = self._tabs
        return [tabs[o.key] for o in self.schema.opds if o.key in tabs]

    def _with_fresh_metadata(self, fn: Callable[[], Any]) -> Any:
        """Run `fn`; if a tab was renamed or removed behind our back, reload metadata once."""
        try:
            return fn()
        except SheetsApiError as e:
            if not (e.bad_range or "No grid with id" in str(e)):
                raise
            log("WARNING", "sheets metadata changed; reloading", kind=e.kind)
            self._load_metadata()
            return fn()

    def row_link(self, tab: str, ticket_id: str) -> str | None:
        """A link to the case's row from what this instance already knows (no request)."""
        hit = self._index.get(ticket_id)
        t = self._tabs.get(tab)
        if hit is None or hit[1] is None or hit[0] != tab or t is None or t.sheet_id is None:
            return None
        return (f"https://docs.google.com/spreadsheets/d/{self.spreadsheet_id}/edit"
                f"#gid={t.sheet_id}&range=A{hit[1] + 1}")

    # -- bootstrap ---------------------------------------------------------------------------
    def bootstrap(self) -> list[str]:
        """Create or upgrade every tab; safe to interrupt and run again.

        The requests go in batches of whole tabs (each atomic, each carrying its tab's layout
        fingerprint), so a tab is either done or planned again. A lost reply (AmbiguousWrite)
        is answered by looking at the spreadsheet afresh and planning what is still missing."""
        editors = list(dict.fromkeys([*self.editors, self.client.service_account_email]))
        editors = [e for e in editors if e]
        done: list[str] = []
        changed = False
        for attempt in range(self.client.retry.attempts):
            meta = self.client.get_metadata(self.spreadsheet_id, layout.METADATA_FIELDS)
            sheets = layout.parse_metadata(meta)
            ranges = [f"{layout.quote_title(s.title)}!1:1" for s in sheets]
            log_sheet = layout.identify(sheets, layout.LOG_TAB, layout.LOG_TITLE)
            if log_sheet is not None:  # the Log comes along: are the sheet ids recorded there?
                ranges.append(layout.quote_title(log_sheet.title))
            started = self.clock()
            values = self.client.batch_get(self.spreadsheet_id, ranges)
            headers = {s.sheet_id: (vr.get("values") or [[]])[0] for s, vr in zip(sheets, values)}
            plan = layout.plan_bootstrap(self.schema, meta, headers, editors,
                                         specs=[*layout.tab_specs(self.schema), layout.directory_spec()])
            if not editors and any("addProtectedRange" in r for r in plan.requests):
                raise ConfigError(REFUSE_WITHOUT_EDITOR)
            done += [d for d in plan.done if d not in done]
            if not plan.requests:
                break
            try:
                for batch in plan.batches(BOOTSTRAP_BATCH):
                    self.client.spreadsheet_batch_update(self.spreadsheet_id, batch, idempotent=False)
                    changed = True
            except AmbiguousWrite:
                changed = True
                log("WARNING", "bootstrap reply lost; looking at the spreadsheet again", attempt=attempt + 1)
                self._settle(attempt)
                continue
            break
        else:
            raise StorageUnavailable("bootstrap belum tuntas setelah beberapa percobaan; jalankan lagi "
                                     "`python main.py bootstrap` (yang sudah jadi tidak diulang)")
        self.forget_metadata()
        # Record the sheet ids in the Log: a cold job instance then needs no metadata read.
        if changed or log_sheet is None:
            self._load_metadata()
            self._fresh_log(force=True)
        else:
            self._load_metadata(meta)
            self._set_log(self._log_tab(), values[-1].get("values", []), started)
        if self._ids_entry():
            self.log_add_many(self._ids_entry())
            self._meta_at = float("-inf")  # the Log grew: count cells afresh (ids stay known)
        return done  # empty: nothing to change, as the local store answers

    # -- reading -----------------------------------------------------------------------------
    def _decode(self, tab: Tab, cells: list[Any]) -> Row:
        row: Row = {}
        for c in self.schema.columns:
            i = tab.columns.get(c.key)
            raw = cells[i] if i is not None and i < len(cells) else ""
            row[c.key] = read_datetime(raw, self.tz) if c.type == "datetime" else read_text(raw)
        return row

    def _scan(self, tab: Tab, values: list[list[Any]], problems: list[str], start_row: int = 1) -> list[tuple[int, Row]]:
        """Rows with a ticket, in sheet order (0-based row index, row); blank rows skipped."""
        out = []
        ti = tab.columns.get("ticket_id")
        for offset, cells in enumerate(values):
            r = start_row + offset
            if not any(str(c).strip() for c in cells):
                continue
            ticket = read_text(cells[ti]).strip() if ti is not None and ti < len(cells) else ""
            if not ticket:
                problems.append(f"Tab {tab.key}: baris {r + 1} berisi data tanpa nomor tiket (dilewati)")
                continue
            out.append((r, self._decode(tab, cells)))
        return out

    def _check_header(self, tab: Tab, header: list[Any], problems: list[str]) -> Tab:
        hmap = layout.map_header(header, self._keys_headers if tab.key != layout.LOG_TAB else self._log_keys(),
                                 tab.columns, tab.key)
        problems.extend(hmap.problems)
        if hmap.columns != tab.columns or hmap.width != tab.width or not tab.verified:
            with self.lock:
                current = self._tabs.get(tab.key, tab)
                tab = Tab(tab.key, current.sheet_id, tab.title, hmap.columns, hmap.width, True)
                self._tabs[tab.key] = tab
        return tab

    def read_all(self) -> dict[str, list[Row]]:
        job = self._job_read
        if job is not None and job[1] is not None and self.clock() - job[0] <= JOB_READ_MAX_AGE:
            self._job_read = (job[0], None, job[2])
            return job[1]
        return self._with_fresh_metadata(self._read_all)

    # -- one read for a whole job (services/lease.py) ---------------------------------------------
    # A scheduled job reads every OPD tab, the Log, and the side tabs (Kontak OPD, Rute, Model
    # Rute) in ONE batchGet right after its lease claim: that read is the claim's read-back, and
    # the job's read_all / read_directory / read_rules / read_routing_model are served from it,
    # once each, within JOB_READ_MAX_AGE. A side tab that does not exist yet (a 400 for the whole
    # request) is left out and read on its own as before.
    def read_for_job(self) -> None:
        titles = [layout.directory_spec().title, RULES_TITLE, MODEL_TITLE]
        absent: list[str] = []
        while True:
            started = self.clock()
            try:
                tabs = self._read_all(titles)
                break
            except SheetsApiError as e:
                if not e.bad_range:
                    raise
                bad = str(e).rsplit("range: ", 1)[-1].strip()
                missing = [t for t in titles if layout.quote_title(t) == bad or t == bad]
                if not missing:  # an OPD tab renamed: reload metadata once
                    tabs = self._with_fresh_metadata(lambda: self._read_all(titles))
                    break
                titles = [t for t in titles if t not in missing]  # not created yet
                absent += missing
        self._job_read = (started, tabs, {**self._job_side, **{t: ABSENT for t in absent}})
        model = self._job_side.get(MODEL_TITLE)
        self._model_grid = grid_size(model.get("range", "")) if model is not None else None

    def drop_job_read(self) -> None:
        """Forget what read_for_job read (the job is over; the next job reads afresh)."""
        self._job_read = None

    def _job_side_range(self, title: str) -> dict | None:
        job = self._job_read
        if job is None or title not in job[2] or self.clock() - job[0] > JOB_READ_MAX_AGE:
            return None
        return job[2].pop(title)

    def _read_all(self, side: Sequence[str] = ()) -> dict[str, list[Row]]:
        tabs = self._opd_tabs()
        log_tab = self.tabs().get(layout.LOG_TAB)
        ranges = [t.quoted for t in tabs] + ([log_tab.quoted] if log_tab else [])
        started = self.clock()
        result = self.client.batch_get(self.spreadsheet_id, ranges + [layout.quote_title(t) for t in side])
        self._job_side = dict(zip(side, result[len(ranges):]))
        problems: list[str] = []
        out: dict[str, list[Row]] = {}
        index: dict[str, tuple[str, int | None]] = {}
        choices = {k: set(self.schema.choices(k)) for k in ("status", "forward_to")}
        grid = sum(grid_cells(vr.get("range", "")) for vr in result)
        self._read_grid = (grid, started)
        seen = Snapshot(tabs={t.key for t in tabs})
        for tab, vr in zip(tabs, result):
            values = vr.get("values", [])
            self._note_grid(tab.key, vr)
            tab = self._check_header(tab, values[0] if values else [], problems)
            if "ticket_id" not in tab.columns:
                problems.append(f"Tab {tab.key}: kolom No. Tiket tidak ditemukan; tab dilewati")
                out[tab.key] = []
                continue
            rows = []
            for r, row in self._scan(tab, values[1:], problems):
                ticket = row["ticket_id"]
                seen.add(tab.key, r, row)
                if ticket in index:
                    problems.append(f"Tiket {ticket} muncul lebih dari sekali (tab {index[ticket][0]} dan {tab.key})")
                    continue
                index[ticket] = (tab.key, r)
                for key, allowed in choices.items():
                    if row.get(key) and row[key] not in allowed:
                        problems.append(f"Tab {tab.key}, tiket {ticket}: isi '{row[key]}' di kolom "
                                        f"{self.schema.column(key).header} tidak ada di daftar")
                rows.append(row)
            out[tab.key] = [case_from_row(tab.key, r) for r in rows]
        if log_tab is not None:
            self._set_log(log_tab, result[len(tabs)].get("values", []), started)
        self._replace_index(index, started)
        self._seen = (started, seen)
        self.last_problems = problems
        for p in problems:
            log("WARNING", "sheet problem", detail=p)
        return out

    # -- the ticket index ----------------------------------------------------------------------
    def _flush_refresh(self, items: list) -> list:
        self._with_fresh_metadata(self._refresh_index)
        return [None] * len(items)

    def _refresh_index(self) -> None:
        self._locate_all(update_index=True)

    def _locate_all(self, update_index: bool = True) -> tuple[dict[str, list[Located]], list[str]]:
        """Fresh header rows + ticket columns of every tab: where each ticket is now."""
        tabs = self._opd_tabs()
        ranges = []
        for t in tabs:
            col = layout.col_letter(t.columns.get("ticket_id", 0))
            ranges += [f"{t.quoted}!1:1", f"{t.quoted}!{col}:{col}"]
        started = self.clock()
        result = self.client.batch_get(self.spreadsheet_id, ranges)
        problems: list[str] = []
        where: dict[str, list[Located]] = {}
        for i, tab in enumerate(tabs):
            header = (result[2 * i].get("values") or [[]])[0]
            column = result[2 * i + 1].get("values", [])
            before = tab.columns.get("ticket_id")
            tab = self._check_header(tab, header, problems)
            if tab.columns.get("ticket_id") != before:  # the ticket column moved: read it again
                col = layout.col_letter(tab.columns.get("ticket_id", 0))
                column = self.client.batch_get(self.spreadsheet_id, [f"{tab.quoted}!{col}:{col}"])[0].get("values", [])
            for r, cells in enumerate(column[1:], start=1):
                ticket = read_text(cells[0]).strip() if cells else ""
                if ticket:
                    where.setdefault(ticket, []).append(Located(tab, r))
        if update_index:
            self._replace_index({t: (locs[0].tab.key, locs[0].row) for t, locs in where.items()}, started)
        return where, problems

    def _settle(self, attempt: int) -> None:
        """After a lost reply, give Google time to finish applying it before we look."""
        self.sleep(max(SETTLE_SECONDS, self.client.retry.backoff(attempt, self.client.rng)))

    def _replace_index(self, index: dict[str, tuple[str, int | None]], started: float) -> None:
        """A fresh read replaces the index, keeping what this instance appended while it ran."""
        with self.lock:
            for ticket, (tab, when) in list(self._appended.items()):
                if when >= started - 5.0:
                    index.setdefault(ticket, (tab, None))
                elif when < started - 600:
                    del self._appended[ticket]
            self._index, self._index_at = index, started

    def _index_fresh(self) -> bool:
        return self.clock() - self._index_at <= self.index_max_age

    def known(self, ticket_id: str) -> bool:
        with self.lock:
            return ticket_id in self._index

    # -- Workbook port: find / append -----------------------------------------------------------
    def find(self, ticket_id: str) -> StoredCase | None:
        with self.lock:
            hit = self._index.get(ticket_id)
        if hit is not None and hit[1] is not None:
            case = self._read_row(ticket_id, hit[0], hit[1])
            if case is not None:
                return case
        if hit is None and self._index_fresh():
            return None
        self.refreshes.submit([ticket_id])
        with self.lock:
            hit = self._index.get(ticket_id)
        if hit is None or hit[1] is None:
            return None
        return self._read_row(ticket_id, hit[0], hit[1])

    def _read_row(self, ticket_id: str, key: str, row: int) -> StoredCase | None:
        tab = self.tabs().get(key)
        if tab is None:
            return None
        try:
            vr = self.client.batch_get(self.spreadsheet_id, [f"{tab.quoted}!1:1", f"{tab.quoted}!{row + 1}:{row + 1}"])
        except SheetsApiError as e:
            if e.bad_range:
                self.forget_metadata()
                return None
            if e.beyond_grid:  # rows were deleted since: the caller locates afresh
                return None
            raise
        tab = self._check_header(tab, (vr[0].get("values") or [[]])[0], [])
        cells = (vr[1].get("values") or [[]])[0]
        ti = tab.columns.get("ticket_id")
        if ti is None or ti >= len(cells) or read_text(cells[ti]).strip() != ticket_id:
            return None  # moved since we saw it (sort, insert): caller locates afresh
        return case_from_row(key, self._decode(tab, cells))

    def append(self, cases: Sequence[NewCase]) -> list[bool]:
        for case in cases:
            if case.tab not in self.schema.opd_keys:
                raise ValueError(f"unknown tab {case.tab!r}; run bootstrap")
        return self.appends.submit(list(cases))

    def _flush_appends(self, cases: list[NewCase]) -> list[bool]:
        results = [False] * len(cases)
        pending: dict[str, int] = {}
        with self.lock:
            for i, case in enumerate(cases):
                ticket = case.row["ticket_id"]
                if ticket not in self._index and ticket not in pending:
                    pending[ticket] = i
        for attempt in range(self.client.retry.attempts):
            if not pending:
                break
            try:
                self._with_fresh_metadata(lambda: self._append_rows([cases[i] for i in pending.values()]))
            except AmbiguousWrite:
                # The reply was lost: look at the sheet and retry only what did not land.
                self._settle(attempt)
                self._with_fresh_metadata(self._refresh_index)
                with self.lock:
                    landed = [t for t in pending if t in self._index]
                for t in landed:
                    results[pending.pop(t)] = True
                continue
            now = self.clock()
            with self.lock:
                for t, i in pending.items():
                    self._index[t] = (cases[i].tab, None)
                    self._appended[t] = (cases[i].tab, now)
                    results[i] = True
            pending = {}
        if pending:
            raise StorageUnavailable(f"append not confirmed for {len(pending)} case(s) after retries")
        return results

    def _row_cells(self, tab: Tab, row: Row) -> list[dict]:
        missing = [c.header for c in self.schema.columns if c.key not in tab.columns]
        if missing:
            raise StorageUnavailable(f"tab {tab.key} lacks column(s) {missing}; run `python main.py bootstrap`")
        width = max(tab.columns.values()) + 1
        cells: list[dict] = [{} for _ in range(width)]
        for c in self.schema.columns:
            cells[tab.columns[c.key]] = cell_data(row.get(c.key, ""), c.type == "datetime", self.tz, self.pattern)
            rule = self._rules.get(c.key)
            if rule is not None:
                cells[tab.columns[c.key]]["dataValidation"] = rule
        return cells

    def _append_rows(self, cases: list[NewCase]) -> None:
        self._need_ids()
        self._verify_headers(o.key for o in self.schema.opds)
        by_tab: dict[str, list[dict]] = {}
        for case in cases:
            tab = self._tab(case.tab)
            by_tab.setdefault(case.tab, []).append({"values": self._row_cells(tab, case.row)})
        requests = [{"appendCells": {"sheetId": self._tab(k).sheet_id, "rows": rows, "fields": ROW_FIELDS}}
                    for k, rows in by_tab.items()]
        self.client.spreadsheet_batch_update(self.spreadsheet_id, requests, idempotent=False)

    # -- Workbook port: commit (update / move / delete) -------------------------------------------
    # A commit is ONE atomic `spreadsheets.batchUpdate` (updateCells, deleteDimension bottom-up,
    # appendCells to receiving tabs and the Log) at positions from the job's own read, then ONE
    # read of the touched tabs that checks where it landed. The Sheets API has no conditional
    # write, so a staff sort, insert or delete between the read and the write can put cells in
    # another case's row or delete another case; the check sees it and `reconcile.plan_repair`
    # puts it right (only what this commit wrote), read again, until nothing is left to repair.
    def update(self, updates: Sequence[CellUpdate], *, staff: bool = False) -> WriteReport:
        return self.commit(Changes(updates=list(updates)), staff=staff)

    def move(self, ticket_id: str, to_tab: str, values: Row) -> bool:
        return self.commit(Changes(moves=[Move(ticket_id, to_tab, values)])).moved.get(ticket_id, False)

    def delete(self, ticket_ids: Sequence[str]) -> int:
        return self.commit(Changes(deletes=list(ticket_ids))).deleted

    def commit(self, changes: Changes, *, staff: bool = False) -> CommitReport:
        refuse_foreign_cells(changes, self.schema, staff=staff)
        for mv in changes.moves:
            if mv.to_tab not in self.schema.opd_keys:
                raise ValueError(f"unknown tab {mv.to_tab!r}")
        report = CommitReport()
        if not (changes.updates or changes.moves or changes.deletes):
            report.logged = self.log_add_many(changes.log) if changes.log else 0
            return report
        return self._with_fresh_metadata(lambda: self._commit(changes, report))

    def _commit(self, changes: Changes, report: CommitReport) -> CommitReport:
        intent = Intent()
        for mv in changes.moves:
            intent.moves[mv.ticket_id] = (mv.to_tab, self._as_stored(mv.values))
        intent.deletes = set(changes.deletes) - set(intent.moves)
        wanted = {up.ticket_id for up in changes.updates} | set(intent.moves) | intent.deletes
        before = self._before(wanted)
        self._need_ids()
        report.missing = sorted(t for t in wanted if before.first(t) is None)
        for up in changes.updates:
            hit = before.first(up.ticket_id)
            if hit is None:
                continue
            columns = self._tabs[hit[0].tab].columns
            for key in set(up.values) - set(columns):
                text = (f"Tab {hit[0].tab}: kolom '{self.schema.column(key).header}' tidak ditemukan; "
                        f"{up.ticket_id} tidak diperbarui di kolom itu")
                if text not in report.problems:
                    report.problems.append(text)
            kept = {k: v for k, v in self._as_stored(up.values).items() if k in columns}
            intent.updates[up.ticket_id] = {**intent.updates.get(up.ticket_id, {}), **kept}
        # The job's own read of the Log (within SEEN_MAX_AGE) is enough to skip what is recorded.
        known = self._log if self.clock() - self._log_at <= SEEN_MAX_AGE else self._fresh_log()
        entries = list({(e.kind, e.key): e for e in [*changes.log, *self._ids_entry()]
                        if (e.kind, e.key) not in known}.values())

        plan = Plan()
        for ticket, values in intent.updates.items():
            hit = before.first(ticket)
            if hit is not None:
                plan.set_cells(hit[0], values)
                if len(before.rows[ticket]) > 1:
                    report.problems.append(f"Tiket {ticket} muncul {len(before.rows[ticket])} kali; "
                                           f"hanya baris pertama yang diisi")
        # Rows are deleted only after a check: a delete sent at the positions of an older read
        # could remove a case that arrived after it (and that no read holds), if an owner sorted
        # the tab in between. So the first write appends the forwarded rows to their new tabs,
        # the check reads the losing tabs whole, and the deletes go at those fresh positions.
        shrinking: set[str] = set()
        for ticket, (to_tab, values) in intent.moves.items():
            hit = before.first(ticket)
            if hit is None:
                report.moved[ticket] = False
                continue
            if hit[0].tab != to_tab:
                plan.appends.append((to_tab, {**hit[1], **values}))
                shrinking.add(hit[0].tab)
            report.moved[ticket] = True
        for ticket in intent.deletes:
            shrinking.update(p.tab for p in before.places(ticket))
        report.written = len(intent.updates)
        touched = {p.tab for p in plan.cells} | {t for t, _ in plan.appends} | shrinking
        if not plan and not entries and not shrinking:
            return report
        # A delete-only commit whose "before" was read just now needs no first write nor check.
        ready = before if not plan and not entries and (self._seen is None or before is not self._seen[1]) else None

        ambiguous = False
        for attempt in range(self.client.retry.attempts + 1):
            if (plan or entries) and ready is None:
                try:
                    self._apply(plan, entries, intent, report)
                    entries = []
                except AmbiguousWrite:
                    ambiguous = True
                    self._settle(attempt)
            if not touched:  # only Log entries to write (nothing to change in the tabs): check the Log
                if ambiguous:
                    known = self._fresh_log(force=True)
                    report.logged += sum(1 for e in entries if (e.kind, e.key) in known and e.kind != TAB_IDS_LOG)
                    entries = [e for e in entries if (e.kind, e.key) not in known]
                    ambiguous = False
                if not entries:
                    return report
                continue
            only = {tab: set() for tab in touched - shrinking}  # the losing tabs are read whole
            for tab, key in intent.written:
                if tab in only:
                    only[tab].add(key)
            after, ready = ready or self._read_tabs(touched, with_log=ambiguous, problems=report.problems,
                                                    only=only), None
            intent.fresh.update({t: hits[0] for t, hits in after.rows.items() if hits[0][0].tab in shrinking})
            if ambiguous:
                known = self._log
                report.logged += sum(1 for e in entries if (e.kind, e.key) in known and e.kind != TAB_IDS_LOG)
                entries = [e for e in entries if (e.kind, e.key) not in known]
                ambiguous = False
            plan = plan_repair(before, after, intent)
            intent.shrunk |= {p.tab for p in plan.deletes}
            report.moved.update({t: m for t, m in plan.moved.items() if not m})
            if not plan and not entries:
                report.missing = sorted(set(report.missing) | set(plan.missing))
                report.deleted = sum(1 for t in intent.deletes if before.first(t) and not after.first(t))
                report.written = sum(1 for t in intent.updates if after.first(t))
                self._after_commit(intent, after)
                return report
            touched |= {t for t, _ in plan.appends}
        raise StorageUnavailable("writes to the sheet not confirmed after retries")

    def _as_stored(self, values: Row) -> Row:
        """Datetimes as the sheet keeps them (serial days, to the millisecond), so the check
        compares what it reads back with that, not with microseconds the sheet never had."""
        return {k: from_serial(to_serial(v, self.tz), self.tz) if isinstance(v, datetime) else v
                for k, v in values.items()}

    def _apply(self, plan: Plan, entries: list[LogEntry], intent: Intent, report: CommitReport) -> None:
        """ONE atomic batchUpdate: cells first (positions as read), deletes bottom-up, then appends."""
        requests: list[dict] = []
        for place, values in sorted(plan.cells.items(), key=lambda pv: (pv[0].tab, pv[0].row)):
            tab = self._tab(place.tab)
            cells = {tab.columns[key]: cell_data(value, self.schema.column(key).type == "datetime", self.tz,
                                                 self.pattern)
                     for key, value in values.items() if key in tab.columns}
            for start, run in _contiguous(cells):
                requests.append({"updateCells": {
                    "start": {"sheetId": tab.sheet_id, "rowIndex": place.row, "columnIndex": start},
                    "rows": [{"values": run}], "fields": CELL_FIELDS}})
            intent.wrote(place.tab, values)
        requests += self._keep_rows(list(plan.deletes))
        for place in sorted(plan.deletes, key=lambda p: (p.tab, -p.row)):
            requests.append({"deleteDimension": {"range": {
                "sheetId": self._tab(place.tab).sheet_id, "dimension": "ROWS",
                "startIndex": place.row, "endIndex": place.row + 1}}})
        appends: dict[str, list[dict]] = {}
        for key, row in plan.appends:
            appends.setdefault(key, []).append({"values": self._row_cells(self._tab(key), row)})
        if plan.restored:
            report.repaired += [f"{t}: baris terhapus saat staf mengubah urutan baris; dipulihkan" for t in plan.restored]
        if plan.put_back:
            report.repaired += [f"{t}: sel sistem tertimpa saat staf mengubah urutan baris; dikembalikan"
                                for t in plan.put_back]
        requests += [{"appendCells": {"sheetId": self._tab(k).sheet_id, "rows": rows, "fields": ROW_FIELDS}}
                     for k, rows in appends.items()]
        if entries:
            log_tab = self._log_tab()
            requests.append({"appendCells": {"sheetId": log_tab.sheet_id, "fields": CELL_FIELDS,
                                             "rows": [{"values": self._log_cells(log_tab, e)} for e in entries]}})
        if not requests:
            return
        self.client.spreadsheet_batch_update(self.spreadsheet_id, requests, idempotent=False)
        with self.lock:
            self._log.update({(e.kind, e.key): e for e in entries})
            for e in entries:
                if e.kind == TAB_IDS_LOG:
                    self._logged_ids = _parse_ids(e.detail)
        report.logged += sum(1 for e in entries if e.kind != TAB_IDS_LOG)

    def _log_cells(self, tab: Tab, entry: LogEntry) -> list[dict]:
        width = max(tab.columns.values()) + 1
        cells: list[dict] = [{} for _ in range(width)]
        for k, v in (("kind", entry.kind), ("key", entry.key), ("at", entry.at), ("detail", entry.detail)):
            if k in tab.columns:
                cells[tab.columns[k]] = cell_data(v, k == "at", self.tz, self.pattern)
        return cells

    def _before(self, tickets: set[str]) -> Snapshot:
        """Where the tickets are and what their tabs hold: the job's own `read_all` when it saw
        them all (no request), else one read of the tabs the index points at, else a locate first."""
        seen = self._seen
        if seen is not None and self.clock() - seen[0] <= SEEN_MAX_AGE and all(seen[1].first(t) for t in tickets):
            return seen[1]
        with self.lock:
            hints = {self._index[t][0] for t in tickets if t in self._index}
        # Without sheet ids yet, the Log (which records them) rides along: no metadata read.
        snap = self._read_tabs(hints, with_log=not self._have_ids()) if hints else Snapshot()
        if all(snap.first(t) for t in tickets):
            return snap
        where, _ = self._with_fresh_metadata(lambda: self._locate_all())
        tabs = {loc.tab.key for t in tickets for loc in where.get(t, [])}
        return self._read_tabs(tabs | hints) if tabs - snap.tabs else snap

    def _read_tabs(self, keys: Iterable[str], with_log: bool = False, problems: list[str] | None = None,
                   only: dict[str, set[str]] | None = None) -> Snapshot:
        """ONE values.batchGet of tabs (and the Log) as a Snapshot by ticket. For a tab in `only`,
        just the header row, the ticket column and those columns (the commit's check: a few
        columns instead of whole rows of citizen text; other cells then read as blank)."""
        tabs = [self._tabs[k] for k in sorted(set(keys)) if k in self._tabs]
        log_tab = self._tabs.get(layout.LOG_TAB) if with_log else None
        snap = Snapshot(tabs={t.key for t in tabs})
        if not tabs and log_tab is None:
            return snap
        plans: list[tuple[Tab, list[int]]] = []  # (tab, first column of each range; [] = whole tab)
        ranges: list[str] = []
        for tab in tabs:
            wanted = None if only is None or tab.key not in only else {"ticket_id", *only[tab.key]}
            if wanted is None or any(k not in tab.columns for k in wanted):
                plans.append((tab, []))
                ranges.append(tab.quoted)
                continue
            runs = list(_runs(sorted(tab.columns[k] for k in wanted)))
            plans.append((tab, [a for a, _ in runs]))
            ranges += [f"{tab.quoted}!1:1"] + [f"{tab.quoted}!{layout.col_letter(a)}:{layout.col_letter(b)}"
                                                 for a, b in runs]
        started = self.clock()
        result = self.client.batch_get(self.spreadsheet_id, ranges + ([log_tab.quoted] if log_tab else []))
        at = 0
        for tab, starts in plans:
            if not starts:
                self._note_grid(tab.key, result[at])
                values = result[at].get("values", [])
                header, at = (values[0] if values else []), at + 1
            else:
                header = (result[at].get("values") or [[]])[0]
                parts = [result[at + 1 + i].get("values", []) for i in range(len(starts))]
                at += 1 + len(starts)
                values = []
                for r in range(max(map(len, parts), default=0)):
                    cells: list[Any] = [""] * tab.width
                    for start, part in zip(starts, parts):
                        for offset, value in enumerate(part[r] if r < len(part) else []):
                            cells[start + offset] = value
                    values.append(cells)
            found: list[str] = []
            before = tab.columns
            tab = self._check_header(tab, header, found)
            if problems is not None:
                problems.extend(p for p in found if p not in problems)
            if starts and tab.columns != before:  # a header moved since: read this tab whole
                whole = self._read_tabs([tab.key])
                snap.rows.update({t: hits for t, hits in whole.rows.items()})
                snap.orphans += whole.orphans
                continue
            ti = tab.columns.get("ticket_id")
            for r, cells in enumerate(values[1:], start=1):
                if not any(str(c).strip() for c in cells):
                    continue
                if ti is not None and ti < len(cells) and read_text(cells[ti]).strip():
                    snap.add(tab.key, r, self._decode(tab, cells))
                else:
                    snap.orphans.append((Place(tab.key, r), self._decode(tab, cells)))
        if log_tab is not None:
            self._set_log(log_tab, result[-1].get("values", []), started)
        return snap

    def _note_grid(self, key: str, value_range: dict) -> None:
        """A whole-tab read reports the grid (`'PUTR'!A1:U200`): remember its rows for deletes."""
        rows = grid_rows(value_range.get("range", ""))
        if rows:
            self._grid_rows[key] = rows

    def _keep_rows(self, deletes: list[Place]) -> list[dict]:
        """appendDimension requests that keep rows below the frozen header after `deletes`.

        Sheets refuses a deleteDimension that leaves no non-frozen row ("Sorry, it is not
        possible to delete all non-frozen rows."), and a tab grown by appends is exactly header +
        cases: removing all its cases would fail, every time. Blank rows are added at the end in
        the same atomic batch (before the deletes, so no position moves) when fewer than
        SPARE_ROWS would stay."""
        requests = []
        for key in sorted({p.tab for p in deletes}):
            n = sum(1 for p in deletes if p.tab == key)
            grid = self._grid_rows.get(key)
            left = grid - n if grid else 0
            if left < SPARE_ROWS:
                requests.append({"appendDimension": {"sheetId": self._tab(key).sheet_id, "dimension": "ROWS",
                                                     "length": SPARE_ROWS - left}})
                if grid:
                    self._grid_rows[key] = grid + SPARE_ROWS - left
            if key in self._grid_rows:
                self._grid_rows[key] -= n
        return requests

    def _after_commit(self, intent: Intent, after: Snapshot) -> None:
        with self.lock:
            self._seen = None  # positions changed: the next commit reads again
            for ticket, (to_tab, _) in intent.moves.items():
                hit = after.first(ticket)
                self._index[ticket] = (to_tab, hit[0].row if hit and hit[0].tab == to_tab else None)
            for ticket in intent.deletes:
                self._index.pop(ticket, None)
                self._appended.pop(ticket, None)

    # -- the Log ---------------------------------------------------------------------------------
    # A hidden, protected tab. `read_all` brings it along in its one request, so the jobs' Log
    # look-ups cost nothing; writes are ONE values.append (RAW, INSERT_ROWS) for many entries.
    def _set_log(self, tab: Tab, values: list[list[Any]], started: float) -> None:
        tab = self._check_header(tab, values[0] if values else [], [])
        entries: dict[tuple[str, str], LogEntry] = {}
        c = tab.columns
        for cells in values[1:]:
            def get(k):
                i = c.get(k)
                return cells[i] if i is not None and i < len(cells) else ""
            kind, key = read_text(get("kind")), read_text(get("key"))
            if not kind:
                continue
            at = read_datetime(get("at"), self.tz) or datetime.fromtimestamp(0, self.tz)
            entries.setdefault((kind, key), LogEntry(kind, key, at, read_text(get("detail"))))
        ids = [e for e in entries.values() if e.kind == TAB_IDS_LOG]
        with self.lock:
            self._log, self._log_at = entries, started
            if ids:
                self._logged_ids = _parse_ids(max(ids, key=lambda e: e.at).detail)

    def _log_tab(self) -> Tab:
        tab = self._tabs.get(layout.LOG_TAB)
        if tab is None:
            raise StorageUnavailable("the Log tab is missing; run `python main.py bootstrap`")
        return tab

    def _fresh_log(self, force: bool = False) -> dict[tuple[str, str], LogEntry]:
        if force or self.clock() - self._log_at > self.log_max_age:
            def read():
                started = self.clock()
                vr = self.client.batch_get(self.spreadsheet_id, [self._log_tab().quoted])
                self._set_log(self._log_tab(), vr[0].get("values", []), started)
            self._with_fresh_metadata(read)
        return self._log

    def log_add(self, entry: LogEntry, *, new_key: bool = False) -> bool:
        return self.log_add_many([entry], new_key=new_key) == 1

    def log_add_many(self, entries: Sequence[LogEntry], *, new_key: bool = False) -> int:
        """Record each (kind, key) once, all in one request; returns how many were new.
        `new_key`: the caller's keys are random (a lease claim), so no Log read to deduplicate."""
        known = self._log if new_key else self._fresh_log()
        new: dict[tuple[str, str], LogEntry] = {}
        for e in entries:
            if (e.kind, e.key) not in known:
                new.setdefault((e.kind, e.key), e)
        if not new:
            return 0
        count = len(new)
        for attempt in range(self.client.retry.attempts):
            tab = self._log_tab()
            width = max(tab.columns.values()) + 1
            rows = []
            for e in new.values():
                row: list[Any] = [""] * width
                for k, v in (("kind", e.kind), ("key", e.key), ("at", e.at), ("detail", e.detail)):
                    if k in tab.columns:
                        row[tab.columns[k]] = raw_value(v, self.tz)
                rows.append(row)
            table = f"{tab.quoted}!A1:{layout.col_letter(width - 1)}"
            try:
                reply = self._with_fresh_metadata(lambda: self.client.values_append_raw(self.spreadsheet_id, table, rows))
            except AmbiguousWrite:
                self._settle(attempt)
                landed = self._fresh_log(force=True)
                new = {k: e for k, e in new.items() if k not in landed}
                if not new:
                    return count
                continue
            if not appended_where_expected(reply, len(rows), width):
                log("ERROR", "log append landed in an unexpected range",
                    updated_range=reply.get("updates", {}).get("updatedRange", ""))
            with self.lock:
                self._log.update(new)
            return count
        raise StorageUnavailable("log append not confirmed after retries")

    def log_has(self, kind: str, key: str) -> bool:
        return (kind, key) in self._fresh_log()

    def log_entries(self, kind: str | None = None, *, fresh: bool = False,
                    as_written: bool = False) -> list[LogEntry]:
        """`fresh`: read the Log now, not from the instance cache. `as_written`: in sheet order
        (a job lease's walk), not by time."""
        entries = [e for e in self._fresh_log(force=fresh).values()
                   if (e.kind == kind if kind is not None else e.kind != TAB_IDS_LOG)]
        return entries if as_written else sorted(entries, key=lambda e: e.at)

    # -- the Rute tab ------------------------------------------------------------------------------
    # KMC admins edit routing rules here; intake reads it through routing.RuleSource's 5-minute
    # cache (one values.get per instance per 5 minutes). Columns are found by header text.
    def read_rules(self) -> list[dict[str, str]]:
        from ..routing import RULE_COLUMNS

        try:
            # The whole tab, never `A1:Z`: an admin may trim the grid to the columns in use, and
            # an explicit bound past it is a 400 "exceeds grid limits", not a missing tab.
            vr = self._job_side_range(RULES_TITLE)
            if vr is ABSENT:
                return []
            if vr is None:
                (vr,) = self.client.batch_get(self.spreadsheet_id, [layout.quote_title(RULES_TITLE)])
        except SheetsApiError as e:
            if e.bad_range:
                return []  # no Rute tab yet: the shipped rules stand in
            raise
        values = vr.get("values") or []
        if not values:
            return []
        header = [read_text(h).strip().lower() for h in values[0]]
        where = {key: header.index(title.lower()) for key, title in RULE_COLUMNS if title.lower() in header}
        if "opd" not in where:
            where = {key: i for i, (key, _) in enumerate(RULE_COLUMNS)}
        return [{key: read_text(row[i]) if i < len(row) else "" for key, i in where.items()}
                for row in values[1:]]

    def seed_rules(self, rows: Sequence[dict[str, str]]) -> bool:
        """Create and fill the Rute tab when it is missing or empty; never touches admins' edits."""
        from ..routing import RULE_COLUMNS

        meta = self.client.get_metadata(self.spreadsheet_id, "sheets(properties(sheetId,title))")
        titles = {s["properties"]["title"] for s in meta.get("sheets", [])}
        ids = {s["properties"].get("sheetId") for s in meta.get("sheets", [])}
        if RULES_TITLE in titles:
            if self.read_rules():
                return False
        else:
            sheet_id = next(i for i in range(RULES_SHEET_ID, RULES_SHEET_ID + 1000) if i not in ids)
            self.client.spreadsheet_batch_update(self.spreadsheet_id, [
                {"addSheet": {"properties": {"sheetId": sheet_id, "title": RULES_TITLE,
                                             "gridProperties": {"frozenRowCount": 1}}}},
                # OPD staff share this spreadsheet: editing routing rules asks them to confirm first
                {"addProtectedRange": {"protectedRange": {
                    "range": {"sheetId": sheet_id}, "warningOnly": True,
                    "description": "Aturan rute aduan: hanya admin KMC yang mengubah"}}},
            ], idempotent=False)
        values = [[title for _, title in RULE_COLUMNS]] + [[r.get(k, "") for k, _ in RULE_COLUMNS] for r in rows]
        self.client.values_batch_update_raw(self.spreadsheet_id, [{
            "range": f"{layout.quote_title(RULES_TITLE)}!A1", "values": values, "majorDimension": "ROWS"}])
        return True

    def remove_tabs(self, keys: Sequence[str]) -> int:
        """Delete the sheets of these tab keys (the `selftest` scratch tabs) in one request."""
        meta = self.client.get_metadata(self.spreadsheet_id, "sheets(properties(sheetId,title),developerMetadata)")
        sheets = layout.parse_metadata(meta)
        titles = {spec.key: spec.title for spec in layout.tab_specs(self.schema)}
        found = [s for k in keys if (s := layout.identify(sheets, k, titles.get(k, k))) is not None]
        if found:
            self.client.spreadsheet_batch_update(self.spreadsheet_id, [
                {"deleteSheet": {"sheetId": s.sheet_id}} for s in found], idempotent=False)
        self.forget_metadata()
        return len(found)

    # -- the Kontak OPD tab (functions/directory.py) -------------------------------------------------
    # Created and protected by bootstrap (sheets_layout.directory_spec); KMC admins edit it; jobs
    # read it through directory.DirectorySource's cache. Columns are found by header text.
    @staticmethod
    def _directory_range() -> str:
        """The table for appends: exactly the tab's columns (a bound past the grid is a 400)."""
        spec = layout.directory_spec()
        return f"{layout.quote_title(spec.title)}!A1:{layout.col_letter(len(spec.columns) - 1)}"

    def read_directory(self) -> list[dict[str, str]] | None:
        """The tab's rows as {column key: text}, or None when the tab does not exist yet."""
        from ..directory import DIRECTORY_COLUMNS, DIRECTORY_TITLE

        try:
            vr = self._job_side_range(layout.directory_spec().title)
            if vr is ABSENT:
                return None
            if vr is None:
                (vr,) = self.client.batch_get(self.spreadsheet_id, [layout.quote_title(layout.directory_spec().title)])
        except SheetsApiError as e:
            if e.bad_range:
                return None
            raise
        values = vr.get("values") or []
        if not values:
            return []
        hmap = layout.map_header(values[0], DIRECTORY_COLUMNS, None, DIRECTORY_TITLE)
        return [{key: read_text(row[i]) if i < len(row) else "" for key, i in hmap.columns.items()}
                for row in values[1:]]

    def seed_directory(self, rows: Sequence[dict[str, str]]) -> int:
        """Add the rows of OPD keys the tab lacks (all of them under the header when it is empty:
        bootstrap; an OPD added to opds.toml later, appended); never touches admins' edits."""
        from ..directory import DIRECTORY_COLUMNS

        existing = self.read_directory()
        if existing is None:
            return 0
        known = {r.get("opd", "").strip().upper() for r in existing}
        new = [[r.get(k, "") for k, _ in DIRECTORY_COLUMNS] for r in rows if r["opd"] not in known]
        if not new:
            return 0
        if any(any(v.strip() for v in r.values()) for r in existing):
            self.client.values_append_raw(self.spreadsheet_id, self._directory_range(), new)
        else:
            header = [title for _, title in DIRECTORY_COLUMNS]
            self.client.values_batch_update_raw(self.spreadsheet_id, [{
                "range": self._directory_range().split(":", 1)[0], "values": [header, *new],
                "majorDimension": "ROWS"}])
        return len(new)

    # -- the learned routing model (issue 18) ----------------------------------------------------
    # The instance's disk is ephemeral, so the model the daily job learns lives in a hidden tab:
    # A1 = format marker, B1 = number of chunks, C1 = sha256 of the whole text; A2.. = the JSON
    # text in chunks under Sheets' 50,000-characters-per-cell limit. One values.batchUpdate
    # writes it whole; a reader that finds a wrong chunk count or checksum raises ValueError
    # (corrupt: routing falls back to the rules). Intake reads it once an hour per instance.
    def read_routing_model(self) -> str | None:
        try:
            # the whole tab: `A1:C` would be "exceeds grid limits" should someone shrink it
            vr = self._job_side_range(MODEL_TITLE)
            if vr is ABSENT:
                return None
            if vr is None:
                (vr,) = self.client.batch_get(self.spreadsheet_id, [layout.quote_title(MODEL_TITLE)])
        except SheetsApiError as e:
            if e.bad_range:
                return None  # no model tab yet: no model
            raise
        values = vr.get("values") or []
        if not values or not values[0] or read_text(values[0][0]) != MODEL_MARKER:
            return None if not values else _corrupt("penanda tab Model Rute hilang")
        head = values[0] + ["", ""]
        try:
            count = int(float(head[1]))
        except (TypeError, ValueError):
            return _corrupt("jumlah potongan tidak terbaca")
        chunks = [read_text(r[0]) if r else "" for r in values[1 : count + 1]]
        text = "".join(chunks)
        if len(chunks) != count or hashlib.sha256(text.encode("utf-8")).hexdigest() != read_text(head[2]):
            return _corrupt("isi tab Model Rute tidak cocok dengan checksum")
        return text

    def _make_model_room(self, need: int) -> None:
        """Create the Model Rute tab, or grow its grid to `need` rows x 3 columns (a metadata read)."""
        meta = self.client.get_metadata(self.spreadsheet_id, "sheets(properties(sheetId,title,gridProperties))")
        props = {s["properties"]["title"]: s["properties"] for s in meta.get("sheets", [])}
        if MODEL_TITLE not in props:
            ids = {p.get("sheetId") for p in props.values()}
            sheet_id = next(i for i in range(MODEL_SHEET_ID, MODEL_SHEET_ID + 1000) if i not in ids)
            self.client.spreadsheet_batch_update(self.spreadsheet_id, [
                {"addSheet": {"properties": {"sheetId": sheet_id, "title": MODEL_TITLE, "hidden": True,
                                             "gridProperties": {"rowCount": max(need, 50), "columnCount": 3}}}},
                {"addProtectedRange": {"protectedRange": {
                    "range": {"sheetId": sheet_id}, "warningOnly": True,
                    "description": "Model rute yang dipelajari sistem: jangan diubah"}}},
            ], idempotent=False)
        else:  # grow the grid if the model got longer (or someone shrank the tab)
            grid, sid = props[MODEL_TITLE].get("gridProperties", {}), props[MODEL_TITLE]["sheetId"]
            grow = [{"appendDimension": {"sheetId": sid, "dimension": dim, "length": want - have}}
                    for dim, want, have in (("ROWS", need, grid.get("rowCount", 0)),
                                            ("COLUMNS", 3, grid.get("columnCount", 0))) if have < want]
            if grow:
                self.client.spreadsheet_batch_update(self.spreadsheet_id, grow, idempotent=False)

    def write_routing_model(self, text: str) -> None:
        chunks = [text[i : i + MODEL_CHUNK] for i in range(0, len(text), MODEL_CHUNK)] or [""]
        need = len(chunks) + 1
        seen = self._model_grid if self._job_read is not None else None
        if seen is None or seen[0] < need or seen[1] < 3:  # else the job's read saw room enough
            self._make_model_room(need)
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        values = [[MODEL_MARKER, len(chunks), digest]] + [[c] for c in chunks]
        data = [{"range": f"{layout.quote_title(MODEL_TITLE)}!A1:C{need}", "values": values, "majorDimension": "ROWS"}]
        try:
            self.client.values_batch_update_raw(self.spreadsheet_id, data)
        except SheetsApiError as e:  # the tab was shrunk or removed since the job's read
            if seen is None or not (e.beyond_grid or e.bad_range):
                raise
            self._make_model_room(need)
            self.client.values_batch_update_raw(self.spreadsheet_id, data)

    # -- capacity --------------------------------------------------------------------------------
    def cell_usage(self) -> tuple[int, int]:
        """(cells in use, 10,000,000): Sheets counts every cell of every grid, empty or not.

        From metadata this instance loaded within the hour; else from the grid extents a
        `read_all` of the last 10 minutes reported for the KMC tabs (sheets staff added
        themselves are then not counted); else one metadata read."""
        now = self.clock()
        if now - self._meta_at <= 3600:
            return self._grid_cells, CELL_LIMIT
        cells, at = self._read_grid
        if now - at <= 600 and cells:
            return cells, CELL_LIMIT
        self._load_metadata()
        return self._grid_cells, CELL_LIMIT


def _parse_ids(detail: str) -> dict[str, int]:
    try:
        ids = json.loads(detail)
        return {str(k): int(v) for k, v in ids.items()} if isinstance(ids, dict) else {}
    except (ValueError, TypeError, AttributeError):
        return {}


def hash_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def grid_rows(a1: str) -> int:
    """Last row of a whole-sheet range as the API reports it (`'PUTR'!A1:U200` -> 200); 0 if none."""
    import re

    m = re.search(r"!([A-Z]+)(\d+):([A-Z]+)(\d+)$", a1)
    return int(m.group(4)) if m else 0


def grid_size(a1: str) -> tuple[int, int]:
    """(rows, columns) of a whole-sheet range as the API reports it (`'X'!A1:C50` -> (50, 3))."""
    import re

    m = re.search(r"!([A-Z]+)(\d+):([A-Z]+)(\d+)$", a1)
    if not m:
        return (0, 0)
    col = 0
    for ch in m.group(3):
        col = col * 26 + ord(ch) - 64
    return int(m.group(4)), col


def grid_cells(a1: str) -> int:
    """Cells of a whole-sheet range as the API reports it (`'PUTR'!A1:U1000` -> 21,000)."""
    import re

    m = re.search(r"!([A-Z]+)(\d+):([A-Z]+)(\d+)$", a1)
    if not m:
        return 0
    c0, r0, c1, r1 = m.groups()
    col = lambda letters: sum((ord(ch) - 64) * 26 ** i for i, ch in enumerate(reversed(letters)))  # noqa: E731
    return (int(r1) - int(r0) + 1) * (col(c1) - col(c0) + 1)


def appended_where_expected(reply: dict, rows: int, width: int) -> bool:
    """values.append reported whole new rows under the header, from column A over `width` columns."""
    updated = reply.get("updates", {}).get("updatedRange", "")
    cells = updated.rsplit("!", 1)[-1]
    if ":" not in cells:
        cells = f"{cells}:{cells}"
    a, b = cells.split(":", 1)
    la, da = a.rstrip("0123456789"), a[len(a.rstrip("0123456789")):]
    lb, db = b.rstrip("0123456789"), b[len(b.rstrip("0123456789")):]
    if not (da and db):
        return False
    return (la == "A" and lb == layout.col_letter(width - 1) and int(da) >= 2
            and int(db) - int(da) + 1 == rows)


def _runs(cols: list[int]) -> Iterable[tuple[int, int]]:
    """(first, last) of each run of consecutive column indexes (sorted input)."""
    start = prev = None
    for c in cols:
        if start is None:
            start = prev = c
        elif c == prev + 1:
            prev = c
        elif c != prev:
            yield start, prev
            start = prev = c
    if start is not None:
        yield start, prev


def _contiguous(cells: dict[int, dict]) -> Iterable[tuple[int, list[dict]]]:
    run_start, run = None, []
    for col in sorted(cells):
        if run and col == run_start + len(run):
            run.append(cells[col])
        else:
            if run:
                yield run_start, run
            run_start, run = col, [cells[col]]
    if run:
        yield run_start, run


# ----------------------------------------------------------------------------- the contact book
CONTACT_TITLE = "Kontak"
CONTACT_COLUMNS = ("ticket_id", "channel", "name", "phone", "channel_user_id", "email", "anonymous", "received_at")
CONTACT_HEADERS = ("No. Tiket", "Kanal", "Nama", "Telepon", "ID Pengguna Kanal", "Email", "Anonim", "Diterima")
FULL_TEXT_TITLE = "Teks Lengkap"  # complaints too long for a cell, whole, in parts
FULL_TEXT_HEADERS = ("No. Tiket", "Bagian", "Teks")
FULL_TEXT_CHUNK = 40_000


class GoogleContactBook:
    """The ContactBook port on the private contact spreadsheet (tab `Kontak`, one row per ticket).

    Appends go through `values.append` (RAW, INSERT_ROWS, explicit table range) and the reported
    range is checked. Reads are served from an instance cache refreshed at most every
    `max_age` seconds (bounded reads whatever the traffic); `forget` always reads fresh.
    A ticket written twice (redelivery to another instance) leaves two identical rows: readers
    take the last, `forget` erases all.
    """

    def __init__(self, client: SheetsHTTPClient, spreadsheet_id: str, *, tz: ZoneInfo = DEFAULT_TZ,
                 coalesce_window: float = 1.0, max_age: float = 30.0, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.client, self.spreadsheet_id, self.tz = client, spreadsheet_id, tz
        self.clock, self.sleep, self.max_age = clock, sleep, max_age
        self.lock = threading.RLock()
        self._ready = False
        self._records: dict[str, ContactRecord] = {}
        self._at = float("-inf")
        self.puts = Coalescer(self._flush_puts, window=coalesce_window, clock=clock, sleep=sleep)
        self.problems: list[str] = []

    @classmethod
    def from_settings(cls, settings, **kw) -> "GoogleContactBook":
        if not settings.contacts_spreadsheet_id:
            raise StorageUnavailable("KMC_CONTACTS_SPREADSHEET_ID is not set")
        return cls(shared_client(settings.sheets_emulator_host), settings.contacts_spreadsheet_id, tz=settings.tz, **kw)

    @property
    def table(self) -> str:
        return f"{layout.quote_title(CONTACT_TITLE)}!A1:{layout.col_letter(len(CONTACT_COLUMNS) - 1)}"

    def bootstrap(self) -> list[str]:
        """Create the `Kontak` tab with its header and formats (idempotent)."""
        meta = self.client.get_metadata(self.spreadsheet_id, "sheets(properties(sheetId,title))")
        titles = {s["properties"]["title"]: s["properties"]["sheetId"] for s in meta.get("sheets", [])}
        done: list[str] = []
        if CONTACT_TITLE not in titles:
            sid = max(list(titles.values()) + [1000]) + 1
            header = [{"userEnteredValue": {"stringValue": h}, "userEnteredFormat": {"textFormat": {"bold": True}}}
                      for h in CONTACT_HEADERS]
            n = len(CONTACT_COLUMNS)
            self.client.spreadsheet_batch_update(self.spreadsheet_id, [
                {"addSheet": {"properties": {"sheetId": sid, "title": CONTACT_TITLE, "gridProperties": {
                    "rowCount": layout.INITIAL_ROWS, "columnCount": n, "frozenRowCount": 1}}}},
                {"updateCells": {"start": {"sheetId": sid, "rowIndex": 0, "columnIndex": 0}, "rows": [{"values": header}],
                                 "fields": "userEnteredValue,userEnteredFormat.textFormat"}},
                {"repeatCell": {"range": {"sheetId": sid, "startRowIndex": 1, "startColumnIndex": 0, "endColumnIndex": n - 1},
                                "cell": {"userEnteredFormat": {"numberFormat": {"type": "TEXT"}}},
                                "fields": "userEnteredFormat.numberFormat"}},
                {"repeatCell": {"range": {"sheetId": sid, "startRowIndex": 1, "startColumnIndex": n - 1, "endColumnIndex": n},
                                "cell": {"userEnteredFormat": {"numberFormat": {"type": "DATE_TIME", "pattern": "yyyy-mm-dd hh:mm:ss"}}},
                                "fields": "userEnteredFormat.numberFormat"}},
            ], idempotent=False)
            done.append(f"tab {CONTACT_TITLE} dibuat di spreadsheet kontak")
        self._ready = True
        return done

    def _ensure(self) -> None:
        if not self._ready:
            self.bootstrap()

    def _tab_call(self, fn: Callable[[], Any]) -> Any:
        """Assume the `Kontak` tab exists (no metadata read); create it if the range fails."""
        try:
            return fn()
        except SheetsApiError as e:
            if not e.bad_range:
                raise
            self._ready = False
            self._ensure()
            return fn()

    # -- reading ---------------------------------------------------------------------------
    def _decode(self, cells: list[Any]) -> ContactRecord | None:
        get = lambda i: cells[i] if i < len(cells) else ""  # noqa: E731
        ticket = read_text(get(0)).strip()
        if not ticket:
            return None
        anon = get(6)
        contact = Contact(read_text(get(2)), read_text(get(3)), read_text(get(4)), read_text(get(5)),
                          anon is True or read_text(anon).strip().upper() in ("TRUE", "1", "YA"))
        at = read_datetime(get(7), self.tz) or datetime.fromtimestamp(0, self.tz)
        return ContactRecord(ticket, read_text(get(1)), contact, at)

    def _rows(self) -> list[tuple[int, ContactRecord]]:
        started = self.clock()
        vr = self._tab_call(lambda: self.client.batch_get(self.spreadsheet_id, [self.table]))
        out = []
        for r, cells in enumerate(vr[0].get("values", [])[1:], start=1):
            rec = self._decode(cells)
            if rec is not None:
                out.append((r, rec))
        with self.lock:
            self._records = {rec.ticket_id: rec for _, rec in out}  # the last row of a ticket wins
            self._at = started
        return out

    def _cached(self) -> dict[str, ContactRecord]:
        if self.clock() - self._at > self.max_age:
            self._rows()
        return self._records

    # -- ContactBook port --------------------------------------------------------------------
    def put(self, record: ContactRecord) -> None:
        with self.lock:
            known = self._records.get(record.ticket_id)
        if known == record:
            return
        self.puts.submit([record])

    def _encode(self, record: ContactRecord) -> list[Any]:
        c = record.contact
        return [record.ticket_id, record.channel, c.name, c.phone, c.channel_user_id, c.email, bool(c.anonymous),
                to_serial(record.received_at, self.tz)]

    def _flush_puts(self, records: list[ContactRecord]) -> list[None]:
        latest = {r.ticket_id: r for r in records}
        rows = [self._encode(r) for r in latest.values()]
        for attempt in range(self.client.retry.attempts):
            try:
                reply = self._tab_call(lambda: self.client.values_append_raw(self.spreadsheet_id, self.table, rows))
                break
            except AmbiguousWrite:
                self.sleep(max(SETTLE_SECONDS, self.client.retry.backoff(attempt, self.client.rng)))
                present = {rec.ticket_id for _, rec in self._rows()}
                rows = [self._encode(r) for t, r in latest.items() if t not in present]
                if not rows:
                    reply = None
                    break
        else:
            raise StorageUnavailable("contact append not confirmed after retries")
        if reply is not None:
            self._check_append(reply, len(rows))
        with self.lock:
            self._records.update(latest)
        return [None] * len(records)

    def _check_append(self, reply: dict, n: int) -> None:
        if not appended_where_expected(reply, n, len(CONTACT_COLUMNS)):
            updated = reply.get("updates", {}).get("updatedRange", "")
            self.problems.append(f"kontak: baris baru tercatat di rentang tak terduga {updated!r}")
            log("ERROR", "contact append landed in an unexpected range", updated_range=updated, rows=n)

    def get(self, ticket_id: str) -> ContactRecord | None:
        return self._cached().get(ticket_id)

    # -- whole texts too long for a cell (intake keeps them here; the OPD row shows them cut) ---
    @property
    def _texts_table(self) -> str:
        return f"{layout.quote_title(FULL_TEXT_TITLE)}!A1:C"

    def keep_text(self, ticket_id: str, text: str) -> None:
        """Store `text` whole on the `Teks Lengkap` tab, in parts a cell can hold (a cell takes
        at most 50,000 characters). A part written twice (a retry) is read back once."""
        parts = [text[i:i + FULL_TEXT_CHUNK] for i in range(0, len(text), FULL_TEXT_CHUNK)] or [""]
        rows = [[ticket_id, f"{n}/{len(parts)}", part] for n, part in enumerate(parts, start=1)]
        try:
            self.client.values_append_raw(self.spreadsheet_id, self._texts_table, rows)
        except SheetsApiError as e:
            if not e.bad_range:
                raise
            self._add_texts_tab()
            self.client.values_append_raw(self.spreadsheet_id, self._texts_table, rows)

    def _add_texts_tab(self) -> None:
        meta = self.client.get_metadata(self.spreadsheet_id, "sheets(properties(sheetId,title))")
        titles = {sh["properties"]["title"]: sh["properties"]["sheetId"] for sh in meta.get("sheets", [])}
        if FULL_TEXT_TITLE in titles:
            return
        sid = max(list(titles.values()) + [1000]) + 1
        header = [{"userEnteredValue": {"stringValue": h}, "userEnteredFormat": {"textFormat": {"bold": True}}}
                  for h in FULL_TEXT_HEADERS]
        self.client.spreadsheet_batch_update(self.spreadsheet_id, [
            {"addSheet": {"properties": {"sheetId": sid, "title": FULL_TEXT_TITLE, "gridProperties": {
                "rowCount": layout.INITIAL_ROWS, "columnCount": len(FULL_TEXT_HEADERS), "frozenRowCount": 1}}}},
            {"updateCells": {"start": {"sheetId": sid, "rowIndex": 0, "columnIndex": 0}, "rows": [{"values": header}],
                             "fields": "userEnteredValue,userEnteredFormat.textFormat"}},
        ], idempotent=False)

    def full_text(self, ticket_id: str) -> str | None:
        try:
            (vr,) = self.client.batch_get(self.spreadsheet_id, [self._texts_table])
        except SheetsApiError as e:
            if e.bad_range:
                return None
            raise
        parts: dict[int, str] = {}
        for cells in vr.get("values", [])[1:]:
            if len(cells) >= 2 and read_text(cells[0]).strip() == ticket_id:
                number = read_text(cells[1]).split("/")[0]
                if number.isdigit():
                    parts.setdefault(int(number), read_text(cells[2]) if len(cells) > 2 else "")
        return "".join(parts[n] for n in sorted(parts)) if parts else None

    def latest_for(self, channel_user_id: str, since: datetime) -> ContactRecord | None:
        if not channel_user_id:
            return None
        hits = [r for r in self._cached().values()
                if r.contact.channel_user_id == channel_user_id and r.received_at >= since]
        return max(hits, key=lambda r: r.received_at) if hits else None

    def forget(self, ticket_or_phone: str) -> list[str]:
        rows = self._rows()
        needle = ticket_or_phone
        hits = [(r, rec) for r, rec in rows if rec.ticket_id == needle
                or (rec.contact.phone and rec.contact.phone == needle)
                or (rec.contact.channel_user_id and rec.contact.channel_user_id == needle)]
        if not hits:
            return []
        data = [{"range": f"{layout.quote_title(CONTACT_TITLE)}!C{r + 1}:G{r + 1}", "majorDimension": "ROWS",
                 "values": [["", "", "", "", True]]} for r, _ in hits]
        self.client.values_batch_update_raw(self.spreadsheet_id, data)
        tickets = list(dict.fromkeys(rec.ticket_id for _, rec in hits))
        with self.lock:
            for t in tickets:
                rec = self._records.get(t)
                if rec is not None:
                    self._records[t] = ContactRecord(t, rec.channel, Contact(anonymous=True), rec.received_at)
        return tickets
