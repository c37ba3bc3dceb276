"""Digest numbers from the cases of every tab. Pure: cases and `now` in, a Digest out.

Definitions (docs/sla-and-digest.md repeats them for the readers of the email):

- *kemarin* (yesterday, WIB): complaints received that day; answers given that day, on time or late.
- *masih terlambat*: every case now unanswered past its deadline, whatever its age.
- *kepatuhan* (compliance) over the last `window_days` (30): of the cases whose deadline fell in
  the window, the share answered by the deadline. A case not yet due is not judged yet.
- ranking: OPDs with at least `min_sample` (5) judged cases, ordered by their *adjusted*
  compliance, the centre of the 95 % Wilson score interval: (on time + 1.92) / (judged + 3.84),
  i.e. every OPD gets about two extra on-time and two extra late cases. Few cases are pulled
  towards 50 %, so two lucky cases cannot top the ranking and two unlucky ones cannot sink an OPD
  to the bottom, while a large sample keeps its own rate. (The Wilson *lower* bound was tried
  first: it ranks the best fairly but pushes small OPDs below larger ones with a lower rate, e.g.
  5/8 under 18/38, which leaders would read as an error.) The others are listed after, unranked.
  Triage and bodies outside the regency are never ranked.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Callable, Iterable, Mapping

from ..case import Case, case_from_row
from ..model import OUTSIDE, TRIAGE, Channel, Sentiment
from ..text import excerpt

WINDOW_DAYS = 30
MIN_SAMPLE = 5
Z95 = 1.959964
CELL_LIMIT = 10_000_000  # cells in one Google spreadsheet
CAPACITY_WARNING = 0.80
TICK = timedelta(microseconds=1)
MEDIA_CHANNELS = frozenset({str(Channel.MASS_MEDIA), str(Channel.SOCIAL_MEDIA)})

# (tab, ticket) -> (url or "", human hint such as "python main.py sheet show PUTR")
Locator = Callable[[str, str], tuple[str, str]]


def no_locator(tab: str, ticket: str) -> tuple[str, str]:
    return "", f"tab {tab}"


def wilson_centre(successes: int, n: int, z: float = Z95) -> float:
    """Centre of the Wilson score interval: the success rate shrunk towards 1/2 by ~z² cases."""
    if n <= 0:
        return 0.5
    return (successes + z * z / 2) / (n + z * z)


def wilson_lower_bound(successes: int, n: int, z: float = Z95) -> float:
    """Lower end of the Wilson score interval."""
    if n <= 0:
        return 0.0
    p = successes / n
    denominator = 1 + z * z / n
    centre = p + z * z / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, (centre - margin) / denominator)


def age_text(hours: int) -> str:
    """`3 hari 5 jam`, `7 jam`."""
    days, rest = divmod(max(0, hours), 24)
    if days and rest:
        return f"{days} hari {rest} jam"
    return f"{days} hari" if days else f"{rest} jam"


@dataclass(frozen=True)
class OpdLine:
    key: str
    title: str
    total: int  # complaints received in the window
    new_yesterday: int
    on_time: int  # judged cases (deadline in the window) answered by the deadline
    late: int  # judged cases answered after the deadline
    overdue: int  # unanswered past the deadline now (any age)
    running: int  # unanswered, still within the deadline
    forwarded_away: int = 0  # moves out of this tab in the window
    judged_overdue: int = 0  # of the judged cases, those still unanswered
    rankable: bool = True  # False for triage and bodies outside the regency
    rank: int | None = None

    @property
    def answered(self) -> int:
        return self.on_time + self.late

    @property
    def judged(self) -> int:
        return self.on_time + self.late + self.judged_overdue

    @property
    def compliance(self) -> float | None:
        """On-time share of the cases due in the window."""
        return None if self.judged == 0 else self.on_time / self.judged

    @property
    def score(self) -> float:
        """The ranking key: compliance adjusted for the number of judged cases."""
        return wilson_centre(self.on_time, self.judged)

    @property
    def active(self) -> bool:
        return bool(self.total or self.judged or self.overdue or self.running or self.forwarded_away)


@dataclass(frozen=True)
class CaseRef:
    """One case as the emails list it (overdue, due soon, negative coverage)."""

    ticket_id: str
    opd: str
    opd_title: str
    received_at: datetime
    deadline: datetime
    age_hours: int  # since the complaint first arrived (forwarding does not reset it)
    category: str
    location: str
    summary: str
    channel: str = ""
    link: str = ""  # URL of the row, when the store can tell
    where: str = ""  # how to find it otherwise
    forwarded: bool = False
    media_link: str = ""  # the post / article (media cases)

    @property
    def age(self) -> str:
        return age_text(self.age_hours)

    @property
    def hours_left(self) -> int:
        return int((self.deadline - self.received_at).total_seconds() // 3600)


@dataclass(frozen=True)
class DayPoint:
    day: date
    received: int
    on_time: int  # answers given that day, on time
    late: int  # answers given that day, late
    overdue: int  # unanswered past deadline at the end of the day


@dataclass(frozen=True)
class Capacity:
    used: int
    limit: int = CELL_LIMIT

    @property
    def share(self) -> float:
        return self.used / self.limit if self.limit else 0.0

    @property
    def warning(self) -> bool:
        return self.share >= CAPACITY_WARNING


@dataclass
class Digest:
    day: date  # the report date (WIB)
    generated_at: datetime
    lines: list[OpdLine]  # ranked first (best first), then the unranked ones
    overdue: list[CaseRef]  # every overdue case, oldest first
    problems: list[str] = field(default_factory=list)
    series: list[DayPoint] = field(default_factory=list)
    media: list[CaseRef] = field(default_factory=list)
    answered_on_time_yesterday: int = 0
    answered_late_yesterday: int = 0
    capacity: Capacity | None = None
    monthly: object | None = None  # services.monthly.MonthlyEvaluation on the 1st of a month
    window_days: int = WINDOW_DAYS
    min_sample: int = MIN_SAMPLE
    chart_cid: str = ""  # set by the job when the chart image is attached
    routing: str = ""  # what the routing model learned today (services/route_learning.py)

    @property
    def totals(self) -> dict[str, int]:
        keys = ("total", "new_yesterday", "on_time", "late", "overdue", "running", "forwarded_away")
        return {k: sum(getattr(line, k) for line in self.lines) for k in keys}

    @property
    def judged(self) -> int:
        return sum(line.judged for line in self.lines)

    @property
    def compliance(self) -> float | None:
        judged = self.judged
        return None if judged == 0 else sum(line.on_time for line in self.lines) / judged

    @property
    def ranked(self) -> list[OpdLine]:
        return [line for line in self.lines if line.rank is not None]

    @property
    def unranked(self) -> list[OpdLine]:
        return [line for line in self.lines if line.rank is None and line.active]

    @property
    def headline(self) -> dict[str, object]:
        return {
            "new_yesterday": self.totals["new_yesterday"],
            "on_time_yesterday": self.answered_on_time_yesterday,
            "late_yesterday": self.answered_late_yesterday,
            "overdue": self.totals["overdue"],
            "running": self.totals["running"],
            "compliance": self.compliance,
        }


@dataclass
class _Window:
    """The digest's days: the series covers [first_day, yesterday]; WIB has no DST (24 h days)."""

    now: datetime
    days: int

    def __post_init__(self) -> None:
        self.first_day = self.now.date() - timedelta(days=self.days)
        self.start = self.now - timedelta(days=self.days)
        self.media_since = self.now - timedelta(hours=24)
        self.origin = datetime.combine(self.first_day, time(0), self.now.tzinfo)
        self.received = [0] * self.days
        self.on_time = [0] * self.days
        self.late = [0] * self.days
        self.overdue_delta = [0] * (self.days + 1)  # difference array over day ends
        self.on_time_yesterday = self.late_yesterday = 0

    def index(self, moment: datetime) -> int:
        """Whole days since the first day of the window."""
        return int((moment - self.origin).total_seconds() // 86400)

    def series(self) -> list[DayPoint]:
        out, running = [], 0
        for i in range(self.days):
            running += self.overdue_delta[i]
            out.append(DayPoint(self.first_day + timedelta(days=i), self.received[i], self.on_time[i],
                                self.late[i], running))
        return out


def build_digest(
    tabs: Mapping[str, Iterable[dict]],
    titles: Mapping[str, str],
    now: datetime,
    *,
    locate: Locator = no_locator,
    window_days: int = WINDOW_DAYS,
    min_sample: int = MIN_SAMPLE,
    unranked_keys: Iterable[str] = (TRIAGE, OUTSIDE),
) -> Digest:
    """One pass over every case; O(cases), no sorting except the overdue and media lists.
    A case the citizen withdrew is owed nothing: never overdue, running or judged."""
    win = _Window(now, window_days)
    unranked_keys = set(unranked_keys)
    lines: list[OpdLine] = []
    overdue: list[CaseRef] = []
    media: list[CaseRef] = []
    forwarded_from: dict[str, int] = {}
    for key, rows in tabs.items():
        title = titles.get(key, key)
        counts = dict(total=0, new_yesterday=0, on_time=0, late=0, overdue=0, running=0, judged_overdue=0)
        for case in (case_from_row(key, r) for r in rows):
            if not case.ticket_id:
                continue
            _count_received(case, win, counts)
            _count_answer(case, win, counts)
            if case.overdue_at(now):
                counts["overdue"] += 1
                overdue.append(case_ref(key, title, case, now, locate))
            elif case.owes_answer:
                counts["running"] += 1
            if _negative_media(case, win):
                media.append(case_ref(key, title, case, now, locate))
            _count_forwards(case, win, forwarded_from)
        lines.append(OpdLine(key, title, rankable=key not in unranked_keys, **counts))
    lines = rank_lines([_with_forwarded(line, forwarded_from.get(line.key, 0)) for line in lines], min_sample)
    overdue.sort(key=lambda ref: ref.received_at)
    media.sort(key=lambda ref: ref.received_at, reverse=True)
    return Digest(now.date(), now, lines, overdue, series=win.series(), media=media,
                  answered_on_time_yesterday=win.on_time_yesterday, answered_late_yesterday=win.late_yesterday,
                  window_days=window_days, min_sample=min_sample)


def _count_received(case: Case, win: _Window, counts: dict[str, int]) -> None:
    if case.received_at is None:
        return
    i = win.index(case.received_at)
    if case.received_at >= win.start:
        counts["total"] += 1
    if 0 <= i < win.days:
        win.received[i] += 1
        counts["new_yesterday"] += i == win.days - 1


def _count_answer(case: Case, win: _Window, counts: dict[str, int]) -> None:
    """Answers by day, the judged cases (deadline in the window) and the overdue series."""
    due, responded = case.deadline, case.responded_at
    if responded is not None:
        i = win.index(responded)
        if 0 <= i < win.days:
            if case.answered_late():
                win.late[i] += 1
                win.late_yesterday += i == win.days - 1
            else:
                win.on_time[i] += 1
                win.on_time_yesterday += i == win.days - 1
    if due is None or (case.withdrawn and responded is None):
        return
    if win.start < due <= win.now:
        if responded is None:
            counts["judged_overdue"] += 1
        else:
            counts["on_time" if responded <= due else "late"] += 1
    if responded is None or responded > due:
        # overdue at the end of day i when due < end(i) and the answer (if any) came after end(i)
        start = max(0, win.index(due))
        stop = win.days if responded is None else min(win.days, win.index(responded - TICK))
        if start < stop:
            win.overdue_delta[start] += 1
            win.overdue_delta[stop] -= 1


def _negative_media(case: Case, win: _Window) -> bool:
    return (case.received_at is not None and case.received_at > win.media_since
            and case.channel in MEDIA_CHANNELS and case.sentiment == Sentiment.NEGATIVE)


def _count_forwards(case: Case, win: _Window, forwarded_from: dict[str, int]) -> None:
    for stamp, source, _ in case.forward_moves():
        try:
            moved_at = datetime.fromisoformat(stamp).replace(tzinfo=win.now.tzinfo)
        except ValueError:
            continue
        if moved_at > win.start:
            forwarded_from[source] = forwarded_from.get(source, 0) + 1


def _with_forwarded(line: OpdLine, n: int) -> OpdLine:
    if not n:
        return line
    from dataclasses import replace

    return replace(line, forwarded_away=n)


def rank_lines(lines: list[OpdLine], min_sample: int = MIN_SAMPLE) -> list[OpdLine]:
    """Ranked (enough judged cases) by adjusted compliance, best first; then the rest."""
    from dataclasses import replace

    eligible = [line for line in lines if line.rankable and line.judged >= min_sample]
    eligible.sort(key=lambda line: (-line.score, -(line.compliance or 0), line.title))
    ranked = [replace(line, rank=i) for i, line in enumerate(eligible, start=1)]
    chosen = {line.key for line in eligible}
    rest = sorted((line for line in lines if line.key not in chosen),
                  key=lambda line: (not line.rankable, -line.overdue, line.title))
    return ranked + rest


def case_ref(key: str, title: str, case: Case | dict, now: datetime, locate: Locator) -> CaseRef:
    case = case_from_row(key, case)
    url, where = locate(key, case.ticket_id)
    return CaseRef(
        ticket_id=case.ticket_id,
        opd=key,
        opd_title=title,
        received_at=case.received_at or now,
        deadline=case.deadline or now,
        age_hours=case.age_hours(now),  # a clock behind a case: 0, never negative
        category=case.category,
        location=case.location,
        summary=excerpt(case.text, 90),
        channel=case.channel,
        link=url,
        where=where,
        forwarded=case.forwarded,
        media_link=case.link,
    )
