"""The private contact spreadsheet: one row per ticket on `Kontak`, long texts on `Teks Lengkap`."""
from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Any, Callable
from zoneinfo import ZoneInfo

from ...logs import log
from ...model import Contact, StorageUnavailable
from ..port import ContactRecord
from . import layout
from .coalescer import Coalescer
from .codec import DEFAULT_TZ, appended_where_expected, read_datetime, read_text, to_serial
from .http import AmbiguousWrite, SheetsApiError, SheetsHTTPClient, shared_client
from .index import SETTLE_SECONDS

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
