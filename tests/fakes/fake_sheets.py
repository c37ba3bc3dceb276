"""A stateful stand-in for the Sheets API v4 endpoints KMC Aduan uses.

Faithful in what matters to the adapter:
- spreadsheets: create, get (metadata: properties, protectedRanges, conditionalFormats,
  developerMetadata; never grid data), batchUpdate (atomic: validated first, then applied);
- values: get, batchGet, append (table detection, INSERT_ROWS/OVERWRITE, `updates.updatedRange`
  in the reply), update, batchUpdate, clear, batchClear;
- A1 ranges with quoted sheet titles (`'Triase KMC'!A1:S`), open-ended ranges (`A:A`, `1:1`, `A2:S`);
- RAW vs USER_ENTERED: USER_ENTERED turns "=..." into a formula, numbers and dates into numbers;
  every formula ever written is recorded in `formulas_written` so tests can assert there is none;
- trailing empty rows and cells omitted from value responses, as Google does;
- a per-minute write (and optionally read) quota answering 429 RESOURCE_EXHAUSTED in Google's
  JSON error shape; injectable faults (500/503/429, timeouts, connection resets, "applied but the
  reply was lost"); request counts by kind.

Strict where the real API is strict (issue 15; each rule has a test with its citation in
`tests/adapters/test_fake_strictness.py`):
- every request body, query parameter and `fields` mask is checked against Google's own
  discovery document (`sheets.v4.json`, shipped by google-api-python-client): unknown fields,
  wrong types, values outside an enum -> 400 as Google words it; `fields` selects the response;
- an explicit range past the grid -> 400 "exceeds grid limits" (reads and writes); open ends clip;
- a deleteDimension leaving no non-frozen row -> 400 "Sorry, it is not possible to delete all
  non-frozen rows."; a batchUpdate is all or nothing;
- Drive sharing per spreadsheet (owner, writers, readers; default: anyone with the link may
  edit): 403 PERMISSION_DENIED for a caller it is not shared with, 404 for an unknown id;
- protections by identity: the caller (bearer token -> `token_for`, else `default_caller`) may
  write a protected cell only as the owner or an editor; the requester of addProtectedRange
  becomes an editor; `editors` is shown only to editors, `requestingUserCanEdit` per caller;
- formats and data validation are per cell: repeatCell / setDataValidation reach the rows the
  grid has at that moment; protections and conditional formats keep unbounded GridRanges;
- a formula reads back as its value (FORMATTED/UNFORMATTED_VALUE), as its text only with FORMULA.

Use it in-process with `responses` (`fake.install(rsps)`) or as a loopback HTTP server
(`with fake.serve() as host:` / `python -m tests.fakes.fake_sheets --port 8765 --spreadsheet ID`)
for `SHEETS_EMULATOR_HOST`. Staff actions (sort, insert/delete rows, typing into a cell) are
plain methods that act on the state directly, as a person in the browser would.
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import json
import re
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable
from urllib.parse import parse_qs, unquote, urlsplit

from tests.fakes import sheets_discovery as discovery
from tests.fakes.loopback import LoopbackServer as _Loopback

EPOCH = datetime(1899, 12, 30)
WRITE_KINDS = frozenset({"values.append", "values.update", "values.batchUpdate", "values.clear",
                         "values.batchClear", "spreadsheets.batchUpdate", "spreadsheets.create"})


# ----------------------------------------------------------------------------- A1 ranges
def col_letter(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    out = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        out = chr(65 + rem) + out
    return out


def col_index(letters: str) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + (ord(ch) - 64)
    return n - 1


def quote_title(title: str) -> str:
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", title) and not re.fullmatch(r"[A-Za-z]{1,3}\d+", title):
        return title
    return "'" + title.replace("'", "''") + "'"


def split_a1(a1: str) -> tuple[str | None, str | None]:
    """`'My Tab'!A1:B2` -> ("My Tab", "A1:B2"); `Tab` -> ("Tab", None); `A1:B2` -> (None, "A1:B2")."""
    a1 = a1.strip()
    if a1.startswith("'"):
        i, title = 1, ""
        while i < len(a1):
            if a1[i] == "'":
                if i + 1 < len(a1) and a1[i + 1] == "'":
                    title += "'"
                    i += 2
                    continue
                break
            title += a1[i]
            i += 1
        rest = a1[i + 1:]
        if rest.startswith("!"):
            return title, rest[1:] or None
        if rest:
            raise ValueError(a1)
        return title, None
    if "!" in a1:
        title, cells = a1.split("!", 1)
        return title, cells or None
    return None, a1  # a title or a cell range; resolved against the sheets


_CELL = re.compile(r"^([A-Za-z]*)(\d*)$")


def parse_cells(cells: str) -> tuple[int | None, int | None, int | None, int | None]:
    """A1 cell range -> (row0, col0, row1, col1), 0-based, end exclusive; None = open."""
    parts = cells.split(":")
    if len(parts) > 2:
        raise ValueError(cells)
    m1 = _CELL.match(parts[0])
    m2 = _CELL.match(parts[1]) if len(parts) == 2 else m1
    if not m1 or not m2 or not (parts[0]) or (len(parts) == 2 and not parts[1]):
        raise ValueError(cells)
    c0 = col_index(m1.group(1)) if m1.group(1) else None
    r0 = int(m1.group(2)) - 1 if m1.group(2) else None
    c1 = col_index(m2.group(1)) + 1 if m2.group(1) else None
    r1 = int(m2.group(2)) if m2.group(2) else None
    if (r0 is not None and r0 < 0) or (r1 is not None and r1 < 1):
        raise ValueError(cells)
    if len(parts) == 1 and (c0 is None or r0 is None):
        raise ValueError(cells)
    return r0, c0, r1, c1


def serial_of(dt: datetime) -> float:
    return (dt - EPOCH).total_seconds() / 86400


def render_date(serial: float, pattern: str) -> str:
    dt = EPOCH + timedelta(days=serial)
    fmt = pattern.replace("hh:mm", "%H:%M").replace("yyyy", "%Y").replace("mm", "%m").replace("dd", "%d")
    fmt = fmt.replace("hh", "%H").replace("ss", "%S")
    return dt.strftime(fmt)


# ----------------------------------------------------------------------------- state
class Cell:
    """A cell: value `v`, formula `f` (then `v` is what the formula computed), number format and
    data validation (a property of each cell in Sheets, like the format)."""
    __slots__ = ("v", "f", "fmt", "dv")

    def __init__(self, v: Any = None, f: str | None = None, fmt: dict | None = None, dv: dict | None = None):
        self.v, self.f, self.fmt, self.dv = v, f, fmt, dv

    def with_value(self, v: Any, f: str | None = None) -> "Cell":
        """A new cell holding `v` (and formula `f`) that keeps this cell's format and validation."""
        return Cell(v, f, self.fmt, self.dv)

    @property
    def has_data(self) -> bool:
        return (self.v is not None and self.v != "") or self.f is not None


BLANK = Cell()


def _cell_data(cell: Cell | None) -> dict:
    """A cell as CellData in GridData: its value as `effectiveValue` (a formula's result)."""
    if cell is None or not cell.has_data or cell.v is None or cell.v == "":
        return {}
    v = cell.v
    kind = "boolValue" if isinstance(v, bool) else "numberValue" if isinstance(v, (int, float)) else "stringValue"
    return {"effectiveValue": {kind: v}}


class ApiError(Exception):
    def __init__(self, code: int, status: str, message: str):
        super().__init__(message)
        self.code, self.status, self.message = code, status, message

    def body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message, "status": self.status}}


def bad(message: str) -> ApiError:
    return ApiError(400, "INVALID_ARGUMENT", message)


# Google's words for an API write into a protected range by someone who is not its editor.
PROTECTED = ("You are trying to edit a protected cell or object. Please contact the spreadsheet owner to "
             "remove protection if you need to edit.")


