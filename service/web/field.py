"""The grid worker's phone page: my open work orders by deadline, take one on, resolve it with an after photo."""
from __future__ import annotations

from flask import Blueprint, render_template

from service.db import utcnow
from service.queue import work_orders
from service.web.access import current_user, page_login_required
from service.web.extensions import db_session

bp = Blueprint("field", __name__)


@bp.get("/field")
@page_login_required("grid_worker")
def orders():
    """My work orders that are dispatched or in progress, soonest due first."""
    return render_template("field/orders.html", cases=work_orders(db_session(), current_user()), now=utcnow())
