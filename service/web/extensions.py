"""The Flask extensions and the long-lived services one web process shares, apart from create_app so every
blueprint can import them at the top."""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, g
from flask_compress import Compress
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.orm import Session

from config import Settings
from service.actions import DeskRules
from service.cases import IntakeLimits
from service.db import Database
from service.dispatch import KeptIndex
from service.grids import DistrictIndex
from service.photo_store import PhotoStore
from service.runtime.jobqueue import JobQueue

csrf = CSRFProtect()
compress = Compress()
# counts in the same Redis as the queue; a Redis outage must not lock people out, so limits then lapse.
# Its own headers stay off: it would put its window's Retry-After on every answer, a 503's included; the 429
# handler (errors.py) says when to come back.
limiter = Limiter(key_func=get_remote_address, default_limits=[], swallow_errors=True)


@dataclass
class Services:
    """The long-lived parts one web process shares between its requests."""

    settings: Settings
    db: Database
    photos: PhotoStore
    jobs: JobQueue
    district: KeptIndex
    limits: IntakeLimits
    desk_rules: DeskRules


def services() -> Services:
    """The services of the running app."""
    return current_app.extensions["snap"]


def district_index() -> DistrictIndex:
    """The district's boundaries and grids as the database now stands: where reports may come from."""
    return services().district.fresh(db_session())


def db_session() -> Session:
    """The request's database session, opened on first use and closed when the request ends."""
    if "db_session" not in g:
        g.db_session = services().db.session()
    return g.db_session


def close_db_session(_exc=None) -> None:
    """Close the request's database session, if it opened one."""
    opened = g.pop("db_session", None)
    if opened is not None:
        opened.close()