@dataclass
class Sheet:
    sheet_id: int
    title: str
    index: int
    row_count: int = 1000
    col_count: int = 26
    frozen_rows: int = 0
    hidden: bool = False
    rows: list[list[Cell | None]] = field(default_factory=list)
    col_formats: dict[int, tuple[int, dict]] = field(default_factory=dict)  # col -> (from row, format)
    col_widths: dict[int, int] = field(default_factory=dict)
    conditional_formats: list[dict] = field(default_factory=list)
    protected_ranges: list[dict] = field(default_factory=list)
    developer_metadata: list[dict] = field(default_factory=list)
    borders: list[dict] = field(default_factory=list)

    def cell(self, r: int, c: int) -> Cell | None:
        if r < len(self.rows):
            row = self.rows[r]
            if c < len(row):
                return row[c]
        return None

    def put(self, r: int, c: int, cell: Cell) -> None:
        if r >= self.row_count or c >= self.col_count:
            raise bad(f"Range ({quote_title(self.title)}!{col_letter(c)}{r + 1}) exceeds grid limits. "
                      f"Max rows: {self.row_count}, max columns: {self.col_count}")
        while len(self.rows) <= r:
            self.rows.append([])
        row = self.rows[r]
        while len(row) <= c:
            row.append(None)
        row[c] = cell

    def ensure(self, r: int, c: int) -> Cell:
        cell = self.cell(r, c)
        if cell is None:
            cell = Cell()
            self.put(r, c, cell)
        return cell

    @property
    def validations(self) -> list[dict]:
        """Data validation as runs of cells per column and rule (Sheets keeps a rule per cell)."""
        runs: list[dict] = []
        for c in range(self.col_count):
            current = None
            for r, row in enumerate(self.rows):
                dv = row[c].dv if c < len(row) and row[c] is not None else None
                if current is not None and dv == current["rule"] and current["range"]["endRowIndex"] == r:
                    current["range"]["endRowIndex"] = r + 1
                    continue
                current = None
                if dv is not None:
                    current = {"range": {"sheetId": self.sheet_id, "startRowIndex": r, "endRowIndex": r + 1,
                                         "startColumnIndex": c, "endColumnIndex": c + 1}, "rule": dv}
                    runs.append(current)
        return runs

    def validation_at(self, r: int, c: int) -> dict | None:
        cell = self.cell(r, c)
        return cell.dv if cell is not None else None

    def covered(self, ranges: list[dict], r: int, c: int) -> bool:
        """Whether cell (r, c) lies in one of these GridRanges (a missing index = unbounded)."""
        return any(g.get("startRowIndex", 0) <= r < g.get("endRowIndex", self.row_count)
                   and g.get("startColumnIndex", 0) <= c < g.get("endColumnIndex", self.col_count) for g in ranges)

    def fmt_of(self, r: int, c: int) -> dict | None:
        cell = self.cell(r, c)
        if cell is not None and cell.fmt is not None:
            return cell.fmt
        default = self.col_formats.get(c)
        if default and r >= default[0]:
            return default[1]
        return None

    def last_data_row(self) -> int:
        """Index of the last row holding any value, -1 when empty."""
        for r in range(len(self.rows) - 1, -1, -1):
            if any(c is not None and c.has_data for c in self.rows[r]):
                return r
        return -1

    def row_has_data(self, r: int, c0: int = 0, c1: int | None = None) -> bool:
        if r >= len(self.rows):
            return False
        row = self.rows[r][c0:c1]
        return any(c is not None and c.has_data for c in row)

    def insert_rows(self, at: int, n: int) -> None:
        if at < len(self.rows):
            self.rows[at:at] = [[] for _ in range(n)]
        self.row_count += n
        self._shift_ranges(at, n)

    def delete_rows(self, start: int, end: int) -> None:
        del self.rows[start:end]
        self.row_count -= end - start
        self._shift_ranges(start, -(end - start))

    def _shift_ranges(self, at: int, n: int) -> None:
        grids = [pr["range"] for pr in self.protected_ranges] + [g for rule in self.conditional_formats
                                                                  for g in rule.get("ranges", [])]
        def moved(index: int) -> int:  # where row boundary `index` goes after the insert/delete
            if n > 0:
                return index + n if index >= at else index
            return index if index <= at else max(at, index + n)

        for rng in grids:  # a missing index is unbounded and stays so (rows added later are covered)
            if "startRowIndex" in rng and (n < 0 or rng["startRowIndex"] >= at):
                rng["startRowIndex"] = moved(rng["startRowIndex"])
            if "endRowIndex" in rng:
                rng["endRowIndex"] = moved(rng["endRowIndex"]) if rng["endRowIndex"] > at else rng["endRowIndex"]

    def properties(self) -> dict:
        props = {
            "sheetId": self.sheet_id, "title": self.title, "index": self.index, "sheetType": "GRID",
            "gridProperties": {"rowCount": self.row_count, "columnCount": self.col_count},
        }
        if self.frozen_rows:
            props["gridProperties"]["frozenRowCount"] = self.frozen_rows
        if self.hidden:
            props["hidden"] = True
        return props

    def metadata(self) -> dict:
        out: dict[str, Any] = {"properties": self.properties()}
        if self.protected_ranges:
            out["protectedRanges"] = copy.deepcopy(self.protected_ranges)
        if self.conditional_formats:
            out["conditionalFormats"] = copy.deepcopy(self.conditional_formats)
        if self.developer_metadata:
            out["developerMetadata"] = copy.deepcopy(self.developer_metadata)
        return out


OWNER = "admin.kmc@ketapangkab.go.id"  # who owns the spreadsheets the fake creates (a person's Drive)
DEFAULT_CALLER = "kmc-runtime@emulator.iam.gserviceaccount.com"  # an anonymous (emulator) request


@dataclass
class Spreadsheet:
    spreadsheet_id: str
    title: str
    sheets: list[Sheet] = field(default_factory=list)
    next_id: int = 1000
    owner: str = OWNER
    writers: set[str] | None = None  # Drive sharing: None = anyone with the link may edit
    readers: set[str] = field(default_factory=set)

    def can_read(self, who: str) -> bool:
        return self.writers is None or who == self.owner or who in self.writers or who in self.readers

    def can_write(self, who: str) -> bool:
        return self.writers is None or who == self.owner or who in self.writers

    def by_title(self, title: str) -> Sheet | None:
        for s in self.sheets:
            if s.title == title:
                return s
        return None

    def by_id(self, sheet_id: int) -> Sheet:
        for s in self.sheets:
            if s.sheet_id == sheet_id:
                return s
        raise bad(f"No grid with id: {sheet_id}")

    def resolve(self, a1: str) -> tuple[Sheet, tuple[int, int, int, int]]:
        """A1 -> (sheet, (r0, c0, r1, c1)) clipped to the grid; raises Google's parse error."""
        try:
            title, cells = split_a1(a1)
        except ValueError:
            raise bad(f"Unable to parse range: {a1}") from None
        if title is None:
            sheet = self.by_title(cells or "")
            if sheet is not None:
                cells = None
            else:
                if not self.sheets:
                    raise bad(f"Unable to parse range: {a1}")
                sheet = self.sheets[0]
        else:
            sheet = self.by_title(title)
            if sheet is None:
                raise bad(f"Unable to parse range: {a1}")
        if cells is None:
            return sheet, (0, 0, sheet.row_count, sheet.col_count)
        try:
            r0, c0, r1, c1 = parse_cells(cells)
        except ValueError:
            raise bad(f"Unable to parse range: {a1}") from None
        r0 = 0 if r0 is None else r0
        c0 = 0 if c0 is None else c0
        if (r1 or 0) > sheet.row_count or (c1 or 0) > sheet.col_count or r0 >= sheet.row_count or c0 >= sheet.col_count:
            # An explicit bound past the grid is refused (an open end such as `A:A` or `A2:S` is
            # clipped to the grid instead): "Range ('Rute'!A1:Z) exceeds grid limits".
            raise bad(f"Range ({quote_title(sheet.title)}!{cells}) exceeds grid limits. "
                      f"Max rows: {sheet.row_count}, max columns: {sheet.col_count}")
        r1 = sheet.row_count if r1 is None else r1
        c1 = sheet.col_count if c1 is None else c1
        if r1 <= r0 or c1 <= c0:
            raise bad(f"Unable to parse range: {a1}")
        return sheet, (r0, c0, r1, c1)


def a1_of(sheet: Sheet, r0: int, c0: int, r1: int, c1: int) -> str:
    return f"{quote_title(sheet.title)}!{col_letter(c0)}{r0 + 1}:{col_letter(c1 - 1)}{r1}"


@dataclass
class Fault:
    kind: str  # "500", "503", "429", "timeout", "reset", "applied_timeout", "late_apply"
    times: int = 1
    only: frozenset[str] = frozenset()  # request kinds it applies to; empty = every kind
    delay: float = 3.0  # late_apply: seconds (fake clock) before the timed-out write takes effect


@dataclass
class RequestRecord:
    method: str
    kind: str
    spreadsheet_id: str
    status: int


