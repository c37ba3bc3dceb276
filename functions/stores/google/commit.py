"""A job's writes as ONE atomic batchUpdate, checked by ONE read of what it touched.

A commit (a job's stamps, forwards, deletions, Log entries and Log expiry together) is ONE
`spreadsheets.batchUpdate` (updateCells, deleteDimension bottom-up, appendCells to receiving
tabs and the Log) at the positions of the job's own read, then ONE `values.batchGet` of the
touched tabs that checks where it landed. The Sheets API has no conditional write, so a staff
sort, insert or delete between the read and the write can put cells in another case's row or
delete another case; the check sees it and `repair.plan_repair` puts it right (only what this
commit wrote), read again, until nothing is left to repair. Rows are deleted (forwards,
archive) in a second write at the positions of the check. Without a recent `read_all`, one
read first.

One role of `GoogleWorkbook` (workbook.py), whose `__init__` holds the state.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Iterable

from ...model import StorageUnavailable
from ..port import Changes, CommitReport, CommitsOnce, LogEntry, Row, refuse_foreign_cells
from . import layout
from .codec import (CELL_FIELDS, ROW_FIELDS, cell_data, contiguous_cells, from_serial, grid_rows, grid_values, read_text,
                    to_serial)
from .http import AmbiguousWrite
from .index import Tab
from .log import TAB_IDS_LOG, LogExpiry, _parse_ids, delete_runs, plan_expiry, recheck_expiry
from .repair import Intent, Place, Plan, Snapshot, plan_repair

SPARE_ROWS = 5  # blank rows a tab keeps below its header when deletes would empty its grid
SEEN_MAX_AGE = 900.0  # a job's read_all serves as the "before" of its commit this long (seconds)


@dataclass
class Pending:
    """One commit in flight: what it means, what it still has to write, what its check reads."""

    intent: Intent
    before: Snapshot
    plan: Plan
    entries: list[LogEntry]  # Log entries not yet written
    expiry: LogExpiry
    touched: set[str]  # tabs the check reads
    shrinking: set[str]  # tabs that lose rows (read whole by the check)
    ready: Snapshot | None  # a read that serves as the first check (no first write needed)


class CommitRole(CommitsOnce):
    """update / move / delete / commit (mixed into GoogleWorkbook)."""

    # -- Workbook port: commit (update / move / delete) -------------------------------------------
    # A commit is ONE atomic `spreadsheets.batchUpdate` (updateCells, deleteDimension bottom-up,
    # appendCells to receiving tabs and the Log) at positions from the job's own read, then ONE
    # read of the touched tabs that checks where it landed. The Sheets API has no conditional
    # write, so a staff sort, insert or delete between the read and the write can put cells in
    # another case's row or delete another case; the check sees it and `repair.plan_repair`
    # puts it right (only what this commit wrote), read again, until nothing is left to repair.
    def commit(self, changes: Changes, *, staff: bool = False) -> CommitReport:
        refuse_foreign_cells(changes, self.schema, staff=staff)
        for mv in changes.moves:
            if mv.to_tab not in self.schema.opd_keys:
                raise ValueError(f"unknown tab {mv.to_tab!r}")
        report = CommitReport()
        expiry = self._expiry(changes.log_expire)
        if not (changes.updates or changes.moves or changes.deletes or expiry):
            report.logged = self.log_add_many(changes.log) if changes.log else 0
            return report
        return self._with_fresh_metadata(lambda: self._commit(changes, report, expiry))

    def _expiry(self, cutoffs: dict[str, datetime]) -> LogExpiry:
        """The Log rows `cutoffs` expire, as the job's own read of the Log saw them (a read first
        when there was none lately). No expired row: nothing to delete, no check of the Log."""
        if not cutoffs:
            return LogExpiry()
        if self.clock() - self._log_at > SEEN_MAX_AGE:
            self._fresh_log(force=True)
        return plan_expiry(self._log_rows, cutoffs)

    def _commit(self, changes: Changes, report: CommitReport, expiry: LogExpiry) -> CommitReport:
        intent, before = self._intent(changes, report)
        # The job's own read of the Log (within SEEN_MAX_AGE) is enough to skip what is recorded.
        known = self._log if self.clock() - self._log_at <= SEEN_MAX_AGE else self._fresh_log()
        entries = list({(e.kind, e.key): e for e in [*changes.log, *self._ids_entry()]
                        if (e.kind, e.key) not in known}.values())
        plan, shrinking = self._first_plan(intent, before, report)
        report.written = len(intent.updates)
        touched = {p.tab for p in plan.cells} | {t for t, _ in plan.appends} | shrinking
        if not plan and not entries and not shrinking and not expiry:
            return report
        # A delete-only commit whose "before" was read just now needs no first write nor check.
        fresh = not plan and not entries and not expiry and (self._seen is None or before is not self._seen[1])
        work = Pending(intent, before, plan, entries, expiry, touched, shrinking, before if fresh else None)
        return self._write_and_check(work, report)

    def _intent(self, changes: Changes, report: CommitReport) -> tuple[Intent, Snapshot]:
        """What the commit means by ticket, and where those tickets are (`before`)."""
        intent = Intent()
        for mv in changes.moves:
            intent.moves[mv.ticket_id] = (mv.to_tab, self._as_stored(mv.values))
        intent.deletes = set(changes.deletes) - set(intent.moves)
        wanted = {up.ticket_id for up in changes.updates} | set(intent.moves) | intent.deletes
        before = self._before(wanted) if wanted else Snapshot()
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
        return intent, before

    def _first_plan(self, intent: Intent, before: Snapshot, report: CommitReport) -> tuple[Plan, set[str]]:
        """The first write at the positions of `before`, and the tabs that lose rows.

        Rows are deleted only after a check: a delete sent at the positions of an older read
        could remove a case that arrived after it (and that no read holds), if an owner sorted
        the tab in between. So the first write appends the forwarded rows to their new tabs,
        the check reads the losing tabs whole, and the deletes go at those fresh positions."""
        plan = Plan()
        for ticket, values in intent.updates.items():
            hit = before.first(ticket)
            if hit is not None:
                plan.set_cells(hit[0], values)
                if len(before.rows[ticket]) > 1:
                    report.problems.append(f"Tiket {ticket} muncul {len(before.rows[ticket])} kali; "
                                           f"hanya baris pertama yang diisi")
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
        return plan, shrinking

    def _write_and_check(self, work: "Pending", report: CommitReport) -> CommitReport:
        """Write, read back what was touched, repair; until the check finds nothing to put right."""
        ambiguous = False
        for attempt in range(self.client.retry.attempts + 1):
            checked = False  # the write's reply showed the Log after it (a Log-only commit that prunes)
            if (work.plan or work.entries or work.expiry) and work.ready is None:
                try:
                    checked = self._apply(work, report)
                    work.entries, work.expiry = [], replace(work.expiry, deletes=[], restore=[])
                except AmbiguousWrite:
                    ambiguous = True
                    self._settle(attempt)
            if not work.touched and not work.expiry.gone:  # only Log entries to write: check the Log
                if ambiguous:
                    self._drop_landed(work, report, self._fresh_log(force=True))
                    ambiguous = False
                if not work.entries:
                    return report
                continue
            only = {tab: set() for tab in work.touched - work.shrinking}  # the losing tabs are read whole
            for tab, key in work.intent.written:
                if tab in only:
                    only[tab].add(key)
            if checked:
                after, work.ready = Snapshot(), None
            else:
                after, work.ready = work.ready or self._read_tabs(
                    work.touched, with_log=ambiguous or bool(work.expiry.gone), problems=report.problems, only=only), None
            work.intent.fresh.update({t: hits[0] for t, hits in after.rows.items() if hits[0][0].tab in work.shrinking})
            if ambiguous:
                self._drop_landed(work, report, self._log)
                ambiguous = False
            if done := self._repair_plan(work, after, report):
                return done
        raise StorageUnavailable("writes to the sheet not confirmed after retries")

    def _repair_plan(self, work: "Pending", after: Snapshot, report: CommitReport) -> CommitReport | None:
        """Plan the next write from the check (`after`); the finished report when none is needed."""
        work.plan = plan_repair(work.before, after, work.intent)
        if work.expiry.gone:
            work.expiry = recheck_expiry(work.expiry, self._log_rows)
        work.intent.shrunk |= {p.tab for p in work.plan.deletes}
        report.moved.update({t: m for t, m in work.plan.moved.items() if not m})
        if not work.plan and not work.entries and not work.expiry:
            report.missing = sorted(set(report.missing) | set(work.plan.missing))
            report.deleted = sum(1 for t in work.intent.deletes if work.before.first(t) and not after.first(t))
            report.written = sum(1 for t in work.intent.updates if after.first(t))
            if work.touched:  # a Log-only commit moved no case: the job's read still holds
                self._after_commit(work.intent, after)
            return report
        work.touched |= {t for t, _ in work.plan.appends}
        return None

    @staticmethod
    def _drop_landed(work: "Pending", report: CommitReport, known: dict) -> None:
        """After a lost reply: the Log entries the Log now holds landed; the rest go again."""
        report.logged += sum(1 for e in work.entries if (e.kind, e.key) in known and e.kind != TAB_IDS_LOG)
        work.entries = [e for e in work.entries if (e.kind, e.key) not in known]

    def _as_stored(self, values: Row) -> Row:
        """Datetimes as the sheet keeps them (serial days, to the millisecond), so the check
        compares what it reads back with that, not with microseconds the sheet never had."""
        return {k: from_serial(to_serial(v, self.tz), self.tz) if isinstance(v, datetime) else v
                for k, v in values.items()}

    def _apply(self, work: "Pending", report: CommitReport) -> bool:
        """ONE atomic batchUpdate: cells first (positions as read), deletes bottom-up, then appends.

        A commit that touches no OPD tab but deletes Log rows asks the reply to carry the Log as
        it is after the batch: that is its check, so pruning on a Log-only commit costs the one
        request its append cost before. Returns whether the reply was such a check."""
        plan = work.plan
        requests = self._cell_requests(plan, work.intent)
        requests += self._delete_requests([*plan.deletes, *(Place(layout.LOG_TAB, r) for r in work.expiry.deletes)])
        appends: dict[str, list[dict]] = {}
        for key, row in plan.appends:
            appends.setdefault(key, []).append({"values": self._row_cells(self._tab(key), row)})
        if plan.restored:
            report.repaired += [f"{t}: baris terhapus saat staf mengubah urutan baris; dipulihkan" for t in plan.restored]
        if plan.put_back:
            report.repaired += [f"{t}: sel sistem tertimpa saat staf mengubah urutan baris; dikembalikan"
                                for t in plan.put_back]
        if work.expiry.restore:
            report.repaired.append(f"Log: {len(work.expiry.restore)} catatan terhapus saat staf mengubah urutan "
                                   f"baris; dipulihkan")
        requests += [{"appendCells": {"sheetId": self._tab(k).sheet_id, "rows": rows, "fields": ROW_FIELDS}}
                     for k, rows in appends.items()]
        entries = work.entries
        if entries or work.expiry.restore:
            log_tab = self._log_tab()
            requests.append({"appendCells": {"sheetId": log_tab.sheet_id, "fields": CELL_FIELDS, "rows": [
                {"values": self._log_cells(log_tab, e)} for e in [*entries, *work.expiry.restore]]}})
        if not requests:
            return False
        read_back = [self._log_tab().quoted] if not work.touched and work.expiry.gone else None
        started = self.clock()
        reply = self.client.spreadsheet_batch_update(self.spreadsheet_id, requests, idempotent=False,
                                                     read_back=read_back)
        checked = read_back is not None and self._log_from_reply(reply, started)
        with self.lock:
            self._log.update({(e.kind, e.key): e for e in entries})
            for e in entries:
                if e.kind == TAB_IDS_LOG:
                    self._logged_ids = _parse_ids(e.detail)
        report.logged += sum(1 for e in entries if e.kind != TAB_IDS_LOG)
        return checked

    def _log_from_reply(self, reply: dict, started: float) -> bool:
        """Take in the Log as a batchUpdate's reply shows it after the write (`read_back`)."""
        log_tab = self._log_tab()
        for sheet in reply.get("updatedSpreadsheet", {}).get("sheets", []):
            if sheet.get("properties", {}).get("sheetId") == log_tab.sheet_id and "data" in sheet:
                self._set_log(log_tab, grid_values(sheet), started)
                return True
        return False

    def _cell_requests(self, plan: Plan, intent: Intent) -> list[dict]:
        requests = []
        for place, values in sorted(plan.cells.items(), key=lambda pv: (pv[0].tab, pv[0].row)):
            tab = self._tab(place.tab)
            cells = {tab.columns[key]: cell_data(value, self.schema.column(key).type == "datetime", self.tz,
                                                 self.pattern)
                     for key, value in values.items() if key in tab.columns}
            for start, run in contiguous_cells(cells):
                requests.append({"updateCells": {
                    "start": {"sheetId": tab.sheet_id, "rowIndex": place.row, "columnIndex": start},
                    "rows": [{"values": run}], "fields": CELL_FIELDS}})
            intent.wrote(place.tab, values)
        return requests

    def _delete_requests(self, deletes: list[Place]) -> list[dict]:
        """Rows to keep below the header, then each tab's deletes as runs, bottom-up."""
        requests = self._keep_rows(deletes)
        for key in sorted({p.tab for p in deletes}):
            sheet_id = self._tab(key).sheet_id
            for start, end in delete_runs(p.row for p in deletes if p.tab == key):
                requests.append({"deleteDimension": {"range": {
                    "sheetId": sheet_id, "dimension": "ROWS", "startIndex": start, "endIndex": end}}})
        return requests

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
        plans, ranges = _check_ranges(tabs, only)
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
                values = stitch_columns(tab.width, starts, parts)
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
            self._set_log(log_tab, result[-1], started)
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


