"""The communities' exchanges (兑换点): their catalogues of goods priced in 紫藤花, loaded from the district's files,
the windows their exchange days fall in, and which exchange a rider is shown first."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from service.models import Case, CatalogueItem, Community, Exchange
from service.quarters import Quarter

CATALOGUE_FILE = "catalogue.json"  # in a community's folder: an exchange held there, and its goods
DEFAULT_WINDOW_DAYS = 7  # with no windows given: the last week of each quarter
_CODE = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}\Z")
_PICTURE = re.compile(r"[a-z0-9][a-z0-9_-]{0,50}\.(svg|png|jpg|webp)\Z")
_MONTH_DAY = re.compile(r"\d\d-\d\d\Z")


class CatalogueFileError(ValueError):
    """A catalogue file that cannot be loaded as it is: the message names the file and what is wrong."""


@dataclass(frozen=True, order=True)
class Window:
    """An exchange window: from its first day to its last (both whole), local dates."""

    first: date
    last: date

    def holds(self, day: date) -> bool:
        return self.first <= day <= self.last


def windows_in(exchange: Exchange, year: int) -> list[Window]:
    """The exchange's windows of a calendar year, in date order: its own month-day spans, or the last
    DEFAULT_WINDOW_DAYS days of each quarter."""
    if not exchange.windows:
        lasts = [Quarter(year, n).last_day() for n in range(1, 5)]
        return [Window(d - timedelta(days=DEFAULT_WINDOW_DAYS - 1), d) for d in lasts]
    return sorted(Window(_day(year, a), _day(year, b)) for a, b in exchange.windows)


def _day(year: int, month_day: str) -> date:
    """A month-day (02-29 in a year without one is the 28th) in that year."""
    month, day = int(month_day[:2]), int(month_day[3:])
    try:
        return date(year, month, day)
    except ValueError:
        return date(year, month, day - 1)


def open_window(exchange: Exchange, now: datetime, tz: str) -> Window | None:
    """The window the exchange is open in at `now` (its local date), or None."""
    today = now.astimezone(ZoneInfo(tz)).date()
    return next((w for w in windows_in(exchange, today.year) if w.holds(today)), None)


def next_window(exchange: Exchange, now: datetime, tz: str) -> Window:
    """The window open now, or the next to open: the next exchange day a rider is told of."""
    today = now.astimezone(ZoneInfo(tz)).date()
    upcoming = windows_in(exchange, today.year) + windows_in(exchange, today.year + 1)
    return next(w for w in upcoming if w.last >= today)


def exchange_of(session: Session, community_code: str) -> Exchange | None:
    """The exchange held by the community of that code, with its goods, or None."""
    return session.scalar(sa.select(Exchange).join(Community).where(Community.code == community_code)
                          .options(selectinload(Exchange.items), selectinload(Exchange.community)))


def exchanges(session: Session) -> list[Exchange]:
    """Every exchange of the district, with its community and goods, by community code."""
    return list(session.scalars(sa.select(Exchange).join(Community).order_by(Community.code)
                                .options(selectinload(Exchange.items), selectinload(Exchange.community))))


def most_reported_community(session: Session, user_id: int, now: datetime, tz: str) -> int | None:
    """The community the person reported in most this quarter (the most recent among equals), or None."""
    start = Quarter.containing(now, tz).start(tz)
    row = session.execute(sa.select(Case.community_id).where(Case.reporter_id == user_id, Case.created_at >= start,
                                                             Case.community_id.is_not(None))
                          .group_by(Case.community_id)
                          .order_by(sa.func.count().desc(), sa.func.max(Case.created_at).desc()).limit(1)).first()
    return row[0] if row else None


def exchanges_for(session: Session, user_id: int, now: datetime, tz: str) -> list[Exchange]:
    """Every exchange, the one of the community the person reported in most this quarter first."""
    home = most_reported_community(session, user_id, now, tz)
    return sorted(exchanges(session), key=lambda e: e.community_id != home)


def load_exchanges(session: Session, communities: dict[str, Community], root: Path) -> int:
    """Each community's catalogue file (communities/<code>/catalogue.json) as its exchange: windows, and goods by
    code — a new one with the file's stock, a known one with its name, picture, price and order updated and its
    stock as staff keep it, one the file no longer lists withdrawn. How many exchanges."""
    held = {e.community_id: e for e in session.scalars(sa.select(Exchange).options(selectinload(Exchange.items)))}
    count = 0
    for code, community in communities.items():
        path = Path(root) / "communities" / code / CATALOGUE_FILE
        if not path.exists():
            continue
        catalogue = read_catalogue(path)
        exchange = held.get(community.id) or Exchange(community=community)
        exchange.windows = catalogue["windows"]
        items = {i.code: i for i in exchange.items}
        for position, row in enumerate(catalogue["items"]):
            item = items.pop(row["code"], None) or CatalogueItem(code=row["code"], stock=row["stock"])
            item.name, item.picture, item.flowers = row["name"], row.get("picture"), row["flowers"]
            item.position, item.active = position, True
            if item not in exchange.items:
                exchange.items.append(item)
        for gone in items.values():
            gone.active = False
        session.add(exchange)
        count += 1
    return count


def read_catalogue(path: Path) -> dict:
    """A catalogue file, checked: {"windows": [[MM-DD, MM-DD], ...] or None, "items": [{code, name, picture,
    flowers, stock}, ...]}."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CatalogueFileError(f"{path}: {error}") from None
    windows = data.get("windows")
    if windows is not None and not (isinstance(windows, list) and all(_window_ok(w) for w in windows)):
        raise CatalogueFileError(f"{path}: windows must be a list of [MM-DD, MM-DD] pairs, each in date order")
    items, seen = data.get("items"), set()
    if not isinstance(items, list) or not items:
        raise CatalogueFileError(f"{path}: items must be a list of goods")
    for row in items:
        problem = _item_problem(row, seen)
        if problem:
            raise CatalogueFileError(f"{path}: item {row.get('code') if isinstance(row, dict) else row!r}: {problem}")
        seen.add(row["code"])
    return {"windows": windows, "items": items}


def _window_ok(window) -> bool:
    if not (isinstance(window, list) and len(window) == 2 and all(isinstance(d, str) and _MONTH_DAY.match(d)
                                                                   for d in window)):
        return False
    try:
        first, last = (date(2024, int(d[:2]), int(d[3:])) for d in window)  # a leap year: 02-29 is a day
    except ValueError:
        return False
    return first <= last


def _item_problem(row, seen: set[str]) -> str | None:
    """What is wrong with one item of a catalogue file, or None."""
    if not isinstance(row, dict):
        return "not an object"
    if not isinstance(row.get("code"), str) or not _CODE.match(row["code"]) or row["code"] in seen:
        return "code must be unique, lower-case letters, digits, - or _ (at most 32)"
    if not isinstance(row.get("name"), str) or not 0 < len(row["name"]) <= 64:
        return "name must be 1 to 64 characters"
    if row.get("picture") is not None and not (isinstance(row["picture"], str) and _PICTURE.match(row["picture"])):
        return "picture must be a file name under static/img/catalogue/"
    for key, low in (("flowers", 1), ("stock", 0)):
        if isinstance(row.get(key), bool) or not isinstance(row.get(key), int) or row[key] < low:
            return f"{key} must be a whole number of at least {low}"
    return None