class FakeSheets:
    """The Sheets API state and its request handler (transport-agnostic)."""

    def __init__(self, *, write_quota_per_minute: int | None = None, read_quota_per_minute: int | None = None,
                 window_seconds: float = 60.0, clock: Callable[[], float] = time.monotonic,
                 server_timeout_delay: float = 2.0, default_caller: str = DEFAULT_CALLER):
        self.spreadsheets: dict[str, Spreadsheet] = {}
        self.default_caller = default_caller  # who a request without a known bearer token is
        self.tokens: dict[str, str] = {}  # bearer token -> identity (email)
        self.caller = default_caller  # identity of the request being handled
        self._transport = threading.local()  # headers of the request a transport is handing over
        self.write_quota = write_quota_per_minute
        self.read_quota = read_quota_per_minute
        self.window = window_seconds
        self.clock = clock
        self.server_timeout_delay = server_timeout_delay
        self.counts: Counter[str] = Counter()  # accepted requests by kind
        self.rejected: Counter[str] = Counter()  # by status
        self.requests: list[RequestRecord] = []
        self.sub_requests: Counter[str] = Counter()  # batchUpdate request types
        self.batch_sizes: list[int] = []  # sub-requests of each applied batchUpdate
        self.formulas_written: list[tuple[str, str, str, str]] = []  # (spreadsheet, tab, A1, formula)
        self.value_input: Counter[str] = Counter()  # RAW / USER_ENTERED / (cells API)
        self.faults: deque[Fault] = deque()
        self.auto_create = False
        self._late: list[tuple[float, str, str, Any]] = []  # (apply at, method, url, body)
        self._writes: deque[float] = deque()
        self._reads: deque[float] = deque()
        self.lock = threading.RLock()

    # -- setup / inspection ------------------------------------------------------------
    def create(self, title: str = "Untitled spreadsheet", spreadsheet_id: str | None = None,
               first_sheet: str | None = "Sheet1", *, owner: str = OWNER,
               writers: set[str] | None = None, readers: set[str] = frozenset()) -> str:
        """A spreadsheet in `owner`'s Drive, shared for editing with `writers` (None: anyone
        with the link) and for viewing with `readers`."""
        with self.lock:
            sid = spreadsheet_id or uuid.uuid4().hex[:20]
            ss = Spreadsheet(sid, title, owner=owner, writers=None if writers is None else set(writers),
                             readers=set(readers))
            if first_sheet:
                ss.sheets.append(Sheet(0, first_sheet, 0))
            self.spreadsheets[sid] = ss
            return sid

    def book(self, spreadsheet_id: str) -> Spreadsheet:
        ss = self.spreadsheets.get(spreadsheet_id)
        if ss is None:
            if self.auto_create:
                self.create(spreadsheet_id=spreadsheet_id)
                return self.spreadsheets[spreadsheet_id]
            raise ApiError(404, "NOT_FOUND", "Requested entity was not found.")
        return ss

    def token_for(self, identity: str) -> str:
        """A bearer token that makes requests come from `identity` (a user or service account)."""
        token = "fake-" + hashlib.sha256(identity.encode()).hexdigest()[:16]
        self.tokens[token] = identity
        return token

    def identity_of(self, headers: Any) -> str:
        auth = ""
        if headers is not None:
            auth = headers.get("Authorization") or headers.get("authorization") or ""
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        return self.tokens.get(token, self.default_caller)

    def sheet(self, spreadsheet_id: str, title: str) -> Sheet:
        sheet = self.book(spreadsheet_id).by_title(title)
        if sheet is None:
            raise KeyError(title)
        return sheet

    def values(self, spreadsheet_id: str, title: str, render: str = "FORMATTED_VALUE") -> list[list[Any]]:
        """A tab as the API would return it for the whole sheet (trailing blanks trimmed)."""
        with self.lock:
            ss = self.book(spreadsheet_id)
            sheet = ss.by_title(title)
            return self._read(sheet, (0, 0, sheet.row_count, sheet.col_count), render, "SERIAL_NUMBER")

    @property
    def write_requests(self) -> int:
        return sum(n for k, n in self.counts.items() if k in WRITE_KINDS)

    @property
    def read_requests(self) -> int:
        return sum(n for k, n in self.counts.items() if k not in WRITE_KINDS)

    def reset_counts(self) -> None:
        with self.lock:
            self.counts.clear()
            self.rejected.clear()
            self.requests.clear()
            self.sub_requests.clear()
            self.batch_sizes.clear()

    def inject(self, kind: str, times: int = 1, only: tuple[str, ...] | frozenset[str] = (), delay: float = 3.0) -> None:
        """Make the next `times` matching requests fail: 500, 503, 429, timeout, reset, applied_timeout
        (applied, reply lost) or late_apply (reply lost, applied `delay` seconds later)."""
        self.faults.append(Fault(kind, times, frozenset(only), delay))

    # -- staff in the browser ------------------------------------------------------------
    def staff_set(self, spreadsheet_id: str, title: str, a1: str, value: Any, *, respect_protection: bool = True) -> None:
        """Type into a cell as a staff member (USER_ENTERED); protected cells refuse."""
        with self.lock:
            ss = self.book(spreadsheet_id)
            sheet, (r0, c0, _, _) = ss.resolve(f"{quote_title(title)}!{a1}")
            if respect_protection and self._protected(sheet, r0, c0):
                raise PermissionError(f"{title}!{a1} is protected")
            self._write_user_entered(ss, sheet, r0, c0, value)

    def staff_sort(self, spreadsheet_id: str, title: str, column: int, reverse: bool = False,
                   header_rows: int = 1) -> None:
        """Sort the data rows by one column (empty rows go last, as Sheets does)."""
        with self.lock:
            sheet = self.sheet(spreadsheet_id, title)
            body = sheet.rows[header_rows:]
            filled = [r for r in body if any(c is not None and c.has_data for c in r)]
            empty = [r for r in body if not any(c is not None and c.has_data for c in r)]

            def key(row):
                c = row[column] if column < len(row) else None
                v = c.v if c is not None else None
                return (0, v) if isinstance(v, (int, float)) else (1, str(v or ""))
            filled.sort(key=key, reverse=reverse)
            sheet.rows[header_rows:] = filled + empty

    def staff_insert_rows(self, spreadsheet_id: str, title: str, at_row: int, n: int = 1) -> None:
        """Insert `n` blank rows before 1-based row `at_row`."""
        with self.lock:
            self.sheet(spreadsheet_id, title).insert_rows(at_row - 1, n)

    def staff_delete_row(self, spreadsheet_id: str, title: str, row: int) -> None:
        with self.lock:
            self.sheet(spreadsheet_id, title).delete_rows(row - 1, row)

    def staff_rename_tab(self, spreadsheet_id: str, title: str, new_title: str) -> None:
        with self.lock:
            self.sheet(spreadsheet_id, title).title = new_title

    def find_row(self, spreadsheet_id: str, title: str, text: str) -> int:
        """1-based row of the first cell equal to `text` (for tests)."""
        sheet = self.sheet(spreadsheet_id, title)
        for r, row in enumerate(sheet.rows):
            if any(c is not None and c.v == text for c in row):
                return r + 1
        raise KeyError(text)

    def _protected(self, sheet: Sheet, r: int, c: int) -> bool:
        for pr in sheet.protected_ranges:
            g = pr["range"]
            if (g.get("startRowIndex", 0) <= r < g.get("endRowIndex", sheet.row_count)
                    and g.get("startColumnIndex", 0) <= c < g.get("endColumnIndex", sheet.col_count)
                    and not pr.get("warningOnly")):
                inside_hole = any(
                    u.get("startRowIndex", 0) <= r < u.get("endRowIndex", sheet.row_count)
                    and u.get("startColumnIndex", 0) <= c < u.get("endColumnIndex", sheet.col_count)
                    for u in pr.get("unprotectedRanges", ())
                )
                if not inside_hole:
                    return True
        return False

    # -- transport-agnostic entry point ---------------------------------------------------
    def handle(self, method: str, url: str, body: bytes | str | None, headers: Any = None) -> tuple[int, dict, Fault | None]:
        """(status, JSON body, fault to enact by the transport) for one HTTP request."""
        if headers is None:  # a transport passes them aside, so `handle` keeps its 3-argument shape
            headers = getattr(self._transport, "headers", None)
        parts = urlsplit(url)
        query = parse_qs(parts.query, keep_blank_values=True)
        path = parts.path
        try:
            payload = json.loads(body) if body else {}
        except ValueError:
            return 400, bad("Invalid JSON payload received.").body(), None
        with self.lock:
            for due in [x for x in self._late if x[0] <= self.clock()]:
                self._late.remove(due)
                self.handle(due[1], due[2], due[3])
            try:
                kind, sid, action = self._route(method.upper(), path)
                self.caller = self.identity_of(headers)
                self._conform(kind, query, payload)
                self._check_access(kind, sid)
            except ApiError as e:
                self.rejected[e.code] += 1
                return e.code, e.body(), None
            fault = self._take_fault(kind)
            if fault and fault.kind == "late_apply":
                self._late.append((self.clock() + fault.delay, method, url, body))
                self.requests.append(RequestRecord(method, kind, sid, 0))
                return 0, {}, Fault("timeout")
            if fault and fault.kind in {"500", "503", "429"}:
                code = int(fault.kind)
                status = {500: "INTERNAL", 503: "UNAVAILABLE", 429: "RESOURCE_EXHAUSTED"}[code]
                self.rejected[code] += 1
                self.requests.append(RequestRecord(method, kind, sid, code))
                return code, ApiError(code, status, "Injected fault").body(), None
            if fault and fault.kind in {"timeout", "reset"}:
                self.requests.append(RequestRecord(method, kind, sid, 0))
                return 0, {}, fault
            quota = self._quota_error(kind)
            if quota:
                self.rejected[429] += 1
                self.requests.append(RequestRecord(method, kind, sid, 429))
                return 429, quota.body(), None
            try:
                result = self._select(kind, query, action(query, payload))
            except ApiError as e:
                self.rejected[e.code] += 1
                self.requests.append(RequestRecord(method, kind, sid, e.code))
                return e.code, e.body(), None
            self.counts[kind] += 1
            self.requests.append(RequestRecord(method, kind, sid, 200))
            if fault and fault.kind == "applied_timeout":
                return 0, {}, Fault("timeout")
            return 200, result, None

    def _conform(self, kind: str, query: dict, payload: Any) -> None:
        """The request as the discovery document declares it: parameters, body, `fields`."""
        try:
            discovery.check_query(kind, query)
            discovery.check_body(kind, payload)
            if "fields" in query:
                tree = discovery.parse_mask(query["fields"][0])
                discovery.check_mask(tree, discovery.response_schema(kind), "fields")
        except discovery.SchemaError as e:
            raise bad(str(e)) from None

    @staticmethod
    def _select(kind: str, query: dict, result: dict) -> dict:
        """Only what the `fields` parameter asks for (standard system parameter of every method)."""
        if "fields" not in query:
            return result
        return discovery.apply_mask(result, discovery.parse_mask(query["fields"][0]))

    def _check_access(self, kind: str, sid: str) -> None:
        """Drive sharing: 404 for an unknown id, 403 for a spreadsheet not shared with the caller."""
        if not sid:
            return
        ss = self.book(sid)
        allowed = ss.can_write(self.caller) if kind in WRITE_KINDS else ss.can_read(self.caller)
        if not allowed:
            raise ApiError(403, "PERMISSION_DENIED", "The caller does not have permission")

    def may_edit(self, ss: Spreadsheet, sheet: Sheet, r: int, c: int, who: str | None = None) -> bool:
        """Whether `who` (default: the caller) may change cell (r, c): the owner always; else only
        editors of every protected range (not warning-only) that covers it."""
        who = who or self.caller
        if who == ss.owner:
            return True
        for pr in sheet.protected_ranges:
            if pr.get("warningOnly") or not sheet.covered([pr["range"]], r, c):
                continue
            if sheet.covered(pr.get("unprotectedRanges", []), r, c):
                continue
            if who not in pr.get("editors", {}).get("users", []):
                return False
        return True

    def _guard(self, ss: Spreadsheet, sheet: Sheet, r: int, c: int) -> None:
        if not self.may_edit(ss, sheet, r, c):
            raise bad(PROTECTED)

    def _take_fault(self, kind: str) -> Fault | None:
        for fault in list(self.faults):
            if not fault.only or kind in fault.only:
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    def _quota_error(self, kind: str) -> ApiError | None:
        write = kind in WRITE_KINDS
        limit = self.write_quota if write else self.read_quota
        if limit is None:
            return None
        stamps = self._writes if write else self._reads
        now = self.clock()
        while stamps and stamps[0] <= now - self.window:
            stamps.popleft()
        if len(stamps) >= limit:
            what = "Write" if write else "Read"
            return ApiError(
                429, "RESOURCE_EXHAUSTED",
                f"Quota exceeded for quota metric '{what} requests' and limit '{what} requests per minute "
                f"per user' of service 'sheets.googleapis.com' for consumer 'project_number:0'.",
            )
        stamps.append(now)
        return None

    def _route(self, method: str, path: str) -> tuple[str, str, Callable[[dict, dict], dict]]:
        prefix = "/v4/spreadsheets"
        if not path.startswith(prefix):
            raise ApiError(404, "NOT_FOUND", f"Unknown path {path}")
        tail = path[len(prefix):]
        if tail in ("", "/"):
            if method != "POST":
                raise ApiError(404, "NOT_FOUND", "Unknown method")
            return "spreadsheets.create", "", self._create
        tail = tail[1:]
        if "/values" in tail:
            sid, _, rest = tail.partition("/values")
            if rest.startswith(":"):
                verb = rest[1:]
                table = {"batchGet": ("GET", self._batch_get), "batchUpdate": ("POST", self._values_batch_update),
                         "batchClear": ("POST", self._batch_clear)}
                if verb not in table or table[verb][0] != method:
                    raise ApiError(404, "NOT_FOUND", f"Unknown values method {verb}")
                fn = table[verb][1]
                return f"values.{verb}", sid, lambda q, b: fn(sid, q, b)
            a1 = rest[1:]
            for suffix, verb, m, fn in ((":append", "append", "POST", self._append), (":clear", "clear", "POST", self._clear)):
                if a1.endswith(suffix):
                    if method != m:
                        raise ApiError(404, "NOT_FOUND", "Unknown method")
                    rng = unquote(a1[: -len(suffix)])
                    return f"values.{verb}", sid, lambda q, b, fn=fn, rng=rng: fn(sid, rng, q, b)
            rng = unquote(a1)
            if method == "GET":
                return "values.get", sid, lambda q, b: self._get(sid, rng, q)
            if method == "PUT":
                return "values.update", sid, lambda q, b: self._update(sid, rng, q, b)
            raise ApiError(404, "NOT_FOUND", "Unknown method")
        if tail.endswith(":batchUpdate"):
            sid = tail[: -len(":batchUpdate")]
            if method != "POST":
                raise ApiError(404, "NOT_FOUND", "Unknown method")
            return "spreadsheets.batchUpdate", sid, lambda q, b: self._batch_update(sid, b)
        if method == "GET" and "/" not in tail and ":" not in tail:
            return "spreadsheets.get", tail, lambda q, b: self._get_metadata(tail, q)
        raise ApiError(404, "NOT_FOUND", f"Unknown path {path}")

    # -- spreadsheets ----------------------------------------------------------------------
    def _create(self, query: dict, body: dict) -> dict:
        title = body.get("properties", {}).get("title", "Untitled spreadsheet")
        sid = self.create(title, first_sheet=None if body.get("sheets") else "Sheet1")
        ss = self.spreadsheets[sid]
        for i, spec in enumerate(body.get("sheets", [])):
            props = spec.get("properties", {})
            ss.sheets.append(Sheet(props.get("sheetId", i), props.get("title", f"Sheet{i + 1}"), i))
        return self._get_metadata(sid, {})

    def _get_metadata(self, sid: str, query: dict) -> dict:
        ss = self.book(sid)
        if query.get("includeGridData", ["false"])[0].lower() == "true":
            raise bad("includeGridData is not supported by this fake (the adapter never needs it)")
        sheets = []
        for sheet in sorted(ss.sheets, key=lambda s: s.index):
            meta = sheet.metadata()
            for pr in meta.get("protectedRanges", []):
                # As the caller sees it: `editors` only for those who may edit the range.
                pr["requestingUserCanEdit"] = self.caller == ss.owner or pr.get("warningOnly", False) or (
                    self.caller in pr.get("editors", {}).get("users", []))
                if not pr["requestingUserCanEdit"] or pr.get("warningOnly"):
                    pr.pop("editors", None)
            sheets.append(meta)
        return {
            "spreadsheetId": ss.spreadsheet_id,
            "properties": {"title": ss.title, "locale": "id_ID", "timeZone": "Asia/Jakarta"},
            "sheets": sheets,
            "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{ss.spreadsheet_id}/edit",
        }

    def _batch_update(self, sid: str, body: dict) -> dict:
        ss = self.book(sid)
        reqs = body.get("requests", [])
        if not isinstance(reqs, list):
            raise bad("requests must be a list")
        # Atomic like Google: if any request fails, nothing of the batch is applied.
        snap = _snapshot(ss, reqs)
        formulas, subs = len(self.formulas_written), self.sub_requests.copy()
        try:
            replies = [self._apply(ss, i, req, dry=False) for i, req in enumerate(reqs)]
        except ApiError:
            _restore(ss, snap)
            del self.formulas_written[formulas:]
            self.sub_requests = subs
            raise
        self.batch_sizes.append(len(reqs))
        out = {"spreadsheetId": sid, "replies": replies}
        if body.get("includeSpreadsheetInResponse"):
            out["updatedSpreadsheet"] = self._updated_spreadsheet(ss, body)
        return out

    def _updated_spreadsheet(self, ss: Spreadsheet, body: dict) -> dict:
        """BatchUpdateSpreadsheetResponse.updatedSpreadsheet: the spreadsheet after the batch,
        limited to `responseRanges` (whole sheets here), with GridData when
        `responseIncludeGridData` (rowData of CellData carrying `effectiveValue`, an
        ExtendedValue: numberValue / stringValue / boolValue; a date is its serial number).
        Fields per developers.google.com/sheets/api/reference/rest/v4/spreadsheets/batchUpdate."""
        wanted = body.get("responseRanges") or []
        sheets = [ss.resolve(a1)[0] for a1 in wanted] if wanted else sorted(ss.sheets, key=lambda s: s.index)
        out = []
        for sheet in sheets:
            meta = {"properties": sheet.properties()}
            if body.get("responseIncludeGridData"):
                rows = []
                for r in range(sheet.last_data_row() + 1):
                    cells = sheet.rows[r] if r < len(sheet.rows) else []
                    rows.append({"values": [_cell_data(c) for c in cells]})
                meta["data"] = [{"startRow": 0, "startColumn": 0, "rowData": rows}]
            out.append(meta)
        meta = self._get_metadata(ss.spreadsheet_id, {})
        return {"spreadsheetId": ss.spreadsheet_id, "properties": meta["properties"], "sheets": out}

    def _validate_ids(self, ss: Spreadsheet, i: int, req: dict) -> None:
        if len(req) != 1:
            raise bad(f"Invalid requests[{i}]: exactly one request kind per entry")
        (name, spec), = req.items()
        if name not in _HANDLERS:
            raise bad(f"Invalid requests[{i}]: unknown request {name}")
        sheet_id = _sheet_id_in(spec) if name != "addSheet" else None
        if sheet_id is not None:
            try:
                ss.by_id(sheet_id)
            except ApiError:
                raise bad(f"Invalid requests[{i}].{name}: No grid with id: {sheet_id}") from None

    def _apply(self, ss: Spreadsheet, i: int, req: dict, dry: bool) -> dict:
        self._validate_ids(ss, i, req)
        (name, spec), = req.items()
        try:
            discovery.check_request_mask(name, spec, f"Invalid requests[{i}].{name}")
        except discovery.SchemaError as e:
            raise bad(str(e)) from None
        if not dry:
            self.sub_requests[name] += 1
        try:
            return _HANDLERS[name](self, ss, spec, dry) or {}
        except ApiError as e:
            raise bad(f"Invalid requests[{i}].{name}: {e.message}") from None

    # -- values ----------------------------------------------------------------------------
    def _read(self, sheet: Sheet, box: tuple[int, int, int, int], render: str, dt_render: str) -> list[list[Any]]:
        r0, c0, r1, c1 = box
        out: list[list[Any]] = []
        for r in range(r0, min(r1, len(sheet.rows))):
            row = sheet.rows[r]
            values = []
            for c in range(c0, min(c1, len(row))):
                values.append(self._render(sheet, r, c, row[c], render, dt_render))
            while values and values[-1] == "":
                values.pop()
            out.append(values)
        while out and not out[-1]:
            out.pop()
        return out

    def _render(self, sheet: Sheet, r: int, c: int, cell: Cell | None, render: str, dt_render: str) -> Any:
        if cell is None or not cell.has_data:
            return ""
        if cell.f is not None and render == "FORMULA":
            return cell.f
        v = cell.v  # a formula reads back as the value it computed (FORMATTED/UNFORMATTED_VALUE)
        if v is None or v == "":
            return ""
        if isinstance(v, bool):
            return v if render != "FORMATTED_VALUE" else ("TRUE" if v else "FALSE")
        if isinstance(v, (int, float)):
            fmt = sheet.fmt_of(r, c) or {}
            is_date = fmt.get("type") in ("DATE", "DATE_TIME", "TIME")
            if render == "FORMATTED_VALUE" or (is_date and dt_render == "FORMATTED_STRING"):
                if is_date:
                    return render_date(v, fmt.get("pattern") or "yyyy-mm-dd hh:mm")
                return str(int(v)) if float(v).is_integer() else repr(float(v))
            return int(v) if float(v).is_integer() else v
        return v

    def _get(self, sid: str, a1: str, query: dict) -> dict:
        ss = self.book(sid)
        sheet, box = ss.resolve(a1)
        render = query.get("valueRenderOption", ["FORMATTED_VALUE"])[0]
        dt = query.get("dateTimeRenderOption", ["SERIAL_NUMBER"])[0]
        values = self._read(sheet, box, render, dt)
        out = {"range": a1_of(sheet, *box), "majorDimension": "ROWS"}
        if values:
            out["values"] = values
        return out

    def _batch_get(self, sid: str, query: dict, body: dict) -> dict:
        ranges = query.get("ranges", [])
        return {"spreadsheetId": sid, "valueRanges": [self._get(sid, a1, query) for a1 in ranges]}

    def _input_option(self, query_or_body: dict) -> str:
        raw = query_or_body.get("valueInputOption")
        option = raw[0] if isinstance(raw, list) else raw
        if option not in ("RAW", "USER_ENTERED"):
            raise bad("'valueInputOption' is required but not specified")
        return option

    def _write_values(self, ss: Spreadsheet, sheet: Sheet, r0: int, c0: int, values: list[list[Any]], option: str) -> int:
        self.value_input[option] += 1
        written = 0
        for dr, row in enumerate(values):
            for dc, value in enumerate(row):
                if value is None:
                    continue
                if r0 + dr < sheet.row_count and c0 + dc < sheet.col_count:
                    self._guard(ss, sheet, r0 + dr, c0 + dc)
                if option == "RAW":
                    if isinstance(value, (dict, list)):
                        raise bad("Invalid values: nested structures")
                    sheet.put(r0 + dr, c0 + dc, (sheet.cell(r0 + dr, c0 + dc) or BLANK).with_value(value))
                else:
                    self._write_user_entered(ss, sheet, r0 + dr, c0 + dc, value)
                written += 1
        return written

    def _write_user_entered(self, ss: Spreadsheet, sheet: Sheet, r: int, c: int, value: Any) -> None:
        old = sheet.cell(r, c) or BLANK
        if isinstance(value, str):
            if value.startswith("="):
                self.formulas_written.append((ss.spreadsheet_id, sheet.title, f"{col_letter(c)}{r + 1}", value))
                sheet.put(r, c, old.with_value(_evaluate(value), value))
                return
            if value.startswith("'"):
                sheet.put(r, c, old.with_value(value[1:]))
                return
            parsed = _parse_user_number(value)
            if parsed is not None:
                number, date_fmt = parsed
                sheet.put(r, c, Cell(number, None, old.fmt or date_fmt, old.dv))
                return
        sheet.put(r, c, old.with_value(value))

    def _update(self, sid: str, a1: str, query: dict, body: dict) -> dict:
        ss = self.book(sid)
        option = self._input_option(query)
        sheet, (r0, c0, r1, c1) = ss.resolve(a1)
        values = body.get("values", [])
        if len(values) > r1 - r0 or any(len(row) > c1 - c0 for row in values):
            raise bad(f"Requested writing within range [{a1}], but tried writing outside of it")
        n = self._write_values(ss, sheet, r0, c0, values, option)
        rows = len(values)
        cols = max((len(r) for r in values), default=0)
        return {"spreadsheetId": sid, "updatedRange": a1_of(sheet, r0, c0, r0 + max(rows, 1), c0 + max(cols, 1)),
                "updatedRows": rows, "updatedColumns": cols, "updatedCells": n}

    def _values_batch_update(self, sid: str, query: dict, body: dict) -> dict:
        ss = self.book(sid)
        option = self._input_option(body)
        boxes = [(ss.resolve(d["range"]), d) for d in body.get("data", [])]  # validate all first
        responses_, total = [], 0
        for (sheet, (r0, c0, r1, c1)), d in boxes:
            values = d.get("values", [])
            n = self._write_values(ss, sheet, r0, c0, values, option)
            total += n
            responses_.append({"spreadsheetId": sid, "updatedRange": a1_of(sheet, r0, c0, r0 + max(len(values), 1),
                                                                            c0 + max((len(v) for v in values), default=1)),
                               "updatedCells": n})
        return {"spreadsheetId": sid, "totalUpdatedCells": total, "responses": responses_}

    def _append(self, sid: str, a1: str, query: dict, body: dict) -> dict:
        ss = self.book(sid)
        option = self._input_option(query)
        insert = query.get("insertDataOption", ["OVERWRITE"])[0]
        sheet, (r0, c0, r1, c1) = ss.resolve(a1)
        values = body.get("values", [])
        # Table detection, as Google does it: the first row with data inside the range starts the
        # table; the table runs over contiguous non-empty rows; new rows go right after it.
        start = next((r for r in range(r0, min(r1, len(sheet.rows))) if sheet.row_has_data(r, c0, c1)), None)
        if start is None:
            at, table = r0, None
        else:
            end = start
            while end + 1 < min(r1, sheet.row_count) and sheet.row_has_data(end + 1, c0, c1):
                end += 1
            at, table = end + 1, (start, end + 1)
        n = len(values)
        if insert == "INSERT_ROWS":
            sheet.insert_rows(at, n)
        elif at + n > sheet.row_count:
            sheet.row_count = at + n
        width = max((len(v) for v in values), default=0)
        if c0 + width > sheet.col_count:
            raise bad(f"Range exceeds grid limits. Max columns: {sheet.col_count}")
        cells = self._write_values(ss, sheet, at, c0, values, option)
        out: dict[str, Any] = {"spreadsheetId": sid, "updates": {
            "spreadsheetId": sid, "updatedRange": a1_of(sheet, at, c0, at + max(n, 1), c0 + max(width, 1)),
            "updatedRows": n, "updatedColumns": width, "updatedCells": cells}}
        if table:
            out["tableRange"] = a1_of(sheet, table[0], c0, table[1], c1)
        return out

    def _clear(self, sid: str, a1: str, query: dict, body: dict) -> dict:
        ss = self.book(sid)
        sheet, (r0, c0, r1, c1) = ss.resolve(a1)
        for r in range(r0, min(r1, len(sheet.rows))):
            for c in range(c0, min(c1, len(sheet.rows[r]))):
                cell = sheet.rows[r][c]
                if cell is not None and cell.has_data:
                    self._guard(ss, sheet, r, c)
                    sheet.rows[r][c] = cell.with_value(None)
        return {"spreadsheetId": sid, "clearedRange": a1_of(sheet, r0, c0, r1, c1)}

    def _batch_clear(self, sid: str, query: dict, body: dict) -> dict:
        ranges = body.get("ranges", [])
        for a1 in ranges:
            self.book(sid).resolve(a1)
        return {"spreadsheetId": sid, "clearedRanges": [self._clear(sid, a1, query, body)["clearedRange"] for a1 in ranges]}

    # -- transports --------------------------------------------------------------------------
    def _via_transport(self, headers: Any, method: str, url: str, body: Any) -> tuple[int, dict, Fault | None]:
        self._transport.headers = headers
        try:
            return self.handle(method, url, body)  # tests may wrap `handle` (staff acting mid-request)
        finally:
            self._transport.headers = None

    def install(self, rsps, base_url: str = "https://sheets.googleapis.com") -> None:
        """Route every Sheets request of a `responses.RequestsMock` to this fake."""
        import requests

        def callback(request):
            status, body, fault = self._via_transport(request.headers, request.method, request.url, request.body)
            if fault is not None:
                if fault.kind == "reset":
                    raise requests.exceptions.ConnectionError("Connection reset by peer (injected)")
                raise requests.exceptions.ReadTimeout("Read timed out (injected)")
            return status, {"Content-Type": "application/json; charset=UTF-8"}, json.dumps(body)

        for method in ("GET", "POST", "PUT"):
            rsps.add_callback(method, re.compile(re.escape(base_url.rstrip("/")) + r"/v4/spreadsheets.*"),
                              callback=callback)

    def wsgi(self, environ, start_response):
        """The same handler as a WSGI app (loopback server for SHEETS_EMULATOR_HOST)."""
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        path = environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO", "")
        if "?" not in path and environ.get("QUERY_STRING"):
            path += "?" + environ["QUERY_STRING"]
        status, payload, fault = self._via_transport({"Authorization": environ.get("HTTP_AUTHORIZATION", "")},
                                                     environ["REQUEST_METHOD"], path, body)
        if fault is not None:
            # Over a real socket a timeout is a reply that comes too late (set server_timeout_delay
            # above the client's read timeout); should the client still wait, it gets a 504.
            # A reset is a 502 here.
            if fault.kind == "reset":
                status, payload = 502, ApiError(502, "UNAVAILABLE", "Bad gateway (injected)").body()
            else:
                time.sleep(self.server_timeout_delay)
                status, payload = 504, ApiError(504, "DEADLINE_EXCEEDED", "Deadline exceeded (injected)").body()
        data = json.dumps(payload).encode()
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 429: "Too Many Requests",
                  500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
                  504: "Gateway Timeout"}.get(status, "Error")
        start_response(f"{status} {reason}", [("Content-Type", "application/json; charset=UTF-8"),
                                              ("Content-Length", str(len(data)))])
        return [data]

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> "LoopbackServer":
        return LoopbackServer(self, host, port)


