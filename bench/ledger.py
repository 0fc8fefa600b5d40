"""What the database says after a `make load` run (bench/load.py): cases finished, left `new`, processed more than
once, taken but lost; photos missing from their store; the secrets no log line may hold."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa

from bench.riders import Outcome
from bench.stack import PASSWORD, Stack
from config import Settings
from service.db import Database
from service.models import Case, CaseEvent, Photo, User
from service.photo_store import FolderPhotoStore, photo_store_for
from service.states import CaseState

OUTCOMES = (CaseState.DISPATCHED, CaseState.UNROUTED, CaseState.DUPLICATE)  # how the pipeline leaves a case


def finished_between(db: Database, start: datetime, end: datetime) -> int:
    """Cases the pipeline finished (left `new` for an outcome) in [start, end)."""
    with db.session() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(CaseEvent).where(
            CaseEvent.from_state == CaseState.NEW, CaseEvent.to_state.in_(OUTCOMES),
            CaseEvent.created_at >= start, CaseEvent.created_at < end))


def unfinished(db: Database) -> int:
    """Cases still `new`."""
    with db.session() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(Case).where(Case.state == "new"))


def photos_missing(db: Database, stack: Stack) -> int:
    """Photos of kept cases whose original is in neither store: the media folder (the phases before the faults)
    nor the object store's bucket (the faults)."""
    kept = set(FolderPhotoStore(stack.settings.media_dir).names())
    if stack.object_store:
        kept |= set(photo_store_for(Settings.from_env(env=stack.env())).names())
    with db.session() as session:
        return sum(1 for relpath in session.scalars(sa.select(Photo.original_path)) if relpath not in kept)


def secrets(db: Database, stack: Stack, credentials: Iterable[str]) -> dict[str, set[str]]:
    """What no log line may hold: the password, the tokens and cookies handed out, every user's phone number, the
    secret key, the object store's key."""
    with db.session() as session:
        phones = set(session.scalars(sa.select(User.phone).where(User.phone.is_not(None))))
    env = stack.env()
    return {"password": {PASSWORD}, "token or cookie": set(credentials), "phone number": phones,
            "secret key": {env["SECRET_KEY"]}, "object store key": {env.get("S3_SECRET_ACCESS_KEY")} - {None}}


def ledger_check(db: Database, taken: dict[str, Outcome], refused: list[Outcome]) -> dict:
    """Every case against the ledger of reports the service said it took: states, outcome events per case, cases
    nobody was told about."""
    with db.session() as session:
        states = dict(session.execute(sa.select(Case.state, sa.func.count()).group_by(Case.state)).all())
        per_case = (sa.select(CaseEvent.case_id, sa.func.count().label("n"))
                    .where(CaseEvent.from_state == CaseState.NEW, CaseEvent.to_state.in_(OUTCOMES))
                    .group_by(CaseEvent.case_id).subquery())
        processed_counts = dict(session.execute(
            sa.select(per_case.c.n, sa.func.count()).group_by(per_case.c.n)).all())
        case_nos = set(session.scalars(sa.select(Case.case_no)))
    told = {o.case_no for o in taken.values()}
    created = sum(1 for o in taken.values() if o.status == 201)
    return {
        "reports_taken": len(taken),
        "answered_201": created,
        "answered_200_retry": len(taken) - created,
        "refused": len(refused),
        "cases": len(case_nos),
        "cases_by_state": states,
        "lost": len(told - case_nos),
        "cases_nobody_was_told_about": len(case_nos - told),
        "not_finished": sum(n for s, n in states.items() if s not in OUTCOMES),
        "processed_once": processed_counts.get(1, 0),
        "processed_more_than_once": sum(n for times, n in processed_counts.items() if times > 1),
    }
