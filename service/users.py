"""People and their accounts, as an admin changes them: adding a person, (de)activating, resetting a password,
naming a grid's worker; and the lists of people the desk's pages offer."""
from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from service.auth import (
    PEOPLE_ROLES,
    Role,
    change_password,
    end_sessions,
    generated_password,
    issue_api_token,
    new_username,
    set_active,
    set_password,
)
from service.models import Community, Grid, StreetOffice, Unit, User
from service.refusals import Refused


@dataclass(frozen=True)
class PasswordReset:
    """A password set by an admin; `password` is the generated one, to be shown this once (None when typed)."""

    username: str
    password: str | None


def people(session: Session) -> list[User]:
    """Everyone with an account, by role and username (not the Open311 clients' accounts: no one logs in there)."""
    query = sa.select(User).where(User.role != Role.OPEN311).order_by(User.role, User.username)
    return list(session.scalars(query.options(
        selectinload(User.community), selectinload(User.street_office), selectinload(User.unit))))


def grid_workers(session: Session, active_only: bool = False) -> list[User]:
    """The grid workers (only the active ones if asked), by username."""
    query = sa.select(User).where(User.role == "grid_worker").order_by(User.username)
    if active_only:
        query = query.where(User.active.is_(True))
    return list(session.scalars(query))


def new_person(session: Session, username: str, role: str, display_name: str = "", phone: str = "") -> User:
    """A new person of this role, added to the session but not committed: the username normalised (as at login)
    and free, the display name the username when none is given. Raises Refused."""
    if role not in PEOPLE_ROLES:
        raise Refused("invalid", "unknown_role", "请选择角色", "choose a role", "role")
    username = new_username(session, username)
    user = User(username=username, role=role, display_name=display_name.strip() or username,
                phone=phone.strip() or None)
    session.add(user)
    return user


def place_person(session: Session, user: User, belongs: str = "", unit: str = "") -> None:
    """Put the person where they work: `belongs` names a community ("community:<code>"), a street office
    ("street_office:<code>") or, empty, the district; a unit's worker names their unit. Raises Refused."""
    level, _, code = belongs.partition(":")
    model = {"community": Community, "street_office": StreetOffice}.get(level)
    place = session.scalar(sa.select(model).where(model.code == code)) if model and code else None
    if belongs and place is None:
        raise Refused("invalid", "unknown_place", "请选择所属社区或街道", "choose a community or street office",
                      "belongs")
    user.community = place if level == "community" else None
    user.street_office = place if level == "street_office" else None
    user.unit = session.scalar(sa.select(Unit).where(Unit.code == unit, Unit.active.is_(True))) if unit else None
    if user.role == "unit" and user.unit is None:
        raise Refused("invalid", "unit_required", "责任单位账号须选择所属单位", "a unit's account needs its unit",
                      "unit")


def add_person(session: Session, username: str, role: str, password: str, display_name: str = "",
               phone: str = "", belongs: str = "", unit: str = "") -> User:
    """Add a person with a role, their place in the district and a first password, committed; refused for a bad
    or taken username, an unknown role or place, a short password, or a name or phone too long for its column."""
    try:
        user = new_person(session, username, role, display_name, phone)
        place_person(session, user, belongs, unit)
        set_password(user, password)
    except Refused:
        session.rollback()
        raise
    session.commit()
    return user


def _someone_else(session: Session, admin: User, username: str, zh: str, en: str) -> User:
    """The person with this username, who is not the admin asking; else refused with the words given."""
    user = session.scalar(sa.select(User).where(User.username == username))
    if user is None or user.id == admin.id:
        raise Refused("not_found", "unknown_user", zh, en, "username")
    return user


def set_person_active(session: Session, admin: User, username: str, active: bool) -> User:
    """Activate or deactivate someone (deactivating ends their sessions), committed; an admin cannot deactivate
    themselves here."""
    user = _someone_else(session, admin, username, "找不到该用户（不能停用自己）",
                         "no such user (you cannot deactivate yourself)")
    set_active(user, active)
    session.commit()
    return user


def reset_password(session: Session, admin: User, username: str, typed: str = "") -> PasswordReset:
    """Set someone else's password, the one typed or else a generated one, and end their sessions, committed;
    the admin's own password is changed on the password page, not here."""
    user = _someone_else(session, admin, username, "找不到该用户（自己的密码请在“修改密码”页修改）",
                         "no such user (change your own on the password page)")
    password = typed or generated_password()
    set_password(user, password)
    session.commit()
    return PasswordReset(user.username, None if typed else password)


def name_grid_worker(session: Session, grid_code: str, worker_username: str) -> Grid:
    """Make this grid worker the grid's worker, committed; refused for an unknown grid or a person who is not a
    grid worker."""
    grid = session.scalar(sa.select(Grid).where(Grid.code == grid_code))
    if grid is None:
        raise Refused("not_found", "unknown_grid", "找不到该网格", "no such grid", "grid")
    worker = session.scalar(sa.select(User).where(User.username == worker_username, User.role == "grid_worker"))
    if worker is None:
        raise Refused("not_found", "unknown_worker", "找不到该网格员", "no such grid worker", "worker")
    grid.worker = worker
    session.commit()
    return grid


def change_own_password(session: Session, user: User, current: str, new: str, new_again: str) -> None:
    """The person's own change of password (service.auth.change_password: the new one twice alike and long
    enough, then the current one), committed; their other sessions end."""
    change_password(user, current, new, new_again)
    session.commit()


def sign_in(session: Session, user: User, secret: str) -> str:
    """A logged-in person's new bearer token (the old one stops working), committed."""
    token = issue_api_token(user, secret)
    session.commit()
    return token


def sign_out_everywhere(session: Session, user: User) -> None:
    """End every session and the bearer token of the person, committed."""
    end_sessions(user)
    session.commit()
