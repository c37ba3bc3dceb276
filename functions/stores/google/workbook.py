"""GoogleWorkbook: the Workbook port on the shared OPD spreadsheet, composed of its roles.

Request budget (DESIGN.md "Quotas are physics"; docs/sheets.md):
- intake, warm instance: one write per complaint, coalesced with concurrent complaints into one
  `spreadsheets.batchUpdate` (appends.py); metadata (sheet ids, header rows) cached per instance;
- `read_all`: ONE `values.batchGet` over every tab and the Log (reading.py);
- `commit`: ONE atomic `spreadsheets.batchUpdate` and ONE `values.batchGet` that checks where it
  landed (commit.py, repair.py); Log entries and Log expiry ride in it (log.py).

Each role lives in its own module as a mixin over the one instance state set up here: the roles
share the metadata cache, the ticket index and the job's read, which is the point of them.
"""
from __future__ import annotations

import threading
import time
from typing import Callable, Sequence
from zoneinfo import ZoneInfo

from ...config import ConfigError
from ...journal import LogEntry
from ...logs import log
from ...model import StorageUnavailable
from ...schema import Schema
from . import layout
from .appends import AppendRole
from .coalescer import Coalescer
from .codec import DEFAULT_TZ
from .commit import CommitRole
from .config_tabs import ConfigTabsRole
from .http import AmbiguousWrite, SheetsHTTPClient, shared_client
from .index import IndexRole, Tab
from .log import LogRole
from .reading import ReadRole
from .repair import Snapshot

BOOTSTRAP_BATCH = 400  # sub-requests per bootstrap batchUpdate (whole tabs): small replies, short requests
REFUSE_WITHOUT_EDITOR = (
    "bootstrap ditolak: KMC_SERVICE_ACCOUNT belum diisi, padahal Anda masuk dengan akun pribadi. Proteksi "
    "kolom sistem hanya akan mengizinkan akun yang menjalankan bootstrap, sehingga fungsi (akun layanan "
    "kmc-runtime) tidak bisa menulis aduan. Isi KMC_SERVICE_ACCOUNT=kmc-runtime@PROJECT_ID.iam.gserviceaccount.com "
    "(di ~/kmc.env) lalu jalankan bootstrap lagi.")


class GoogleWorkbook(IndexRole, ReadRole, AppendRole, CommitRole, LogRole, ConfigTabsRole):
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
        self._log_rows: list[tuple[int, LogEntry]] = []  # (0-based row, entry) of every Log row, as last read
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
            self._set_log(self._log_tab(), values[-1], started)
        if self._ids_entry():
            self.log_add_many(self._ids_entry())
            self._meta_at = float("-inf")  # the Log grew: count cells afresh (ids stay known)
        return done  # empty: nothing to change, as the local store answers