class VirtualTime:
    """A monotonic clock that `sleep` advances instantly: backoff and pacing cost no real time."""

    def __init__(self, start: float = 1000.0):
        self.now = start
        self.slept = 0.0
        self._lock = threading.Lock()

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.now += max(0.0, seconds)
            self.slept += max(0.0, seconds)


class LoopbackServer(_Loopback):
    """The fake on a loopback port in a thread: `with fake.serve() as hostport: ...`."""

    def __init__(self, fake: FakeSheets, host: str, port: int):
        super().__init__(fake.wsgi, host, port)

    def __enter__(self) -> str:
        return self.host

    def __exit__(self, *exc) -> None:
        self.close()


# ----------------------------------------------------------------------------- batchUpdate requests
def _sheet_id_in(spec: dict) -> int | None:
    for path in (("sheetId",), ("range", "sheetId"), ("start", "sheetId"), ("properties", "sheetId"),
                 ("rule", "ranges", 0, "sheetId"), ("protectedRange", "range", "sheetId"),
                 ("developerMetadata", "location", "sheetId"), ("source", "sheetId")):
        node: Any = spec
        try:
            for key in path:
                node = node[key]
        except (KeyError, IndexError, TypeError):
            continue
        if isinstance(node, int):
            return node
    return None


def _snapshot(ss: Spreadsheet, reqs: list[dict]) -> tuple:
    """Enough to undo a failed batch: cells are replaced, never mutated, by batchUpdate handlers."""
    touched: set[int] | None = set()
    for req in reqs:
        for name, spec in req.items():
            sheet_id = _sheet_id_in(spec) if isinstance(spec, dict) and name != "addSheet" else None
            if name == "addSheet":
                continue
            if sheet_id is None:
                touched = None  # cannot tell which sheet: keep them all
                break
            touched.add(sheet_id)
        if touched is None:
            break
    sheets = []
    for s in ss.sheets:
        if touched is not None and s.sheet_id not in touched:
            continue
        state = {k: copy.deepcopy(v) for k, v in vars(s).items() if k != "rows"}
        sheets.append((s, [list(r) for r in s.rows], state))
    return ss.title, ss.next_id, list(ss.sheets), sheets


