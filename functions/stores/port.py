"""The store ports, sized to what the services need (not to gspread's API).

A *row* is a dict keyed by column key (`sheets_schema/columns.toml`): text cells are `str`
(empty string when blank), datetime cells are timezone-aware `datetime` or `None`.
Rows are found by ticket number at write time, never by a remembered position.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import ContextManager, TYPE_CHECKING, Any, Protocol, Sequence, runtime_checkable

from ..case import Case
from ..journal import LogEntry  # noqa: F401  (re-exported: the stores record it)
from ..model import Contact

if TYPE_CHECKING:
    from ..schema import Schema

Row = dict[str, Any]


@dataclass(frozen=True)
class NewCase:
    """A row to append to an OPD tab."""

    tab: str
    row: Row


# What `find` and `read_all` return: the typed case, read from the row by the one codec.
StoredCase = Case


@dataclass(frozen=True)
class CellUpdate:
    """Write `values` (system-owned cells unless `staff=True`) into the row of `ticket_id`."""

    ticket_id: str
    values: Row
    tab: str = ""  # where the job last saw it; a hint, the row is searched by ticket


@dataclass
class WriteReport:
    written: int = 0
    missing: list[str] = field(default_factory=list)  # tickets not found at write time
    problems: list[str] = field(default_factory=list)  # human-readable, for the digest


@dataclass(frozen=True)
class Move:
    """Forward a case: take its row out of its tab and add it to `to_tab`, merged with `values`."""

    ticket_id: str
    to_tab: str
    values: Row


@dataclass
class Changes:
    """Everything one job writes, committed together by `Workbook.commit`.

    A job collects its cell updates, forwards, deletions and Log entries here and writes them in
    ONE step: one SQLite transaction, or one atomic `spreadsheets.batchUpdate` (plus a read that
    checks where it landed) on Google Sheets. Updates of the same ticket are merged."""

    updates: list[CellUpdate] = field(default_factory=list)
    moves: list[Move] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)
    log: list[LogEntry] = field(default_factory=list)
    # kind -> cutoff: Log entries of that kind recorded before the cutoff are deleted in this commit
    # (the Log's retention, journal.py); kinds not named are kept
    log_expire: dict[str, datetime] = field(default_factory=dict)

    _at: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    def update(self, ticket_id: str, values: Row, tab: str = "") -> None:
        i = self._at.get(ticket_id)
        if i is not None and i < len(self.updates) and self.updates[i].ticket_id == ticket_id:
            up = self.updates[i]
            self.updates[i] = CellUpdate(ticket_id, {**up.values, **values}, up.tab or tab)
            return
        self._at[ticket_id] = len(self.updates)
        self.updates.append(CellUpdate(ticket_id, dict(values), tab))

    def __bool__(self) -> bool:
        return bool(self.updates or self.moves or self.deletes or self.log or self.log_expire)


def refuse_foreign_cells(changes: Changes, schema, *, staff: bool) -> None:
    """ValueError before anything is written when a commit touches cells that are not its own:
    staff columns for a job, system columns for the `edit` command (`staff=True`)."""
    allowed = schema.staff_keys if staff else frozenset(schema.column_keys) - schema.staff_keys
    for up in changes.updates:
        bad = set(up.values) - allowed
        if bad:
            raise ValueError(f"not allowed to write {sorted(bad)} ({'staff' if staff else 'system'})")


@dataclass
class CommitReport(WriteReport):
    moved: dict[str, bool] = field(default_factory=dict)  # ticket -> now in its new tab
    deleted: int = 0
    logged: int = 0  # Log entries that were new
    repaired: list[str] = field(default_factory=list)  # put right after staff moved rows mid-write


class Workbook(Protocol):
    """The shared OPD spreadsheet: one tab per OPD key plus TRIASE and LUAR_PEMDA."""

    def bootstrap(self) -> list[str]:
        """Create or upgrade tabs, headers, formats; idempotent. Returns what was done."""

    def append(self, cases: Sequence[NewCase]) -> list[bool]:
        """Append rows; a ticket already stored is not appended again (False for it)."""

    def find(self, ticket_id: str) -> Case | None: ...

    def read_all(self) -> dict[str, list[Case]]:
        """Every OPD tab's cases in sheet order, in one read (blank rows skipped); each row read
        into a `Case` by `case.case_from_row`."""

    def update(self, updates: Sequence[CellUpdate], *, staff: bool = False) -> WriteReport:
        """Write cells by ticket. System cells only unless `staff` (the `edit` command)."""

    def commit(self, changes: Changes, *, staff: bool = False) -> CommitReport:
        """Write `changes` as one unit (see `Changes`): rows found by ticket, what a staff sort,
        insert or delete moved mid-write put right, a Log entry recorded once."""

    def move(self, ticket_id: str, to_tab: str, values: Row) -> bool:
        """Move a case to another tab (forwarding), merging `values`; False if not found."""

    def delete(self, ticket_ids: Sequence[str]) -> int:
        """Remove rows (archive, erasure); returns how many were removed."""

    def log_add(self, entry: LogEntry) -> bool:
        """Record once; False when (kind, key) was already recorded."""

    def log_has(self, kind: str, key: str) -> bool: ...

    def log_entries(self, kind: str | None = None) -> list[LogEntry]: ...

    def read_rules(self) -> list[dict[str, str]]:
        """The `Rute` tab (routing rules KMC admins edit) as {opd, topic, keywords, exclude} rows."""

    def seed_rules(self, rows: Sequence[dict[str, str]]) -> bool:
        """Fill the `Rute` tab when it is empty (bootstrap); never overwrites admins' edits."""

    def read_routing_model(self) -> str | None:
        """The learned routing model as last stored (JSON text), None when none was stored;
        ValueError when the stored copy is damaged (routing then uses the rules alone)."""

    def write_routing_model(self, text: str) -> None:
        """Keep the learned routing model durably (replaces the previous one whole)."""


