"""Instants as the community reads them: in its time zone, in one format for people and one for machines."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

FOR_PEOPLE = "%Y-%m-%d %H:%M"  # deadlines in messages and notes, exports, the printed report
SHORT = "%m-%d %H:%M"  # the desk's tables, where the year is the current one


def local_time(instant: datetime | None, tz: str, fmt: str = FOR_PEOPLE) -> str:
    """The instant in the community's zone, for people ("" for none)."""
    return instant.astimezone(ZoneInfo(tz)).strftime(fmt) if instant else ""


def local_day(instant: datetime, tz: str) -> str:
    """The community's calendar day of the instant, YYYY-MM-DD."""
    return instant.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d")


def local_iso(instant: datetime | None, tz: str) -> str | None:
    """The instant as ISO 8601 with the community's offset, to the second, for the API (None for none)."""
    return instant.astimezone(ZoneInfo(tz)).isoformat(timespec="seconds") if instant else None
