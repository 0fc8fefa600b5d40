"""Logging out really logs out: every copy of a session and the bearer token end with it; tokens expire; a
deactivated person stays out; PUBLIC_URL makes cookies https-only and links point there."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from support import DEMO_PASSWORD, Api, Browser, make_settings, staff_browser

from service.db import utcnow
from service.models import User
from service.web import create_app


def _copy(app, client):
    """Another client holding a copy of this client's session cookie: what a thief or a shared phone keeps."""
    copy = app.test_client()
    copy.set_cookie("session", client.get_cookie("session").value)
    return copy


def _logged_out(response) -> bool:
    return response.status_code == 401 or (response.status_code == 302
                                           and response.headers["Location"].startswith("/login"))


def test_a_cookie_copied_before_logout_stops_working_and_so_does_the_token(app):
    browser = staff_browser(app)
    copy = _copy(app, browser.client)
    api = Api(app.test_client())
    api.login("staff1")  # the same person's script elsewhere
    assert copy.get("/desk").status_code == 200 and api.get("/api/v1/me/reports").status_code == 200
    assert browser.post("/logout").headers["Location"] == "/login"
    assert _logged_out(copy.get("/desk")) and _logged_out(copy.get("/api/v1/me/reports"))
    assert api.get("/api/v1/me/reports").status_code == 401
    assert staff_browser(app).get("/desk").status_code == 200  # logging in again works


def test_api_logout_revokes_the_token_and_every_session(app):
    api = Api(app.test_client())
    api.login("rider1")
    copy, page = _copy(app, api.client), Browser(app.test_client())
    page.login("rider1")
    response = api.client.post("/api/v1/auth/logout", headers=api.headers)
    assert response.status_code == 204 and response.get_data() == b""
    assert api.get("/api/v1/me/reports").status_code == 401
    assert copy.get("/api/v1/me/reports").status_code == 401
    assert _logged_out(page.get("/"))
    nobody = app.test_client().post("/api/v1/auth/logout")
    assert nobody.status_code == 401 and nobody.get_json()["error"]["code"] == "not_logged_in"


def test_api_logout_by_the_session_cookie_needs_the_csrf_token(app):
    page = Browser(app.test_client())
    page.login("rider1")
    refused = page.client.post("/api/v1/auth/logout")
    assert refused.status_code == 400 and refused.get_json()["error"]["code"] == "csrf_failed"
    assert page.client.post("/api/v1/auth/logout", headers={"X-CSRFToken": page.csrf}).status_code == 204
    assert _logged_out(page.get("/"))


def test_a_token_expires_token_days_after_its_login(tmp_path, settings, db):
    app = create_app(make_settings(tmp_path, settings.database_url, settings.redis_url, token_days=2))
    app.config["TESTING"] = True
    api = Api(app.test_client())
    assert api.login("rider1").get_json()["expires_in"] == 2 * 86400
    token_only = Api(app.test_client())
    token_only.token = api.token

    def issued(ago: timedelta) -> int:
        db.execute(sa.update(User).where(User.username == "rider1").values(api_token_issued_at=utcnow() - ago))
        db.commit()
        return token_only.get("/api/v1/me/reports").status_code

    assert issued(timedelta(days=1, hours=23)) == 200
    assert issued(timedelta(days=2, minutes=1)) == 401


def test_a_deactivated_person_stays_out_when_reactivated(app):
    rider = Browser(app.test_client())
    rider.login("rider2")
    copy = _copy(app, rider.client)
    admin = Browser(app.test_client())
    admin.login("admin")
    admin.post("/desk/users/active", username="rider2", active="0")
    assert _logged_out(rider.get("/")) and _logged_out(copy.get("/"))
    admin.post("/desk/users/active", username="rider2", active="1")
    assert _logged_out(rider.get("/")) and _logged_out(copy.get("/"))  # old sessions do not come back
    assert Browser(app.test_client()).login("rider2").status_code == 302


def test_the_token_names_its_user_under_the_apps_signature(app, db):
    token = Api(app.test_client()).login("rider1").get_json()["token"]
    uid = db.scalar(sa.select(User.id).where(User.username == "rider1"))
    assert token.split(".")[0] == str(uid) and len(token.split(".")) == 3
    forged = f"{uid}.{token.split('.')[1]}x.{token.split('.')[2]}"
    assert app.test_client().get("/api/v1/me/reports", headers={"Authorization": f"Bearer {forged}"}).status_code == 401


@pytest.fixture
def public_app(tmp_path, settings):
    app = create_app(make_settings(tmp_path, settings.database_url, settings.redis_url,
                                   public_url="https://snap.example.cn"))
    app.config["TESTING"] = True
    yield app
    app.extensions["snap"].db.dispose()


def test_public_url_https_makes_the_session_cookie_https_only(public_app, app):
    secure = public_app.test_client().post("/api/v1/auth/login", json={"username": "rider1", "password": DEMO_PASSWORD})
    assert "; Secure" in secure.headers["Set-Cookie"]
    plain = app.test_client().post("/api/v1/auth/login", json={"username": "rider1", "password": DEMO_PASSWORD})
    assert "Secure" not in plain.headers["Set-Cookie"]


def test_links_handed_out_point_at_public_url(public_app):
    desk = staff_browser(public_app)
    page = desk.post("/desk/invites", display_name="赵师傅", username="rider-pub").get_data(as_text=True)
    assert re.search(r'id="invite-link">https://snap\.example\.cn/invite/[^<]+<', page)
    rider = Api(public_app.test_client())
    rider.login("rider1")
    created = rider.report()
    assert created.get_json()["url"].startswith("https://snap.example.cn/api/v1/reports/")
    assert created.headers["Location"] == created.get_json()["url"]
    with public_app.extensions["snap"].db.session() as session:
        session.execute(sa.delete(User).where(User.username == "rider-pub"))
        session.commit()


def test_a_new_secret_key_ends_every_token_and_cookie(tmp_path, settings, app):
    api = Api(app.test_client())
    api.login("rider1")
    rekeyed = create_app(make_settings(tmp_path, settings.database_url, settings.redis_url, secret_key="rotated"))
    client = rekeyed.test_client()
    assert client.get("/api/v1/me/reports", headers=api.headers).status_code == 401
    client.set_cookie("session", api.client.get_cookie("session").value)
    assert client.get("/api/v1/me/reports").status_code == 401
    rekeyed.extensions["snap"].db.dispose()