class CommitsOnce:
    """`update`, `move` and `delete` as commits of one change each: a store that writes everything
    through `commit` (both stores do) inherits them instead of spelling them again."""

    def commit(self, changes: Changes, *, staff: bool = False) -> CommitReport:
        raise NotImplementedError

    def update(self, updates: Sequence[CellUpdate], *, staff: bool = False) -> WriteReport:
        return self.commit(Changes(updates=list(updates)), staff=staff)

    def move(self, ticket_id: str, to_tab: str, values: Row) -> bool:
        return self.commit(Changes(moves=[Move(ticket_id, to_tab, values)])).moved.get(ticket_id, False)

    def delete(self, ticket_ids: Sequence[str]) -> int:
        return self.commit(Changes(deletes=list(ticket_ids))).deleted


@dataclass(frozen=True)
class ContactRecord:
    ticket_id: str
    channel: str
    contact: Contact
    received_at: datetime


class ContactBook(Protocol):
    """The private contact store: ticket -> full name, phone, channel user id (UU 27/2022)."""

    def put(self, record: ContactRecord) -> None: ...

    def get(self, ticket_id: str) -> ContactRecord | None: ...

    def latest_for(self, channel_user_id: str, since: datetime) -> ContactRecord | None:
        """The newest case of this sender received at or after `since` (conversation joining)."""

    def forget(self, ticket_or_phone: str) -> list[str]:
        """Erase personal data of one ticket, or every ticket of a phone; returns the tickets."""


# -- optional capabilities: what one store (or queue) has and another has not ---------------------
# A service checks `isinstance(port, Capability)` (runtime_checkable: the methods are present)
# instead of probing names with hasattr/getattr; the Protocol documents what it promises.


@runtime_checkable
class HoldsDirectory(Protocol):
    """The `Kontak OPD` tab: both stores (functions/directory.py validates what it reads)."""

    schema: "Schema"  # the OPDs a seed adds rows for

    def read_directory(self) -> list[dict[str, str]] | None:
        """The rows as stored; None when the tab does not exist yet."""

    def seed_directory(self, rows: Sequence[dict[str, str]]) -> int:
        """Add the OPDs that have no row yet; returns how many were added."""


@runtime_checkable
class EditsDirectory(Protocol):
    """`opd set`: the local store only (in production KMC admins edit the tab in the sheet)."""

    def write_directory_row(self, row: dict[str, str]) -> None: ...


@runtime_checkable
class KeepsLongText(Protocol):
    """A contact store that keeps a complaint's whole text when it is longer than a cell."""

    def keep_text(self, ticket_id: str, text: str) -> None: ...


@runtime_checkable
class HasLayout(Protocol):
    """A store with tabs/tables of its own to create (`bootstrap`): the contacts spreadsheet."""

    def bootstrap(self) -> list[str]: ...


@runtime_checkable
class ListsTabs(Protocol):
    """`tabs()` lists the tabs created so far (the local store's is empty on a fresh data dir)."""

    def tabs(self) -> list[tuple[str, str]]: ...


@runtime_checkable
class LogsInBatches(Protocol):
    """Many Log entries in one request (the Google store's one append; the local store's one
    transaction); without it each entry is one `log_add`."""

    def log_add_many(self, entries: Sequence[LogEntry]) -> int: ...


@runtime_checkable
class LinksRows(Protocol):
    """A link that opens the sheet at a case's row (Google Sheets), for the digest and emails."""

    def row_link(self, tab: str, ticket_id: str) -> str | None: ...


@runtime_checkable
class ReportsCellUsage(Protocol):
    """How many cells the workbook uses (and its limit): the digest warns before Sheets' 10 million."""

    def cell_usage(self) -> int | tuple[int, int] | None: ...


@runtime_checkable
class LocksJobs(Protocol):
    """A lock of the store's own for a scheduled job (the local store: a file lock); without it
    services/lease.py claims a lease in the Log."""

    def job_lock(self, name: str) -> ContextManager[bool]: ...


@runtime_checkable
class ReadsForJobs(Protocol):
    """One whole-workbook read a job shares between its steps (the Google store), so a lease's
    read-back of the Log costs nothing extra; `drop_job_read` forgets it when the job ends."""

    def read_for_job(self) -> None: ...

    def drop_job_read(self) -> None: ...

    def log_entries(self, kind: str | None = None, *, fresh: bool = False,
                    as_written: bool = False) -> list[LogEntry]: ...