def _restore(ss: Spreadsheet, snap: tuple) -> None:
    ss.title, ss.next_id, ss.sheets, sheets = snap[0], snap[1], snap[2], snap[3]
    for s, rows, state in sheets:
        s.rows = rows
        for k, v in state.items():
            setattr(s, k, v)


def _box(sheet: Sheet, g: dict) -> tuple[int, int, int, int]:
    return (g.get("startRowIndex", 0), g.get("startColumnIndex", 0),
            g.get("endRowIndex", sheet.row_count), g.get("endColumnIndex", sheet.col_count))


def _fields(spec: dict) -> set[str]:
    raw = spec.get("fields")
    if not raw:
        raise bad("At least one field must be updated, but 'fields' is empty")
    out: set[str] = set()
    for part in re.findall(r"[\w.]+\([^)]*\)|[\w.*]+", raw):  # "a(b,c),d" -> a.b, a.c, d
        if "(" in part:
            head, inner = part[:-1].split("(", 1)
            out |= {f"{head}.{x.strip()}" for x in inner.split(",")}
        else:
            out.add(part.strip())
    return out


def _cell_from(fake: FakeSheets, ss: Spreadsheet, sheet: Sheet, r: int, c: int, data: dict, fields: set[str], dry: bool) -> None:
    """Set the fields the mask names (a named field absent from `data` is cleared, as documented)."""
    if r < sheet.row_count and c < sheet.col_count:
        fake._guard(ss, sheet, r, c)
    existing = sheet.cell(r, c)
    cell = Cell(existing.v, existing.f, existing.fmt, existing.dv) if existing is not None else Cell()
    if "*" in fields or "dataValidation" in fields:
        cell.dv = data.get("dataValidation")  # the parsed request's own object: never mutated
    if "*" in fields or "userEnteredValue" in fields:
        uev = data.get("userEnteredValue") or {}
        cell.v, cell.f = None, None
        if "stringValue" in uev:
            cell.v = str(uev["stringValue"])
        elif "numberValue" in uev:
            cell.v = float(uev["numberValue"])
        elif "boolValue" in uev:
            cell.v = bool(uev["boolValue"])
        elif "formulaValue" in uev:
            cell.f = uev["formulaValue"]
            cell.v = _evaluate(cell.f)
            if not dry:
                fake.formulas_written.append((ss.spreadsheet_id, sheet.title, f"{col_letter(c)}{r + 1}", cell.f))
    if "*" in fields or "userEnteredFormat" in fields or "userEnteredFormat.numberFormat" in fields:
        nf = (data.get("userEnteredFormat") or {}).get("numberFormat")
        cell.fmt = nf
    sheet.put(r, c, cell)


