"""The case lifecycle: its states, and the one place where a case enters or changes state."""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from service.models import Case, CaseEvent, User

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


@dataclass
class Outcome:
    """What a change of state wrote, and which follow-up jobs to queue once it is committed."""

    event: CaseEvent
    follow_ups: list[str] = field(default_factory=list)


def open_case(session: Session, case: Case, actor: User) -> Outcome:
    """Record a new report: the case enters the lifecycle as `new`, and its photos await the pipeline."""
    case.state = "new"
    event = CaseEvent(case=case, actor=actor, from_state=None, to_state="new", note="上报", created_at=case.created_at)
    session.add(event)
    return Outcome(event=event, follow_ups=["process_case"])

