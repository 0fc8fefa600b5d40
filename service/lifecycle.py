"""The case lifecycle: the allowed transitions, and the one place where a case changes state and its event is
written."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from service.db import utcnow
from service.follow_ups import PROCESS_CASE, FollowUp
from service.models import Case, CaseEvent, Community, Grid, MeToo, User
from service.states import CaseState as S

# After the national 数字城管 workflow (shared/DOMAIN.md): from -> the states it may go to.
TRANSITIONS: dict[S, frozenset[S]] = {
    S.NEW: frozenset({S.DISPATCHED, S.UNROUTED, S.REJECTED, S.DUPLICATE}),
    # back to unrouted (a desk's to route again): transferred to another community, escalated to the street office,
    # or sent back by its assignee (shared/DOMAIN.md, how work moves between levels)
    S.UNROUTED: frozenset({S.UNROUTED, S.DISPATCHED, S.REJECTED, S.DUPLICATE}),
    S.DISPATCHED: frozenset({S.DISPATCHED, S.UNROUTED, S.IN_PROGRESS, S.RESOLVED, S.REJECTED, S.DUPLICATE}),
    S.IN_PROGRESS: frozenset({S.DISPATCHED, S.UNROUTED, S.RESOLVED}),
    S.RESOLVED: frozenset({S.CLOSED, S.IN_PROGRESS}),  # back to in_progress: rework (返工)
    S.CLOSED: frozenset({S.IN_PROGRESS}),  # reopened within 7 days
    S.REJECTED: frozenset(),
}
# A merged duplicate goes back to the state it was merged from, and only by being un-merged (unmerge below).
MERGED_FROM = frozenset(s for s, to in TRANSITIONS.items() if S.DUPLICATE in to)
TRANSITIONS[S.DUPLICATE] = MERGED_FROM
UNMERGE = "unmerge"


class IllegalTransition(Exception):
    """A change of state the lifecycle does not allow from the case's current state."""

    def __init__(self, case: Case, to_state: S):
        current = S(case.state)
        super().__init__(f"case {case.case_no} is {current} ({current.zh}); it cannot go to {to_state}")
        self.case_no, self.current, self.to_state = case.case_no, current, to_state


@dataclass
class Outcome:
    """What a change wrote (its event, which the notifications read) and the jobs to queue once committed."""

    event: CaseEvent
    follow_ups: list[FollowUp] = field(default_factory=list)


def open_case(session: Session, case: Case, actor: User) -> Outcome:
    """Record a new report: the case enters the lifecycle as `new`; its photos await the pipeline.

    The case must have been flushed (it has an id) so the follow-up can name it.
    """
    case.state = S.NEW
    event = CaseEvent(case=case, actor=actor, from_state=None, to_state=S.NEW, action="report", note="", facts={},
                      created_at=case.created_at)
    session.add(event)
    return Outcome(event=event, follow_ups=[FollowUp(PROCESS_CASE, case.id)])


def transition(session: Session, case: Case, to_state: S, actor: User | None, note: str = "",
               at: datetime | None = None, action: str = "", facts: dict | None = None) -> Outcome:
    """Move a case to another state and write the event row; raises IllegalTransition when not allowed.

    `note` is what a person typed; `facts` what the service's own words about the event are made of when read
    (service.event_words), such as the grid it went to.

    The case row carries a version: if anyone else moved the case meanwhile, the commit fails (StaleDataError)
    and nothing of this change is kept.
    """
    if to_state not in TRANSITIONS[S(case.state)] or (case.state == S.DUPLICATE and action != UNMERGE):
        raise IllegalTransition(case, to_state)
    at = at or utcnow()
    event = CaseEvent(case=case, actor=actor, from_state=case.state, to_state=to_state,
                      action=action or str(to_state), note=note, facts=facts or {}, created_at=at)
    case.state = to_state
    session.add(event)
    return Outcome(event=event)


def dispatch(session: Session, case: Case, grid: Grid | None, assignee: User | None, deadline: datetime,
             actor: User | None = None, note: str = "", at: datetime | None = None,
             unit: str | None = None, action: str = "dispatch", facts: dict | None = None) -> Outcome:
    """Give the case to a grid worker (or an external unit). The deadline clock starts at the first dispatch."""
    at = at or utcnow()
    outcome = transition(session, case, S.DISPATCHED, actor, note, at, action, facts)
    case.grid = grid or case.grid
    if grid is not None:
        place(case, grid.community)
    case.assignee, case.assignee_unit = assignee, unit
    case.dispatched_at = case.dispatched_at or at
    case.deadline_at = deadline
    return outcome


def place(case: Case, community: Community | None) -> None:
    """Put the case in a community (and so in its street office), or in none: the district's own."""
    case.community = community  # and the ids at once, which the notifications read before any flush
    case.community_id = community.id if community is not None else None
    case.street_office_id = community.street_office_id if community is not None else None