def _h_append_cells(fake, ss, spec, dry):
    sheet = ss.by_id(spec["sheetId"])
    fields = _fields(spec)
    rows = spec.get("rows", [])
    at = sheet.last_data_row() + 1
    if at + len(rows) > sheet.row_count:
        sheet.row_count = at + len(rows)
    width = max((len(r.get("values", [])) for r in rows), default=0)
    if width > sheet.col_count:
        sheet.col_count = width
    for dr, row in enumerate(rows):
        for dc, data in enumerate(row.get("values", [])):
            _cell_from(fake, ss, sheet, at + dr, dc, data, fields, dry)
    if not dry:
        fake.value_input["cells"] += 1
    return {}


def _h_update_cells(fake, ss, spec, dry):
    fields = _fields(spec)
    if "start" in spec:
        sheet = ss.by_id(spec["start"]["sheetId"])
        r0, c0 = spec["start"].get("rowIndex", 0), spec["start"].get("columnIndex", 0)
    else:
        sheet = ss.by_id(spec["range"]["sheetId"])
        r0, c0, _, _ = _box(sheet, spec["range"])
    for dr, row in enumerate(spec.get("rows", [])):
        for dc, data in enumerate(row.get("values", [])):
            _cell_from(fake, ss, sheet, r0 + dr, c0 + dc, data, fields, dry)
    if not dry:
        fake.value_input["cells"] += 1
    return {}


