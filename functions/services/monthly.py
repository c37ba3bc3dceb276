"""The monthly evaluation of agencies (sent with the digest on the 1st of each month).

Per OPD, for the complaints received in the previous calendar month (WIB):

- `cases`: complaints now in that OPD's tab (a forwarded case counts for the OPD that has it);
- `on_time_pct`: answered by the deadline / cases whose deadline has passed or that were answered;
- `median_hours`: median time to the first response, counted from when the case reached the
  OPD (after a forward: from the forward), in clock hours;
- `median_age_hours`: median time from the citizen's complaint to the first response (the
  overall age; forwarding does not reset it);
- `still_open`: status not `Selesai`;
- `unanswered`: no response yet; `forwarded_away`: moves out of the OPD's tab during the month.

pandas and openpyxl are imported inside the functions: the intake path never loads them.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Iterable, Mapping

from ..case import Case, case_from_row
from ..digest.data import MIN_SAMPLE, wilson_centre
from ..model import OUTSIDE, TRIAGE, Status

COLUMNS = [  # (key, Indonesian header in the email and the sheet)
    ("rank", "Peringkat"),
    ("title", "Perangkat Daerah"),
    ("cases", "Aduan"),
    ("on_time", "Tepat Waktu"),
    ("late", "Terlambat Ditanggapi"),
    ("unanswered", "Belum Ditanggapi"),
    ("on_time_pct", "Tepat Waktu (%)"),
    ("median_hours", "Median Waktu Tanggapan (jam)"),
    ("median_age_hours", "Median Umur Aduan saat Ditanggapi (jam)"),
    ("still_open", "Masih Terbuka"),
    ("forwarded_away", "Diteruskan ke OPD Lain"),
]


@dataclass(frozen=True)
class MonthlyEvaluation:
    month: date  # first day of the evaluated month
    lines: list[dict]  # one dict per OPD with the keys of COLUMNS (+ "key")
    totals: dict

    @property
    def label(self) -> str:
        from ..digest.render import MONTHS

        return f"{MONTHS[self.month.month - 1]} {self.month.year}"

    @property
    def filename(self) -> str:
        return f"evaluasi-kmc-aduan-{self.month:%Y-%m}.xlsx"


def previous_month(day: date) -> tuple[date, date]:
    """(first day of the previous month, first day of `day`'s month)."""
    this_month = day.replace(day=1)
    return (this_month - timedelta(days=1)).replace(day=1), this_month


def _record(case: Case, now: datetime) -> dict:
    """One case of the month: its outcome (a withdrawn, unanswered case is owed nothing: it is
    neither judged nor running) and how long the answer took."""
    responded, received = case.responded_at, case.received_at
    arrived = case.forwarded_at or received
    if responded is not None:
        outcome = "late" if case.answered_late() else "on_time"
    elif case.withdrawn:
        outcome = "withdrawn"
    elif case.deadline is not None and case.deadline < now:
        outcome = "unanswered"
    else:
        outcome = "running"
    return {
        "key": case.tab,
        "outcome": outcome,
        "hours": (responded - arrived).total_seconds() / 3600 if responded else None,
        "age_hours": (responded - received).total_seconds() / 3600 if responded else None,
        "open": case.status != Status.DONE,
    }


def _month_records(tabs: Mapping[str, Iterable[dict]], start: datetime, end: datetime, now: datetime,
                   tz) -> tuple[list[dict], dict[str, int]]:
    """The month's received cases as records, and the moves out of each tab in the month."""
    records = []
    moved_out: dict[str, int] = {}
    for key, rows in tabs.items():
        for case in (case_from_row(key, r) for r in rows):
            if not case.ticket_id:
                continue
            for stamp, source, _ in case.forward_moves():
                try:
                    moved = datetime.fromisoformat(stamp).replace(tzinfo=tz)
                except ValueError:
                    continue
                if start <= moved < end:
                    moved_out[source] = moved_out.get(source, 0) + 1
            if case.received_at is not None and start <= case.received_at < end:
                records.append(_record(case, now))
    return records, moved_out


def _line(key: str, title: str, part, moved_out: int, *, rankable: bool, min_sample: int) -> dict:
    """One OPD's line of the evaluation (`part`: its records as a DataFrame)."""
    counts = part["outcome"].value_counts()
    on_time, late, unanswered = (int(counts.get(k, 0)) for k in ("on_time", "late", "unanswered"))
    judged = on_time + late + unanswered
    return {
        "key": key,
        "title": title,
        "cases": int(len(part)),
        "on_time": on_time,
        "late": late,
        "unanswered": unanswered,
        "on_time_pct": round(100 * on_time / judged, 1) if judged else None,
        "median_hours": _median(part["hours"]),
        "median_age_hours": _median(part["age_hours"]),
        "still_open": int(part["open"].sum()),
        "forwarded_away": moved_out,
        "_judged": judged,
        "_score": wilson_centre(on_time, judged),
        "_rankable": rankable and judged >= min_sample,
    }


def evaluate_month(tabs: Mapping[str, Iterable[dict]], titles: Mapping[str, str], month: date, tz,
                   *, min_sample: int = MIN_SAMPLE, unranked_keys: Iterable[str] = (TRIAGE, OUTSIDE),
                   now: datetime | None = None) -> MonthlyEvaluation:
    import pandas as pd

    start = datetime.combine(month, time(0), tz)
    end = datetime.combine((month + timedelta(days=32)).replace(day=1), time(0), tz)
    now = now or end
    records, moved_out = _month_records(tabs, start, end, now, tz)
    frame = pd.DataFrame.from_records(records, columns=["key", "outcome", "hours", "age_hours", "open"])
    keys = list(tabs.keys()) + [k for k in moved_out if k not in tabs]
    unranked_keys = set(unranked_keys)
    parts = {key: part for key, part in frame.groupby("key", sort=False)}
    empty = frame.iloc[0:0]
    lines = [_line(key, titles.get(key, key), parts.get(key, empty), moved_out.get(key, 0),
                   rankable=key not in unranked_keys, min_sample=min_sample)
             for key in keys if key in parts or moved_out.get(key)]
    ranked = sorted((x for x in lines if x["_rankable"]), key=lambda x: (-x["_score"], x["title"]))
    for i, line in enumerate(ranked, start=1):
        line["rank"] = i
    rest = sorted((x for x in lines if not x["_rankable"]), key=lambda x: x["title"])
    for line in rest:
        line["rank"] = None
    judged_all = frame["outcome"].isin(["on_time", "late", "unanswered"]).sum()
    totals = {
        "cases": int(len(frame)),
        "on_time": int((frame["outcome"] == "on_time").sum()),
        "late": int((frame["outcome"] == "late").sum()),
        "unanswered": int((frame["outcome"] == "unanswered").sum()),
        "on_time_pct": round(100 * (frame["outcome"] == "on_time").sum() / judged_all, 1) if judged_all else None,
        "median_hours": _median(frame["hours"]),
        "median_age_hours": _median(frame["age_hours"]),
        "still_open": int(frame["open"].sum()),
        "forwarded_away": sum(moved_out.values()),
    }
    return MonthlyEvaluation(month, ranked + rest, totals)


def _median(values) -> float | None:
    values = values.dropna()
    return None if values.empty else round(float(values.median()), 1)


def to_xlsx(evaluation: MonthlyEvaluation) -> bytes:
    """The evaluation as a one-sheet workbook with a frozen, bold header and a totals row."""
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    book = Workbook()
    sheet = book.active
    sheet.title = f"Evaluasi {evaluation.month:%Y-%m}"
    sheet.append([f"Evaluasi respon perangkat daerah — {evaluation.label}"])
    sheet["A1"].font = Font(bold=True, size=13)
    sheet.append(["Batas respon 2 x 24 jam. Peringkat: kepatuhan yang disesuaikan jumlah aduan (titik tengah "
                  f"interval Wilson 95%), minimal {MIN_SAMPLE} aduan jatuh tempo."])
    sheet.append([])
    sheet.append([header for _, header in COLUMNS])
    header_row = sheet.max_row
    for cell in sheet[header_row]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="D9EAD3")
    for line in evaluation.lines:
        sheet.append([_cell(line.get(key)) for key, _ in COLUMNS])
    total = {"rank": "", "title": "Total", **evaluation.totals}
    sheet.append([_cell(total.get(key)) for key, _ in COLUMNS])
    for cell in sheet[sheet.max_row]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = sheet.cell(row=header_row + 1, column=3)
    widths = [10, 34, 8, 12, 12, 12, 12, 16, 18, 12, 14]
    for i, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = width
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value  # never a formula
    return value