def back_to_desk(session: Session, case: Case, actor: User, action: str, note: str, at: datetime,
                 facts: dict) -> Outcome:
    """Take the case from whoever was working it back to a desk (unrouted), to be routed again: nobody's now."""
    outcome = transition(session, case, S.UNROUTED, actor, note, at, action, facts)
    case.assignee, case.assignee_unit = None, None
    return outcome


def transfer(session: Session, case: Case, community: Community, actor: User, note: str,
             at: datetime | None = None) -> Outcome:
    """转派: hand the case to another community's desk (unrouted there), out of its grid and any street office's
    hands; its deadline clock restarts when that community dispatches it."""
    at = at or utcnow()
    facts = {"from": case.community.name if case.community else None, "to": community.name}
    outcome = back_to_desk(session, case, actor, "transfer", note, at, facts)
    place(case, community)
    case.grid, case.deadline_at, case.escalated_at = None, None, None
    return outcome


def escalate(session: Session, case: Case, actor: User, note: str, at: datetime | None = None) -> Outcome:
    """上报: send the case up to its community's street office, whose desk routes it (to a unit, or back down); the
    deadline is then the category's, counted from that dispatch."""
    at = at or utcnow()
    office = case.community.street_office if case.community else None
    outcome = back_to_desk(session, case, actor, "escalate", note, at, {"office": office.name if office else None})
    case.escalated_at, case.deadline_at = at, None
    return outcome


def send_back(session: Session, case: Case, actor: User, reason: str, note: str,
              at: datetime | None = None) -> Outcome:
    """退回: the assignee (a grid worker, a unit) returns a case it should not have received, with a reason from
    the list (service.event_words.SEND_BACK_REASONS), to the desk that gave it: the street office's if escalated,
    else the community's. The deadline keeps running."""
    return back_to_desk(session, case, actor, "send_back", note, at or utcnow(), {"reason": reason})


def note_event(session: Session, case: Case, actor: User | None, action: str, note: str,
               at: datetime | None = None, facts: dict | None = None) -> Outcome:
    """An event that changes no state (a deadline extension): still one row, still versioned with the case."""
    event = CaseEvent(case=case, actor=actor, from_state=case.state, to_state=case.state, action=action, note=note,
                      facts=facts or {}, created_at=at or utcnow())
    session.add(event)
    case.updated_at = event.created_at  # bumps the version: a concurrent change of the case fails
    return Outcome(event=event)


def count_me_too(session: Session, case: Case, user_id: int, at: datetime, via: Case | None = None) -> bool:
    """Count a person as having met the case's problem (我也遇到), once; False if they reported it or already were.

    `via` is their own report of it, when that is how they came to be counted (a merged duplicate).
    """
    if user_id == case.reporter_id or session.scalar(
            sa.select(MeToo.id).where(MeToo.case_id == case.id, MeToo.user_id == user_id)) is not None:
        return False
    session.add(MeToo(case_id=case.id, user_id=user_id, via_case_id=via.id if via else None, created_at=at))
    return True


def mark_duplicate(session: Session, case: Case, original: Case, actor: User | None = None,
                   note: str = "", at: datetime | None = None, facts: dict | None = None) -> Outcome:
    """Link the case to the open case it repeats, whose "me too" its reporter becomes; it is closed to work.

    The event's facts name the original (with whatever else the caller found, such as how far apart they are)."""
    at = at or utcnow()
    outcome = transition(session, case, S.DUPLICATE, actor, note, at, "merge" if actor else "",
                         {"original": original.case_no, **(facts or {})})
    case.duplicate_of = original
    case.grid_id = case.grid_id or original.grid_id
    if case.community_id is None:
        place(case, original.community)
    count_me_too(session, original, case.reporter_id, at, via=case)
    return outcome


def state_merged_from(session: Session, case: Case) -> S:
    """The state a duplicate was in when it was merged (its latest merge event's from_state); new if none says."""
    from_state = session.scalar(sa.select(CaseEvent.from_state).where(
        CaseEvent.case_id == case.id, CaseEvent.to_state == S.DUPLICATE)
        .order_by(CaseEvent.created_at.desc(), CaseEvent.id.desc()).limit(1))
    return S(from_state) if from_state in MERGED_FROM else S.NEW


def unmerge(session: Session, case: Case, actor: User, note: str = "", at: datetime | None = None) -> Outcome:
    """Take a merged duplicate back to the state it was merged from: no longer linked to the original, and its
    reporter no longer counted as a "me too" there when the merge is how they came to be counted."""
    at = at or utcnow()
    original = case.duplicate_of
    outcome = transition(session, case, state_merged_from(session, case), actor, note, at, UNMERGE,
                         {"original": original.case_no if original else None})
    if original is not None:
        session.execute(sa.delete(MeToo).where(MeToo.case_id == original.id, MeToo.via_case_id == case.id))
    case.duplicate_of = None
    return outcome
