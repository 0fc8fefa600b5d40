"""The case lifecycle: its states, the allowed transitions, and the one place where a case changes state."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Optional

from sqlalchemy.orm import Session

from service.db import utcnow
from service.models import OPEN_STATES, Case, CaseEvent, Grid, User  # noqa: F401  (OPEN_STATES: part of the law)

STATE_LABELS = {
    "new": "待处理",
    "dispatched": "已派遣",
    "unrouted": "待人工派遣",
    "in_progress": "处置中",
    "resolved": "已处置待核查",
    "closed": "已结案",
    "rejected": "不予立案",
    "duplicate": "重复",
}

# After the national 数字城管 workflow (shared/DOMAIN.md): from -> the states it may go to.
TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"dispatched", "unrouted", "rejected", "duplicate"}),
    "unrouted": frozenset({"dispatched", "rejected", "duplicate"}),
    "dispatched": frozenset({"dispatched", "in_progress", "resolved", "rejected", "duplicate"}),
    "in_progress": frozenset({"dispatched", "resolved"}),
    "resolved": frozenset({"closed", "in_progress"}),  # back to in_progress: rework (返工)
    "closed": frozenset({"in_progress"}),  # reopened within 7 days
    "rejected": frozenset(),
    "duplicate": frozenset(),
}


class IllegalTransition(Exception):
    """A change of state the lifecycle does not allow from the case's current state."""

    def __init__(self, case: Case, to_state: str):
        super().__init__(f"case {case.case_no} is {case.state} ({STATE_LABELS[case.state]}); "
                         f"it cannot go to {to_state}")
        self.case_no, self.current, self.to_state = case.case_no, case.state, to_state


@dataclass(frozen=True)
class FollowUp:
    """A job to queue once the change is committed: its name and the id it works on."""

    job: str
    target_id: int


@dataclass
class Outcome:
    """What a change of state wrote, and which follow-up jobs to queue once it is committed."""

    event: CaseEvent
    follow_ups: list[FollowUp] = field(default_factory=list)


def open_case(session: Session, case: Case, actor: User) -> Outcome:
    """Record a new report: the case enters the lifecycle as `new`; its photos await the pipeline.

    The case must have been flushed (it has an id) so the follow-up can name it.
    """
    case.state = "new"
    event = CaseEvent(case=case, actor=actor, from_state=None, to_state="new", action="report", note="上报",
                      created_at=case.created_at)
    session.add(event)
    return Outcome(event=event, follow_ups=[FollowUp("process_case", case.id)])


def transition(session: Session, case: Case, to_state: str, actor: Optional[User], note: str = "",
               at: Optional[datetime] = None, action: str = "") -> Outcome:
    """Move a case to another state and write the event row; raises IllegalTransition when not allowed.

    The case row carries a version: if anyone else moved the case meanwhile, the commit fails (StaleDataError)
    and nothing of this change is kept.
    """
    if to_state not in TRANSITIONS[case.state]:
        raise IllegalTransition(case, to_state)
    at = at or utcnow()
    event = CaseEvent(case=case, actor=actor, from_state=case.state, to_state=to_state, action=action or to_state,
                      note=note, created_at=at)
    case.state = to_state
    session.add(event)
    return Outcome(event=event)


def dispatch(session: Session, case: Case, grid: Optional[Grid], assignee: Optional[User], deadline: datetime,
             actor: Optional[User] = None, note: str = "", at: Optional[datetime] = None,
             unit: Optional[str] = None, action: str = "dispatch") -> Outcome:
    """Give the case to a grid worker (or an external unit). The deadline clock starts at the first dispatch."""
    at = at or utcnow()
    outcome = transition(session, case, "dispatched", actor, note, at, action)
    case.grid = grid or case.grid
    case.assignee, case.assignee_unit = assignee, unit
    case.dispatched_at = case.dispatched_at or at
    case.deadline_at = deadline
    return outcome


def note_event(session: Session, case: Case, actor: Optional[User], action: str, note: str,
               at: Optional[datetime] = None) -> Outcome:
    """An event that changes no state (a deadline extension): still one row, still versioned with the case."""
    event = CaseEvent(case=case, actor=actor, from_state=case.state, to_state=case.state, action=action, note=note,
                      created_at=at or utcnow())
    session.add(event)
    case.updated_at = event.created_at  # bumps the version: a concurrent change of the case fails
    return Outcome(event=event)


def mark_duplicate(session: Session, case: Case, original: Case, actor: Optional[User] = None,
                   note: str = "", at: Optional[datetime] = None) -> Outcome:
    """Link the case to the open case it repeats; it is closed to work from here on."""
    outcome = transition(session, case, "duplicate", actor, note, at, "merge" if actor else "duplicate")
    case.duplicate_of = original
    return outcome
