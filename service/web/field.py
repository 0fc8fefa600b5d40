"""The grid worker's phone page: my open work orders by deadline, take one on, resolve it with an after photo."""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, render_template
from sqlalchemy.orm import selectinload

from service.db import utcnow
from service.queue import DEADLINE_KEY
from service.models import Case
from service.web.extensions import db_session
from service.web.access import current_user, page_login_required

bp = Blueprint("field", __name__)


@bp.get("/field")
@page_login_required("grid_worker")
def orders():
    """My work orders that are dispatched or in progress, soonest due first."""
    cases = db_session().scalars(
        sa.select(Case).where(Case.assignee_id == current_user().id, Case.state.in_(("dispatched", "in_progress")))
        .order_by(DEADLINE_KEY, Case.id).options(selectinload(Case.category), selectinload(Case.photos)))
    return render_template("field/orders.html", cases=list(cases), now=utcnow())
