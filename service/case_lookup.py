"""Finding cases for a person: a case by its number as they may see it, their own reports, a case's possible
duplicates, the cases follow-up jobs work on."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session, joinedload, selectinload

from service.follow_ups import DELIVER_WEBHOOK, PROCESS_CASE, PROCESS_PHOTOS, SEND_TO_UNIT, FollowUp
from service.models import Case, Grid, MeToo, PossibleDuplicate, UnitRequest, User, WebhookMessage
from service.refusals import Refused
from service.scope import cases_visible_to, may_see

# the row each follow-up works on, as (the case's id column of that row, the row's id column)
FOLLOW_UP_TARGETS = {PROCESS_CASE: (Case.id, Case.id), PROCESS_PHOTOS: (Case.id, Case.id),
                     DELIVER_WEBHOOK: (WebhookMessage.case_id, WebhookMessage.id),
                     SEND_TO_UNIT: (UnitRequest.case_id, UnitRequest.id)}


def case_by_number(session: Session, case_no: str) -> Case | None:
    """The case with this number, or None."""
    return session.scalar(sa.select(Case).where(Case.case_no == case_no))


def visible_case(session: Session, user: User, case_no: str) -> Case:
    """The case with this number if the user may see it (service.scope.may_see), with its category, grid,
    photos and timeline; refused as not found when there is none and when it is not theirs to see alike, so no
    one learns which case numbers exist outside their part of the district."""
    case = session.scalar(
        sa.select(Case).where(Case.case_no == case_no)
        # one round trip for the case with its category and grid (not the grid's polygon), one each for lists
        .options(joinedload(Case.category), joinedload(Case.grid).load_only(Grid.code, Grid.name),
                 selectinload(Case.photos), selectinload(Case.events)))
    if case is None or not may_see(user, case):
        raise Refused("not_found", "unknown_case", f"找不到案件 {case_no}", f"no case {case_no}")
    return case


def possible_duplicates(session: Session, case: Case, with_photos: bool = False) -> list[PossibleDuplicate]:
    """The cases the pipeline found near this one and alike, for staff to judge (with their photos if asked)."""
    query = sa.select(PossibleDuplicate).where(PossibleDuplicate.case_id == case.id)
    if with_photos:
        query = query.options(selectinload(PossibleDuplicate.other_case).selectinload(Case.photos))
    return list(session.scalars(query))


def reports_of(session: Session, reporter: User, limit: int,
               before: int | None = None) -> tuple[list[Case], int | None]:
    """A page of the person's reports and the cases they joined as "me too", newest case first, from before the
    case id `before`; and the `before` of the next page (None on the last)."""
    joined = sa.select(MeToo.case_id).where(MeToo.user_id == reporter.id)
    query = (sa.select(Case).where(sa.or_(Case.reporter_id == reporter.id, Case.id.in_(joined)))
             .options(selectinload(Case.category), selectinload(Case.photos)).order_by(Case.id.desc()).limit(limit + 1))
    if before is not None:
        query = query.where(Case.id < before)
    cases = list(session.scalars(query))
    more = len(cases) > limit
    cases = cases[:limit]
    return cases, (cases[-1].id if more else None)


def joins_among(session: Session, user: User, cases: list[Case]) -> dict[int, datetime]:
    """When the person joined each of the cases they joined as "me too", by case id."""
    rows = session.execute(sa.select(MeToo.case_id, MeToo.created_at).where(
        MeToo.user_id == user.id, MeToo.case_id.in_([c.id for c in cases])))
    return dict(rows.all())  # a list of pairs: a Result itself has keys() and would pass for a mapping


def joiners_of(session: Session, case: Case) -> list[MeToo]:
    """Who joined the case as "me too" (with their names), first joined first."""
    return list(session.scalars(sa.select(MeToo).where(MeToo.case_id == case.id)
                                .options(joinedload(MeToo.user)).order_by(MeToo.created_at, MeToo.id)))


def joined_among(session: Session, user: User, cases: list[Case]) -> set[int]:
    """The ids of those of the cases the person has joined as "me too"."""
    return set(session.scalars(sa.select(MeToo.case_id).where(MeToo.user_id == user.id,
                                                             MeToo.case_id.in_([c.id for c in cases]))))


def cases_of_follow_ups(session: Session, user: User, follow_ups: Iterable[FollowUp]) -> dict[FollowUp, str]:
    """The number of the case each follow-up works on (a case's processing, a robot message about a case, a case
    sent to its unit), among those the user may see and whose row is still there; other jobs are left out."""
    wanted: dict[str, set[int]] = {}
    for follow_up in follow_ups:
        if follow_up.job in FOLLOW_UP_TARGETS:
            wanted.setdefault(follow_up.job, set()).add(follow_up.target_id)
    found: dict[FollowUp, str] = {}
    for job, ids in wanted.items():
        case_id, target_id = FOLLOW_UP_TARGETS[job]
        rows = session.execute(sa.select(target_id, Case.case_no)
                               .where(Case.id == case_id, target_id.in_(ids), cases_visible_to(user)))
        found.update({FollowUp(job, target): case_no for target, case_no in rows})
    return found