def _h_repeat_cell(fake, ss, spec, dry):
    """Sets every cell of the range as it is NOW (an unbounded range ends at the grid's last
    row): like the format and validation of a cell, nothing carries over to rows added later."""
    sheet = ss.by_id(spec["range"]["sheetId"])
    fields = _fields(spec)
    r0, c0, r1, c1 = _box(sheet, spec["range"])
    cell = spec.get("cell", {})
    for r in range(r0, r1):
        for c in range(c0, c1):
            _cell_from(fake, ss, sheet, r, c, cell, fields, dry)
    return {}


def _h_add_sheet(fake, ss, spec, dry):
    props = spec.get("properties", {})
    title = props.get("title") or f"Sheet{len(ss.sheets) + 1}"
    if ss.by_title(title) is not None:
        raise bad(f'A sheet with the name "{title}" already exists. Please enter another name.')
    sid = props.get("sheetId")
    if sid is None:
        ss.next_id += 1
        sid = ss.next_id
    elif any(s.sheet_id == sid for s in ss.sheets):
        raise bad(f"Sheet with id {sid} already exists")
    grid = props.get("gridProperties", {})
    index = props.get("index", len(ss.sheets))
    for s in ss.sheets:
        if s.index >= index:
            s.index += 1
    sheet = Sheet(sid, title, index, grid.get("rowCount", 1000), grid.get("columnCount", 26),
                  grid.get("frozenRowCount", 0), props.get("hidden", False))
    ss.sheets.append(sheet)
    return {"addSheet": {"properties": sheet.properties()}}


def _h_delete_sheet(fake, ss, spec, dry):
    sheet = ss.by_id(spec["sheetId"])
    if len(ss.sheets) == 1:
        raise bad("You can't remove all the sheets in a document.")
    ss.sheets.remove(sheet)
    return {}


def _h_update_sheet_properties(fake, ss, spec, dry):
    props = spec.get("properties", {})
    sheet = ss.by_id(props["sheetId"])
    for f in _fields(spec):
        if f == "title":
            other = ss.by_title(props["title"])
            if other is not None and other is not sheet:
                raise bad(f'A sheet with the name "{props["title"]}" already exists.')
            sheet.title = props["title"]
        elif f == "gridProperties.frozenRowCount":
            sheet.frozen_rows = props.get("gridProperties", {}).get("frozenRowCount", 0)
        elif f == "gridProperties.rowCount":
            sheet.row_count = props["gridProperties"]["rowCount"]
        elif f == "gridProperties.columnCount":
            sheet.col_count = props["gridProperties"]["columnCount"]
        elif f == "hidden":
            sheet.hidden = bool(props.get("hidden"))
        elif f == "index":
            sheet.index = props["index"]
        else:
            raise bad(f"Unsupported field {f}")
    return {}


def _h_delete_dimension(fake, ss, spec, dry):
    rng = spec["range"]
    sheet = ss.by_id(rng["sheetId"])
    start, end = rng["startIndex"], rng["endIndex"]
    if rng.get("dimension") == "ROWS":
        if end > sheet.row_count or start >= end:
            raise bad("Invalid dimension range")
        if sheet.row_count - (end - start) <= sheet.frozen_rows:
            # The Sheets UI and API keep at least one row that is not frozen.
            raise bad("Sorry, it is not possible to delete all non-frozen rows." if sheet.frozen_rows
                      else "You can't delete all the rows on the sheet.")
        for pr in sheet.protected_ranges:  # deleting a row deletes its protected cells
            g = pr["range"]
            if (not pr.get("warningOnly") and g.get("startRowIndex", 0) < end
                    and start < g.get("endRowIndex", sheet.row_count)):
                fake._guard(ss, sheet, max(start, g.get("startRowIndex", 0)), g.get("startColumnIndex", 0))
        sheet.delete_rows(start, end)
    else:
        for row in sheet.rows:
            del row[start:end]
        sheet.col_count -= end - start
    return {}


def _h_insert_dimension(fake, ss, spec, dry):
    rng = spec["range"]
    sheet = ss.by_id(rng["sheetId"])
    if rng.get("dimension") == "ROWS":
        sheet.insert_rows(rng["startIndex"], rng["endIndex"] - rng["startIndex"])
    else:
        n = rng["endIndex"] - rng["startIndex"]
        for row in sheet.rows:
            if len(row) > rng["startIndex"]:
                row[rng["startIndex"]:rng["startIndex"]] = [None] * n
        sheet.col_count += n
    return {}


def _h_append_dimension(fake, ss, spec, dry):
    sheet = ss.by_id(spec["sheetId"])
    if spec.get("dimension") == "ROWS":
        sheet.row_count += spec["length"]
    else:
        sheet.col_count += spec["length"]
    return {}


def _h_set_data_validation(fake, ss, spec, dry):
    """A rule per cell of the range as it is now (see `_h_repeat_cell`); no rule clears it."""
    sheet = ss.by_id(spec["range"]["sheetId"])
    r0, c0, r1, c1 = _box(sheet, spec["range"])
    rule = copy.deepcopy(spec.get("rule"))
    for r in range(r0, r1):
        for c in range(c0, c1):
            fake._guard(ss, sheet, r, c)
            old = sheet.cell(r, c) or BLANK
            sheet.put(r, c, Cell(old.v, old.f, old.fmt, rule))
    return {}


