"""A clock the test moves by hand."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

WIB = ZoneInfo("Asia/Jakarta")


@dataclass
class FakeClock:
    moment: datetime

    def __call__(self) -> datetime:
        return self.moment

    def advance(self, **kw) -> datetime:
        self.moment += timedelta(**kw)
        return self.moment

    def set(self, moment: datetime) -> datetime:
        self.moment = moment
        return moment
