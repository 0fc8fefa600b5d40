"""Test factories: cases brought to any state through the calls the app and the workers make (intake, the pipeline,
the desk's actions), as redash's tests/factories.py makes its objects; no case row is written by hand."""
from __future__ import annotations

from io import BytesIO
from itertools import count

import sqlalchemy as sa
from images import photo_jpeg
from support import DEMO_PASSWORD, HQ06, OUTSIDE_GRIDS

from service.actions import perform
from service.cases import ReportForm, add_after_photos, take_report
from service.lifecycle import FollowUp
from service.models import Case, Notification, User
from service.pipeline import process_case, process_unprocessed_photos
from service.states import CaseState
from service.users import add_person
from workers import context

STAFF = "staff1"
# what staff write when a step needs a note
NOTES = {"reject": "不予立案", "close": "核查通过"}


class Factory:
    """Makes cases for one test, in a session of its own (what a test then reads through `db` is fresh).

    The pipeline runs as the photo worker runs it (workers.context: the test's settings, store and grid index),
    in this process and without RQ; the follow-up jobs it names (robot messages) are not queued.
    """

    def __init__(self, services):
        self.services = services
        self.session = services.db.session()
        self.seeds = count(10_000)  # every photo its own picture: alike photos at one spot would be merged
        self.people: list[str] = []  # the usernames person() made, removed at close()

    def _now_held(self) -> None:
        """Begin from what the database holds now: the test may have changed it over HTTP since the last step (and
        an old snapshot could neither see that nor, on SQLite, write after it)."""
        self.session.rollback()

    def close(self) -> None:
        """Remove the people it made (and what they were told), and end the factory's session."""
        self.session.rollback()
        if self.people:
            made = sa.select(User.id).where(User.username.in_(self.people))
            self.session.execute(sa.delete(Notification).where(Notification.user_id.in_(made)))
            self.session.execute(sa.delete(User).where(User.username.in_(self.people)))
            self.session.commit()
        self.session.close()

    def user(self, username: str) -> User:
        """A demo person by username."""
        return self.session.scalar(sa.select(User).where(User.username == username))

    def person(self, username: str, role: str, belongs: str = "") -> User:
        """A person of the role, placed as the users page places one (`community:hqsq`, `street_office:hqjd`, ""
        for the district), made through the core with the demo password; removed when the test ends (staff hear
        of every case of their part: another test's counts must not include them)."""
        self._now_held()
        self.people.append(username)
        return add_person(self.session, username, role, DEMO_PASSWORD, username, "", belongs)

    def report(self, reporter: str = "rider1", category: str = "B0118", where: dict | None = None,
               description: str = "", seed: int | None = None, photo: bytes | None = None) -> Case:
        """A rider's report taken in as the API takes it (one photo, kept in the media folder): a `new` case.
        The photo is a phone's picture of its own (of `seed`), or the `photo` given."""
        self._now_held()
        point = {**HQ06, **(where or {})}
        form = ReportForm(category=category, lat=point.get("lat"), lon=point.get("lon"), description=description)
        photo = BytesIO(photo if photo is not None else photo_jpeg(seed=next(self.seeds) if seed is None else seed))
        svc = self.services
        return take_report(self.session, svc.photos, self.user(reporter), form, [photo], svc.limits,
                           svc.district.fresh(self.session),
                           svc.settings.timezone).case

    def process(self, case: Case) -> Case:
        """Run the pipeline on a new case as the process_case job does: photos, place, duplicates, dispatch."""
        self._now_held()
        process_case(self.session, context.photo_store(), context.district_index(self.session),
                     context.pipeline_rules(), case.id)
        return case

    def act(self, case: Case, action: str, by: str = STAFF, **params) -> list[FollowUp]:
        """Take an action on the case as the desk and field pages do."""
        self._now_held()
        return perform(self.session, case, action, self.user(by), params, self.services.desk_rules)

    def after_photo(self, case: Case, seed: int | None = None) -> None:
        """Add an after photo (处置后) and make its copies, as the upload and the process_photos job do."""
        self._now_held()
        photo = BytesIO(photo_jpeg(seed=next(self.seeds) if seed is None else seed))
        add_after_photos(self.session, self.services.photos, case, [photo], self.services.limits)
        process_unprocessed_photos(self.session, context.photo_store(), context.pipeline_rules(), case.id)

    def case_in(self, state: CaseState, reporter: str = "rider1", category: str = "B0118",
                where: dict | None = None, description: str = "", seed: int | None = None,
                photo: bytes | None = None) -> Case:
        """A case of the reporter's in the given state, reached step by step through the lifecycle.

        `where` (lat, lon) overrides the spot: HQ06, dispatched to gw06, or for `unrouted` a spot in no grid.
        Staff (staff1) reject, merge and close; the assignee starts and resolves.
        """
        if state == CaseState.NEW:
            return self.report(reporter, category, where, description, seed, photo)
        if state == CaseState.UNROUTED:
            where = {**OUTSIDE_GRIDS, **(where or {})}
        case = self.process(self.report(reporter, category, where, description, seed, photo))
        if case.state != (CaseState.UNROUTED if state == CaseState.UNROUTED else CaseState.DISPATCHED):
            raise AssertionError(f"the pipeline left {case.case_no} {case.state}, not on the way to {state}")
        if state in (CaseState.UNROUTED, CaseState.DISPATCHED):
            return case
        if state == CaseState.REJECTED:
            self.act(case, "reject", note=NOTES["reject"])
        elif state == CaseState.DUPLICATE:
            original = self.case_in(CaseState.DISPATCHED, category=category, where=where)
            self.act(case, "merge", duplicate_of=original.case_no)
        else:
            self._work(case, state)
        assert case.state == state, (case.case_no, case.state, state)
        return case

    def _work(self, case: Case, state: CaseState) -> None:
        """A dispatched case worked on by its assignee to in_progress or resolved, then closed by staff."""
        worker = case.assignee.username if case.assignee else STAFF
        self.act(case, "start", by=worker)
        if state == CaseState.IN_PROGRESS:
            return
        self.after_photo(case)
        self.act(case, "resolve", by=worker)
        if state == CaseState.CLOSED:
            self.act(case, "close", note=NOTES["close"])