def _h_update_dimension_properties(fake, ss, spec, dry):
    rng = spec["range"]
    sheet = ss.by_id(rng["sheetId"])
    if "pixelSize" in _fields(spec) and rng.get("dimension") == "COLUMNS":
        for c in range(rng["startIndex"], rng["endIndex"]):
            sheet.col_widths[c] = spec["properties"]["pixelSize"]
    return {}


def _h_add_conditional_format_rule(fake, ss, spec, dry):
    rule = spec["rule"]
    sheet = ss.by_id(rule["ranges"][0]["sheetId"])
    sheet.conditional_formats.insert(spec.get("index", 0), copy.deepcopy(rule))
    return {}


def _h_delete_conditional_format_rule(fake, ss, spec, dry):
    sheet = ss.by_id(spec["sheetId"])
    index = spec.get("index", 0)
    if index >= len(sheet.conditional_formats):
        raise bad("No conditional format at index")
    del sheet.conditional_formats[index]
    return {}


def _all_protected(ss: Spreadsheet):
    for s in ss.sheets:
        for pr in s.protected_ranges:
            yield s, pr


def _h_add_protected_range(fake, ss, spec, dry):
    """The requester is an editor of what it protects, with the `editors` named (and the owner,
    who can always edit); nobody else: a runtime account left out cannot write there."""
    pr = copy.deepcopy(spec["protectedRange"])
    sheet = ss.by_id(pr["range"]["sheetId"])
    if pr.get("warningOnly") and pr.get("editors"):
        raise bad("ProtectedRange is warningOnly. Editors cannot be set on it.")
    ss.next_id += 1
    pr["protectedRangeId"] = ss.next_id
    pr.pop("requestingUserCanEdit", None)  # read-only, computed per caller
    if not pr.get("warningOnly"):
        users = pr.setdefault("editors", {}).setdefault("users", [])
        if fake.caller not in users:
            users.append(fake.caller)
    sheet.protected_ranges.append(pr)
    return {"addProtectedRange": {"protectedRange": {**copy.deepcopy(pr), "requestingUserCanEdit": True}}}


def _h_delete_protected_range(fake, ss, spec, dry):
    for s, pr in list(_all_protected(ss)):
        if pr["protectedRangeId"] == spec["protectedRangeId"]:
            if not (pr.get("warningOnly") or fake.caller == ss.owner
                    or fake.caller in pr.get("editors", {}).get("users", [])):
                raise bad(PROTECTED)
            s.protected_ranges.remove(pr)
            return {}
    raise bad(f"No protected range with id {spec['protectedRangeId']}")


def _h_create_developer_metadata(fake, ss, spec, dry):
    md = copy.deepcopy(spec["developerMetadata"])
    loc = md.get("location", {})
    if "sheetId" not in loc:
        raise bad("only sheet-located developer metadata is supported by this fake")
    sheet = ss.by_id(loc["sheetId"])
    ss.next_id += 1
    md["metadataId"] = ss.next_id
    md["location"] = {"locationType": "SHEET", "sheetId": sheet.sheet_id}
    md.setdefault("visibility", "DOCUMENT")
    sheet.developer_metadata.append(md)
    return {"createDeveloperMetadata": {"developerMetadata": copy.deepcopy(md)}}


def _h_delete_developer_metadata(fake, ss, spec, dry):
    target = spec["dataFilter"]["developerMetadataLookup"]["metadataId"]
    for s in ss.sheets:
        for md in list(s.developer_metadata):
            if md["metadataId"] == target:
                s.developer_metadata.remove(md)
                return {"deleteDeveloperMetadata": {"deletedDeveloperMetadata": [md]}}
    raise bad(f"No developer metadata with id {target}")


def _h_update_borders(fake, ss, spec, dry):
    ss.by_id(spec["range"]["sheetId"]).borders.append(copy.deepcopy(spec))
    return {}


def _h_sort_range(fake, ss, spec, dry):
    sheet = ss.by_id(spec["range"]["sheetId"])
    r0, c0, r1, c1 = _box(sheet, spec["range"])
    body = sheet.rows[r0:r1]
    for s in reversed(spec.get("sortSpecs", [])):
        col = s.get("dimensionIndex", 0)

        def key(row, col=col):
            cell = row[col] if col < len(row) else None
            v = cell.v if cell is not None else None
            return (0, v) if isinstance(v, (int, float)) else (1, str(v or ""))
        body.sort(key=key, reverse=s.get("sortOrder") == "DESCENDING")
    sheet.rows[r0:r0 + len(body)] = body
    return {}


def _h_update_spreadsheet_properties(fake, ss, spec, dry):
    if "title" in _fields(spec):
        ss.title = spec["properties"]["title"]
    return {}


_HANDLERS: dict[str, Callable[..., dict | None]] = {
    "appendCells": _h_append_cells, "updateCells": _h_update_cells, "repeatCell": _h_repeat_cell,
    "addSheet": _h_add_sheet, "deleteSheet": _h_delete_sheet, "updateSheetProperties": _h_update_sheet_properties,
    "deleteDimension": _h_delete_dimension, "insertDimension": _h_insert_dimension,
    "appendDimension": _h_append_dimension, "setDataValidation": _h_set_data_validation,
    "updateDimensionProperties": _h_update_dimension_properties,
    "addConditionalFormatRule": _h_add_conditional_format_rule,
    "deleteConditionalFormatRule": _h_delete_conditional_format_rule,
    "addProtectedRange": _h_add_protected_range, "deleteProtectedRange": _h_delete_protected_range,
    "createDeveloperMetadata": _h_create_developer_metadata,
    "deleteDeveloperMetadata": _h_delete_developer_metadata, "updateBorders": _h_update_borders,
    "sortRange": _h_sort_range, "updateSpreadsheetProperties": _h_update_spreadsheet_properties,
}


def _evaluate(formula: str) -> Any:
    """What a formula shows: a quoted text, plain arithmetic; anything else an error value (the
    fake evaluates no references or functions). Never the formula text itself."""
    expr = formula[1:].strip()
    m = re.fullmatch(r'"((?:[^"]|"")*)"', expr)
    if m:
        return m.group(1).replace('""', '"')
    if re.fullmatch(r"[\d.+\-*/() ]+", expr):
        try:
            return float(eval(expr, {"__builtins__": {}}, {}))  # digits and operators only
        except (SyntaxError, ZeroDivisionError, TypeError, ValueError):
            return "#DIV/0!" if "/0" in expr.replace(" ", "") else "#ERROR!"
    return "#NAME?"


_NUMBER = re.compile(r"^[+-]?(\d+([.,]\d+)?|\.\d+)$")
_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$")


def _parse_user_number(text: str) -> tuple[float, dict | None] | None:
    """What the Sheets UI does with typed text: numbers and dates become numbers."""
    t = text.strip()
    if _NUMBER.match(t):
        if t.lstrip("+-").startswith("0") and len(t.lstrip("+-")) > 1 and "." not in t and "," not in t:
            return float(t), None  # 0812... loses its leading zero, as in the real UI
        return float(t.replace(",", ".")), None
    m = _DATE.match(t)
    if m:
        y, mo, d, h, mi, s = (int(g) if g else 0 for g in m.groups())
        try:
            dt = datetime(y, mo, d, h, mi, s)
        except ValueError:
            return None
        pattern = "yyyy-mm-dd hh:mm" if m.group(4) else "yyyy-mm-dd"
        return serial_of(dt), {"type": "DATE_TIME" if m.group(4) else "DATE", "pattern": pattern}
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A local stand-in for the Sheets API v4 (SHEETS_EMULATOR_HOST).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--spreadsheet", action="append", default=[], help="an id to create (repeatable)")
    parser.add_argument("--write-quota", type=int, default=None, help="writes per minute before 429")
    parser.add_argument("--auto-create", action="store_true", help="create unknown spreadsheet ids on first use")
    parser.add_argument("--identity", default=DEFAULT_CALLER,
                        help="who an anonymous request is (protections and sharing are checked against it)")
    args = parser.parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("the fake serves on loopback only")
    fake = FakeSheets(write_quota_per_minute=args.write_quota, default_caller=args.identity)
    fake.auto_create = args.auto_create
    for sid in args.spreadsheet:
        fake.create(spreadsheet_id=sid)
    server = fake.serve(args.host, args.port)
    print(f"fake Sheets API on http://{server.host} (SHEETS_EMULATOR_HOST={server.host}); Ctrl-C to stop", flush=True)
    try:
        server.thread.join()
    except KeyboardInterrupt:
        server.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
