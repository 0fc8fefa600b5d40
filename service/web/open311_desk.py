"""The admins' page of Open311 clients: add one, give it a new key, revoke it, set its rate limit."""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for

from service import open311_intake
from service.models import Community, Open311Client
from service.refusals import Refused
from service.web.access import page_login_required
from service.web.extensions import db_session
from service.web.open311 import base_url

bp = Blueprint("open311_desk", __name__)


def _page(name: str | None = None, key: str | None = None):
    """The clients page; with a key just made, shown this once and never kept by a cache (nor in the session)."""
    communities = db_session().scalars(sa.select(Community).order_by(Community.code)).all()
    response = make_response(render_template("desk/open311.html", clients=open311_intake.clients(db_session()),
                                             new_key=key, key_name=name, endpoint=base_url(),
                                             communities=communities))
    if key:
        response.headers["Cache-Control"] = "no-store"
    return response


def _client(client_id: int) -> Open311Client:
    client = db_session().get(Open311Client, client_id)
    if client is None:
        raise Refused("not_found", "unknown_client", "找不到该客户端", "no such client")
    return client


@bp.get("/desk/open311")
@page_login_required("admin")
def clients():
    """Every client with its cases, key date, limit and whether it is revoked."""
    return _page()


@bp.post("/desk/open311/add")
@page_login_required("admin")
def add_client():
    """A new client; its key on the page that answers, once."""
    try:
        client, key = open311_intake.add_client(db_session(), request.form.get("name", ""))
    except Refused as refused:
        flash(refused.message, "error")
        return redirect(url_for("open311_desk.clients"), code=303)
    return _page(client.name, key)


@bp.post("/desk/open311/<int:client_id>/key")
@page_login_required("admin")
def new_key(client_id: int):
    """A new key for the client (the old one refused from now on), shown once."""
    client = _client(client_id)
    if client.revoked_at is not None:
        flash(f"{client.name} 已停用，不能换发密钥 / revoked: no new key", "error")
        return redirect(url_for("open311_desk.clients"), code=303)
    return _page(client.name, open311_intake.rotate_key(db_session(), client))


@bp.post("/desk/open311/<int:client_id>/revoke")
@page_login_required("admin")
def revoke(client_id: int):
    """Revoke the client: its key is refused from now on; its cases stay."""
    client = _client(client_id)
    open311_intake.revoke(db_session(), client)
    flash(f"已停用 {client.name} / revoked", "ok")
    return redirect(url_for("open311_desk.clients"), code=303)


@bp.post("/desk/open311/<int:client_id>/limit")
@page_login_required("admin")
def set_limit(client_id: int):
    """The client's own rate limit on its POSTs; empty for the default."""
    client = _client(client_id)
    try:
        open311_intake.set_rate_limit(db_session(), client, request.form.get("rate_limit", ""))
        flash(f"{client.name} 的限流：{client.rate_limit or '默认'} / rate limit set", "ok")
    except Refused as refused:
        flash(refused.message, "error")
    return redirect(url_for("open311_desk.clients"), code=303)


@bp.post("/desk/open311/<int:client_id>/community")
@page_login_required("admin")
def set_community(client_id: int):
    """The community whose desk takes the client's requests that cannot be placed; none: they are refused."""
    client = _client(client_id)
    try:
        open311_intake.set_default_community(db_session(), client, request.form.get("community", ""))
        flash(f"{client.name}：无法定位的案件交{client.community.name if client.community else '（不接收）'} / "
              "default desk set", "ok")
    except Refused as refused:
        flash(refused.message, "error")
    return redirect(url_for("open311_desk.clients"), code=303)