def _check_ranges(tabs: list[Tab], only: dict[str, set[str]] | None) -> tuple[list[tuple[Tab, list[int]]], list[str]]:
    """The ranges of a check: whole tabs, or for a tab in `only` its header row and the runs of
    the ticket column and those columns. Returns (tab, first column of each run; [] = whole tab)."""
    plans: list[tuple[Tab, list[int]]] = []
    ranges: list[str] = []
    for tab in tabs:
        wanted = None if only is None or tab.key not in only else {"ticket_id", *only[tab.key]}
        if wanted is None or any(k not in tab.columns for k in wanted):
            plans.append((tab, []))
            ranges.append(tab.quoted)
            continue
        runs = list(layout.column_runs(sorted(tab.columns[k] for k in wanted)))
        plans.append((tab, [a for a, _ in runs]))
        ranges += [f"{tab.quoted}!1:1"] + [f"{tab.quoted}!{layout.col_letter(a)}:{layout.col_letter(b)}"
                                             for a, b in runs]
    return plans, ranges


def stitch_columns(width: int, starts: list[int], parts: list[list[list[Any]]]) -> list[list[Any]]:
    """Rows of `width` cells from column ranges read apart (each starting at its column); cells
    not read stay blank."""
    values = []
    for r in range(max(map(len, parts), default=0)):
        cells: list[Any] = [""] * width
        for start, part in zip(starts, parts):
            for offset, value in enumerate(part[r] if r < len(part) else []):
                cells[start + offset] = value
        values.append(cells)
    return values
