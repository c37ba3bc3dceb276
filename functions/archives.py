"""Where the yearly archives live (composition side): opening, and on Google creating, the
archive workbook of a year for the archive use case (services/archive.py).

Local backend: `KMC_DATA_DIR/archive-YYYY.sqlite`. Google backend: the spreadsheet
"KMC Aduan Arsip YYYY", given as `KMC_ARCHIVE_SPREADSHEET_YYYY`, else remembered in the Log
(kind `archive_spreadsheet`, kept for ever: journal.py) from an earlier run, else created
(service accounts may not be allowed to own files: then the message says to create and share it
by hand). The composition root hands these factories to the use cases (`archive_factory` to
`archive_closed`, `existing_archives` to `forget` and the status page's look-up).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from .journal import ARCHIVE_SPREADSHEET, LogEntry, archive_key
from .model import StorageUnavailable
from .stores.port import Workbook

if TYPE_CHECKING:
    from .services.context import Services


def archive_title(year: int) -> str:
    return f"KMC Aduan Arsip {year}"


def _remembered(svc: "Services", year: int) -> str:
    """The archive spreadsheet of `year`: the setting, else the Log's record ("" when none)."""
    sid = svc.settings.archive_spreadsheets.get(year, "")
    if sid:
        return sid
    known = [e for e in svc.workbook.log_entries(ARCHIVE_SPREADSHEET) if e.key == archive_key(year)]
    return known[-1].detail if known else ""


def _created(svc: "Services", year: int, announce: Callable[[str], None]) -> str:
    live = svc.workbook
    try:
        sid = live.client.create_spreadsheet(archive_title(year))["spreadsheetId"]
    except StorageUnavailable as e:
        raise StorageUnavailable(
            f"could not create '{archive_title(year)}' ({e}). Create it by hand, share it with the "
            f"service account as Editor and set KMC_ARCHIVE_SPREADSHEET_{year}=<its id>"
        ) from e
    live.log_add(LogEntry(ARCHIVE_SPREADSHEET, archive_key(year), svc.now(), sid))
    announce(f"Spreadsheet arsip dibuat: {archive_title(year)} https://docs.google.com/spreadsheets/d/{sid}/edit")
    return sid


def archive_factory(svc: "Services", announce: Callable[[str], None] = lambda text: None
                    ) -> Callable[[int], Workbook]:
    """year -> its archive workbook, created when missing (`announce` says so: the CLI prints it)."""
    settings, schema = svc.settings, svc.schema
    opened: dict[int, Workbook] = {}

    def open_year(year: int) -> Workbook:
        if settings.backend == "google":
            from .stores.google import GoogleWorkbook

            sid = _remembered(svc, year) or _created(svc, year, announce)
            return GoogleWorkbook(svc.workbook.client, sid, schema, tz=settings.tz)
        from .stores.local import LocalWorkbook

        return LocalWorkbook(settings.data_dir / f"archive-{year}.sqlite", schema)

    def get(year: int) -> Workbook:
        if year not in opened:
            opened[year] = open_year(year)
        return opened[year]

    return get


def existing_archives(svc: "Services") -> Callable[[int], Workbook | None]:
    """The archive of a year if one was ever made (never creates one): for `forget` and for
    finding an archived case on the status page."""
    settings, schema = svc.settings, svc.schema

    def get(year: int) -> Workbook | None:
        if settings.backend == "google":
            from .stores.google import GoogleWorkbook

            sid = _remembered(svc, year)
            return GoogleWorkbook(svc.workbook.client, sid, schema, tz=settings.tz) if sid else None
        path = settings.data_dir / f"archive-{year}.sqlite"
        if not path.exists():
            return None
        from .stores.local import LocalWorkbook

        return LocalWorkbook(path, schema)

    return get
