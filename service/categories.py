"""The community's case categories as people are offered them: the active ones, how each is shown (the community
file's names, icons and colours), and how often one has used each."""
from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from service.models import Case, Category, User


def active_categories(session: Session, by_kind: bool = False) -> list[Category]:
    """The categories in use, by code (by kind first, if asked)."""
    order = (Category.kind, Category.code) if by_kind else (Category.code,)
    return list(session.scalars(sa.select(Category).where(Category.active.is_(True)).order_by(*order)))


def active_codes(session: Session) -> tuple[str, ...]:
    """The codes of the categories in use, sorted."""
    return tuple(session.scalars(sa.select(Category.code).where(Category.active.is_(True)).order_by(Category.code)))


def reports_per_category(session: Session, reporter: User) -> dict[int, int]:
    """How many reports the person has made of each category, by category id (absent when none)."""
    return dict(session.execute(sa.select(Case.category_id, sa.func.count())
                                .where(Case.reporter_id == reporter.id).group_by(Case.category_id)).all())


def category_by_code(session: Session, code: str) -> Category | None:
    """The category with this code, active or not, or None."""
    return session.scalar(sa.select(Category).where(Category.code == code))


@cache
def looks(categories_file: Path) -> tuple[dict, dict]:
    """How the community's categories file says each category (code -> name_en, icon, glyph) and each major class
    (name -> name_en, colour) are shown; data the database does not keep, read once."""
    data = json.loads(Path(categories_file).read_text(encoding="utf-8"))
    return ({row["code"]: row for row in data["categories"]}, data.get("major_classes", {}))


@cache
def names_en(categories_file: Path) -> dict[str, str]:
    """The categories' English names by code, from the district's file (read once)."""
    return {code: row["name_en"] for code, row in looks(categories_file)[0].items() if row.get("name_en")}
