"""Reading the numbers and instants people type: strictly, finite, and within what our columns and calendar hold.

Every client-typed integer, decimal and date-time goes through here, so none overflows a database column
(SQLite binds at most 64 bits, PostgreSQL's INTEGER 32) or Python's calendar (years 1 to 9999), which
would otherwise surface as a 500 far from where it was typed. Each function raises ValueError; the caller
turns it into a refusal naming its field.
"""
from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

INT32_MAX = 2**31 - 1  # an INTEGER column on PostgreSQL: every id and priority (SQLAlchemy casts to it)
INT64_MAX = 2**63 - 1  # a BIGINT column, and the largest integer SQLite binds
# the instants we take: far enough from year 1 and 9999 that showing one in any zone, or adding a week or
# a deadline's hours to it, never leaves the calendar
EARLIEST_INSTANT = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_INSTANT = datetime(9000, 1, 1, tzinfo=UTC)

# ASCII digits only: int() and float() also take '٣', '²'-like digits, '1_0' and 'infinity'
_INTEGER = re.compile(r"-?[0-9]{1,30}")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def whole_number(text: str, low: int, high: int) -> int:
    """The integer `text` spells in ASCII digits (spaces around allowed), within [low, high]."""
    text = text.strip() if isinstance(text, str) else ""
    if not _INTEGER.fullmatch(text):
        raise ValueError(f"not an integer: {text[:40]!r}")
    value = int(text)
    if not low <= value <= high:
        raise ValueError(f"{value} is not between {low} and {high}")
    return value


def finite_number(text: str) -> float:
    """The finite decimal number `text` spells in ASCII (spaces around allowed): no inf, nan or 1e400."""
    text = text.strip() if isinstance(text, str) else ""
    if len(text) > 100 or not _DECIMAL.fullmatch(text):
        raise ValueError(f"not a number: {text[:40]!r}")
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {text[:40]!r}")
    return value


def client_instant(text: str, tz: str) -> datetime:
    """An ISO 8601 date-time as a UTC instant; read in the zone `tz` when it carries no offset.

    Refused (ValueError) when it is not one, or falls outside [EARLIEST_INSTANT, LATEST_INSTANT] — which
    also covers the instants that cannot even be moved to UTC, like 9999-12-31T23:00-12:00.
    """
    value = datetime.fromisoformat(text.strip() if isinstance(text, str) else "")
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(tz))
    try:
        instant = value.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{text!r} is outside the calendar") from None
    if not EARLIEST_INSTANT <= instant <= LATEST_INSTANT:
        raise ValueError(f"{text!r} is not between {EARLIEST_INSTANT.year} and {LATEST_INSTANT.year}")
    return instant
