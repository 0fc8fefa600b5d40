"""Logging in, and who may read which report."""
from __future__ import annotations

import sqlalchemy as sa
from support import DEMO_PASSWORD, Api

from service.models import User


def test_login_returns_a_token_and_a_session_cookie(client):
    response = client.post("/api/v1/auth/login", json={"username": "rider1", "password": DEMO_PASSWORD})
    assert response.status_code == 200
    body = response.get_json()
    assert len(body["token"]) >= 40 and body["user"] == {"username": "rider1", "display_name": "骑手 张师傅",
                                                         "role": "reporter"}
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    # the cookie alone is enough
    assert client.get("/api/v1/me/reports").status_code == 200


def test_the_bearer_token_alone_is_enough(app):
    token = Api(app.test_client()).login("rider1").get_json()["token"]
    fresh = app.test_client()
    assert fresh.get("/api/v1/me/reports", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert fresh.get("/api/v1/me/reports", headers={"Authorization": "Bearer not-a-token"}).status_code == 401
    assert fresh.get("/api/v1/me/reports").status_code == 401


def test_only_a_hash_of_the_token_is_stored(app, db):
    token = Api(app.test_client()).login("rider1").get_json()["token"]
    stored = db.scalar(sa.select(User.api_token_hash).where(User.username == "rider1"))
    assert stored and token not in stored


def test_login_failures(client):
    wrong = client.post("/api/v1/auth/login", json={"username": "rider1", "password": "wrong"})
    assert wrong.status_code == 401 and wrong.get_json()["error"]["code"] == "bad_credentials"
    unknown = client.post("/api/v1/auth/login", json={"username": "nobody", "password": DEMO_PASSWORD})
    assert unknown.status_code == 401 and unknown.get_json() == wrong.get_json()
    assert "Set-Cookie" not in wrong.headers
    for body in ({"username": "rider1"}, {"username": 5, "password": "x"}, [1, 2]):
        assert client.post("/api/v1/auth/login", json=body).status_code == 400
    assert client.post("/api/v1/auth/login", data="username=rider1").status_code == 400


def test_a_deactivated_user_cannot_log_in_or_use_a_token(app, db):
    api = Api(app.test_client())
    api.login("rider2")
    db.execute(sa.update(User).where(User.username == "rider2").values(active=False))
    db.commit()
    assert api.get("/api/v1/me/reports").status_code == 401
    assert Api(app.test_client()).login("rider2").status_code == 401


def test_a_reporter_sees_only_their_own_cases_and_staff_see_all(rider, make_api):
    case_no = rider.report().get_json()["case_no"]
    other = make_api("rider2").get(f"/api/v1/reports/{case_no}")
    assert other.status_code == 404 and other.get_json()["error"]["code"] == "unknown_case"  # as if there were none
    assert make_api("staff1").get(f"/api/v1/reports/{case_no}").status_code == 200
    assert make_api("admin").get(f"/api/v1/reports/{case_no}").status_code == 200
    # a grid worker sees a case once it is in their grid or assigned to them; it is neither yet
    assert make_api("gw01").get(f"/api/v1/reports/{case_no}").status_code == 404
    assert make_api("rider2").get("/api/v1/me/reports").get_json()["items"] == []
