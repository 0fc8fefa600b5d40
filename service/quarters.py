"""Quarters of the year (季度) as the district's clocks read them: what points are earned in, expire after, and
are exchanged at the end of."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from service.parsing import whole_number


@dataclass(frozen=True, order=True)
class Quarter:
    """A calendar quarter, 2026-Q4: from its first day 00:00 to the next quarter's, local time."""

    year: int
    number: int  # 1..4

    @classmethod
    def containing(cls, instant: datetime, tz: str) -> Quarter:
        """The quarter an instant falls in, in the zone."""
        local = instant.astimezone(ZoneInfo(tz))
        return cls(local.year, (local.month - 1) // 3 + 1)

    @classmethod
    def parse(cls, text: str) -> Quarter:
        """A quarter from its name (2026-Q4); ValueError when it is not one."""
        year, _, number = text.strip().upper().partition("-Q")
        return cls(whole_number(year, 2000, 9998), whole_number(number, 1, 4))

    @property
    def name(self) -> str:
        return f"{self.year}-Q{self.number}"

    def first_day(self) -> date:
        return date(self.year, 3 * self.number - 2, 1)

    def last_day(self) -> date:
        """The quarter's last calendar day (03-31, 06-30, 09-30, 12-31)."""
        return date.fromordinal(self.shifted(1).first_day().toordinal() - 1)

    def start(self, tz: str) -> datetime:
        """Its first day 00:00 local, as a UTC instant."""
        first = self.first_day()
        return datetime(first.year, first.month, first.day, tzinfo=ZoneInfo(tz)).astimezone(UTC)

    def end(self, tz: str) -> datetime:
        """The next quarter's start: the quarter is [start, end)."""
        return self.shifted(1).start(tz)

    def shifted(self, quarters: int) -> Quarter:
        """The quarter so many quarters later (earlier when negative)."""
        index = self.year * 4 + self.number - 1 + quarters
        return Quarter(index // 4, index % 4 + 1)
