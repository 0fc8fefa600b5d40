"""What a committed change leaves to do: a job's name and the id it works on, queued only after the commit."""
from __future__ import annotations

from dataclasses import dataclass

# the follow-ups the core asks for; the queue door (service/runtime/jobqueue.py) knows the job behind each
PROCESS_CASE = "process_case"
PROCESS_PHOTOS = "process_photos"
DELIVER_WEBHOOK = "deliver_webhook"
SEND_TO_UNIT = "send_to_unit"  # a case to a unit's own platform (service.unit_platforms)


@dataclass(frozen=True)
class FollowUp:
    """A job to queue once the change is committed: its name and the id it works on."""

    job: str
    target_id: int
