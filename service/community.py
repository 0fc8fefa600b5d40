"""Loading a community from its data files in config/: categories, users and grids, idempotently."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from shapely.geometry import shape
from sqlalchemy.orm import Session

from service.auth import hash_password, normalise_username
from service.models import ROLES, Category, Grid, User


@dataclass(frozen=True)
class LoadSummary:
    """How many rows of each kind the community files describe."""

    categories: int
    users: int
    grids: int


def _read_json(path: Path):
    return json.loads(Path(path).read_text(encoding="utf-8"))


def load_categories(session: Session, path: Path) -> int:
    """Insert or update every category of the file, by code."""
    rows = _read_json(path)["categories"]
    existing = {c.code: c for c in session.scalars(sa.select(Category))}
    for row in rows:
        category = existing.get(row["code"]) or Category(code=row["code"])
        for key in ("name", "kind", "major_class", "deadline_hours", "priority", "points"):
            setattr(category, key, row[key])
        category.active = row.get("active", True)
        session.add(category)
    return len(rows)


def load_users(session: Session, path: Path, password: str) -> int:
    """Create the file's users with the given (demo) password, or bring an existing user's details in line with
    it; an existing user's password is never touched (an admin may have changed it)."""
    rows = _read_json(path)["users"]
    existing = {u.username: u for u in session.scalars(sa.select(User))}
    password_hash = None  # one hash for all new users, made only if there are any: scrypt is deliberately slow
    for row in rows:
        username = normalise_username(row["username"])
        if row["role"] not in ROLES or not username:
            raise ValueError(f"user {row['username']!r}: empty username or unknown role {row['role']!r}")
        user = existing.get(username)
        if user is None:
            password_hash = password_hash or hash_password(password)
            user = existing[username] = User(username=username, password_hash=password_hash)
        user.display_name, user.phone, user.role = row["display_name"], row.get("phone"), row["role"]
        session.add(user)
    return len(rows)


def load_grids(session: Session, path: Path) -> int:
    """Insert or update every grid polygon of the GeoJSON file, by code, with its grid worker."""
    features = _read_json(path)["features"]
    workers = {u.username: u for u in session.scalars(sa.select(User))}
    existing = {g.code: g for g in session.scalars(sa.select(Grid))}
    for feature in features:
        props = feature["properties"]
        polygon = shape(feature["geometry"])
        if polygon.geom_type != "Polygon" or not polygon.is_valid:
            raise ValueError(f"grid {props['code']}: not a valid polygon")
        grid = existing.get(props["code"]) or Grid(code=props["code"])
        grid.name, grid.polygon = props["name"], feature["geometry"]
        grid.webhook_url = props.get("webhook") or None
        username = normalise_username(props.get("grid_worker") or "")
        if username and username not in workers:
            raise ValueError(f"grid {props['code']}: unknown grid worker {username!r}")
        grid.worker = workers.get(username) if username else None
        session.add(grid)
    return len(features)


def load_community(session: Session, categories: Path, users: Path, grids: Path, password: str) -> LoadSummary:
    """Load the whole community (users before grids, which name their workers) and commit."""
    n_categories = load_categories(session, categories)
    n_users = load_users(session, users, password)
    session.flush()
    n_grids = load_grids(session, grids)
    session.commit()
    return LoadSummary(n_categories, n_users, n_grids)
