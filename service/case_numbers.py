"""The shape of a case number (the local day, then its count: 20260301-0007): a leaf anyone may import."""
from __future__ import annotations

import re

CASE_NO = re.compile(r"[0-9]{8}-[0-9]{4,}")  # what cases.next_case_no makes


def case_no_of(day: str, count: int) -> str:
    """The case number of the day's count-th case (day as YYYYMMDD in the district's time)."""
    return f"{day}-{count:04d}"


def is_case_no(text: str | None) -> bool:
    """True when the text has the shape of a case number (20260301-0007), whether or not such a case exists."""
    return bool(text) and CASE_NO.fullmatch(text) is not None
