"""Who may use which route: every route x every role (and anonymous) against the matrix below, and every route
with a credential that once worked and no longer does (after logout, deactivation, expiry): that gets exactly
what no credential gets.

A new route without a row fails test_every_route_has_a_row: decide who may use it before it ships.
"""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from support import DEMO_PASSWORD, demo_password_hash

from service.db import utcnow
from service.models import Notification, User
from service.states import CaseState
from service.weekly import Week, build_all_weekly_reports

# who: anonymous, the case's reporter, another reporter, the case's grid worker (its assignee), another grid
# worker, staff, admin
WHO = ("anon", "rider1", "rider2", "gw06", "gw01", "staff1", "admin")
ALL, LOGGED_IN = set(WHO), set(WHO) - {"anon"}
STAFF = {"staff1", "admin"}
SEES_CASE = {"rider1", "gw06", "staff1", "admin"}

# (method, rule) -> who is allowed. Everyone else must be refused (401/403, or sent to the login page).
MATRIX: dict[tuple[str, str], set[str]] = {
    ("GET", "/"): LOGGED_IN,
    ("GET", "/sw.js"): ALL,
    ("GET", "/manifest.webmanifest"): ALL,
    ("GET", "/healthz"): ALL,
    ("GET", "/login"): ALL,
    ("POST", "/login"): ALL,
    ("POST", "/logout"): ALL,
    ("GET", "/account/password"): LOGGED_IN,
    ("POST", "/account/password"): LOGGED_IN,
    ("GET", "/invite/<token>"): ALL,
    ("POST", "/invite/<token>"): ALL,
    ("GET", "/desk"): STAFF,
    ("POST", "/desk/bulk-assign"): STAFF,
    ("GET", "/desk/cases/<case_no>"): STAFF,
    ("POST", "/desk/cases/<case_no>/resend"): STAFF,  # (nothing to resend: said so, on the case page)
    ("GET", "/desk/map"): STAFF,
    ("GET", "/desk/map.json"): STAFF,
    ("GET", "/desk/export.csv"): STAFF,
    ("GET", "/desk/invites"): STAFF,
    ("POST", "/desk/invites"): STAFF,
    ("GET", "/desk/reports"): STAFF,
    ("POST", "/desk/reports"): STAFF,
    ("GET", "/desk/reports/<week>"): STAFF,
    ("GET", "/desk/reports/<week>.xlsx"): STAFF,
    ("GET", "/desk/reports/<week>.csv"): STAFF,
    ("GET", "/desk/users"): {"admin"},
    ("GET", "/desk/open311"): {"admin"},
    ("POST", "/desk/open311/add"): {"admin"},
    ("POST", "/desk/open311/<int:client_id>/key"): {"admin"},  # (no such client: 404 for an admin)
    ("POST", "/desk/open311/<int:client_id>/revoke"): {"admin"},
    ("POST", "/desk/open311/<int:client_id>/limit"): {"admin"},
    ("POST", "/desk/open311/<int:client_id>/community"): {"admin"},
    ("POST", "/desk/users/add"): {"admin"},
    ("POST", "/desk/users/active"): {"admin"},
    ("POST", "/desk/users/reset"): {"admin"},
    ("POST", "/desk/users/grid-worker"): {"admin"},
    # the district's admins alone (admin has no community): the queues are the whole district's
    ("GET", "/desk/jobs"): {"admin"},
    ("POST", "/desk/jobs/requeue"): {"admin"},  # (no such job: said so, on the page)
    ("POST", "/desk/jobs/requeue-all"): {"admin"},
    ("GET", "/wallet"): LOGGED_IN,
    ("POST", "/wallet/code"): LOGGED_IN,
    ("GET", "/wallet/code"): LOGGED_IN,  # (no code shown: back to /wallet)
    ("GET", "/desk/exchange"): STAFF,
    ("GET", "/desk/exchange/stock"): STAFF,
    ("POST", "/desk/exchange/stock"): STAFF,
    ("POST", "/desk/exchange/redemptions/<int:redemption_id>/reverse"): {"admin"},  # (none: 404)
    ("GET", "/desk/publicity"): STAFF,
    ("GET", "/desk/exchange-report"): STAFF,
    ("GET", "/desk/exchange-report.xlsx"): STAFF,
    ("GET", "/desk/exchange-report.csv"): STAFF,
    ("GET", "/desk/publicity/poster"): STAFF,
    ("GET", "/desk/publicity/poster.png"): STAFF,
    ("POST", "/wallet/ranking"): LOGGED_IN,
    ("GET", "/good-deeds"): LOGGED_IN,
    ("POST", "/good-deeds"): LOGGED_IN,
    ("GET", "/field/good-deeds"): {"gw06", "gw01", "staff1", "admin"},
    ("POST", "/field/good-deeds/<int:deed_id>"): {"gw06", "gw01", "staff1", "admin"},  # (none: 404)
    ("GET", "/field"): {"gw06", "gw01"},
    ("GET", "/field/done"): {"gw06", "gw01"},
    ("POST", "/api/v1/auth/login"): ALL,
    ("POST", "/api/v1/auth/logout"): LOGGED_IN,
    ("POST", "/api/v1/reports"): LOGGED_IN,
    ("GET", "/api/v1/reports/<case_no>"): SEES_CASE,
    ("GET", "/api/v1/reports/<case_no>/photos/<int:photo_id>/<variant>"): SEES_CASE,
    ("POST", "/api/v1/cases/<case_no>/actions"): {"gw06", "staff1", "admin"},
    ("POST", "/api/v1/cases/<case_no>/photos"): {"gw06", "staff1", "admin"},
    ("GET", "/api/v1/me/reports"): LOGGED_IN,
    ("GET", "/api/v1/me/notifications"): LOGGED_IN,
    ("POST", "/api/v1/me/notifications/read"): LOGGED_IN,
    ("GET", "/api/v1/me/notifications/unread"): LOGGED_IN,
    ("POST", "/api/v1/me/notifications/<int:notification_id>/read"): LOGGED_IN,  # another's: 404
    ("GET", "/api/v1/categories"): ALL,
    ("GET", "/api/v1/community"): LOGGED_IN,
    ("GET", "/api/v1/nearby"): LOGGED_IN,
    ("GET", "/api/v1/grids"): LOGGED_IN,
    ("GET", "/api/v1/communities"): ALL,
    ("GET", "/api/v1/nearby/<case_no>/thumb"): LOGGED_IN,
    ("POST", "/api/v1/reports/<case_no>/me-too"): {"rider2", "gw01"},  # not staff, the assignee or the reporter
    ("GET", "/api/v1/me/points"): LOGGED_IN,
    ("GET", "/api/v1/me/wallet"): LOGGED_IN,
    ("POST", "/api/v1/me/redemption-code"): LOGGED_IN,
    ("GET", "/api/v1/catalogue"): ALL,  # (no exchange loaded here: 404 no_exchange, for anyone)
    ("POST", "/api/v1/redemptions"): STAFF,
    ("POST", "/api/v1/redemption-codes/check"): STAFF,
    ("POST", "/api/v1/me/good-deeds"): LOGGED_IN,
    ("GET", "/api/v1/me/good-deeds"): LOGGED_IN,
    ("GET", "/api/v1/good-deeds/pending"): {"gw06", "gw01", "staff1", "admin"},
    ("POST", "/api/v1/good-deeds/<int:deed_id>/decision"): LOGGED_IN,  # (none: 404; only its grid's worker, staff)
    ("GET", "/api/v1/good-deeds/<int:deed_id>/photo"): LOGGED_IN,  # (none: 404; its rider and deciders only)
    ("GET", "/api/v1/redemptions/<int:redemption_id>"): LOGGED_IN,  # (none: 404; another's is 404 too)
    ("POST", "/api/v1/redemptions/<int:redemption_id>/reversal"): LOGGED_IN,  # (none: 404; admins only, else 403)
    ("GET", "/api/v1/openapi.json"): ALL,
    # Open311 (GeoReport v2): reads need no key by default (OPEN311_READS=open), as the spec has it; a media link
    # works for anyone holding it, signed
    ("GET", "/open311/v2/discovery.<any(xml, json):fmt>"): ALL,
    ("GET", "/open311/v2/services.<any(xml, json):fmt>"): ALL,
    ("GET", "/open311/v2/services/<code>.<any(xml, json):fmt>"): ALL,
    ("GET", "/open311/v2/requests.<any(xml, json):fmt>"): ALL,
    ("GET", "/open311/v2/requests/<case_no>.<any(xml, json):fmt>"): ALL,
    ("GET", "/open311/v2/tokens/<token>.<any(xml, json):fmt>"): ALL,
    ("GET", "/open311/v2/media/<int:photo_id>"): ALL,
    ("GET", "/open311/v2/servicerequestupdates.<any(xml, json):fmt>"): set(),  # a client's api_key, no one's login
    ("POST", "/open311/v2/requests.<any(xml, json):fmt>"): set(),
    ("GET", "/open311/v2/<path:anything>"): ALL,  # an error list (404) for anyone
    ("POST", "/open311/v2/<path:anything>"): ALL,
}
# pages outside someone's scope answer 404, as a case outside it does
SCOPED_PAGES = ("/desk/jobs",)
# what each request sends, so that an allowed person gets past the access check
BODIES = {
    ("POST", "/login"): {"username": "rider2", "password": DEMO_PASSWORD},
    ("POST", "/api/v1/auth/login"): {"username": "rider2", "password": DEMO_PASSWORD},
    ("POST", "/api/v1/cases/<case_no>/actions"): {"action": "start"},
    ("POST", "/desk/bulk-assign"): {"case_no": "nothing"},
    ("POST", "/desk/users/active"): {"username": "nobody", "active": "1"},
    ("POST", "/desk/users/reset"): {"username": "nobody"},
    ("POST", "/desk/users/grid-worker"): {"grid": "nothing", "worker": "nobody"},
    ("POST", "/desk/reports"): {"week": "2026-W09"},
    ("POST", "/desk/open311/add"): {"name": ""},
    ("POST", "/api/v1/reports/<case_no>/me-too"): {"lat": 32.015, "lon": 120.855, "accuracy_m": 10},
}
# a query string, or who -> the query string that person was handed
QUERIES = {("GET", "/api/v1/nearby"): "?lat=32.015&lon=120.855&category=B0118",
           ("GET", "/api/v1/nearby/<case_no>/thumb"): lambda scene, who: scene["thumb_queries"].get(who, ""),
           ("GET", "/open311/v2/media/<int:photo_id>"): lambda scene, who: scene["media_query"]}
# credentials that worked once, each of an admin of its own (admins may use nearly every route), each sent on
# every route: a bearer token (on pages too) or a session cookie alone
STALE = {"token after API logout": "stale-api", "cookie copied before page logout": "stale-page",
         "token of a deactivated user": "stale-gone", "cookie of a deactivated user": "stale-gone",
         "expired token": "stale-old"}


# routes for machines with a token of their own, never a person's login (tests/test_metrics.py checks them)
NOT_FOR_PEOPLE = {("GET", "/metrics")}


def test_every_route_has_a_row(app):
    routes = {(m, r.rule) for r in app.url_map.iter_rules() for m in r.methods - {"HEAD", "OPTIONS"}}
    assert routes == set(MATRIX) | NOT_FOR_PEOPLE


def _api_login(app, username: str):
    """A client logged in through the API (session cookie kept), with its bearer token as `.token`."""
    client = app.test_client()
    response = client.post("/api/v1/auth/login", json={"username": username, "password": DEMO_PASSWORD})
    assert response.status_code == 200, response.get_data(as_text=True)
    client.token = response.get_json()["token"]
    return client


def _cookie_only(app, source):
    """A fresh client holding a copy of the source client's session cookie, and no token."""
    copy = app.test_client()
    copy.set_cookie("session", source.get_cookie("session").value)
    copy.token = None
    return copy


def _token_only(app, token: str):
    """A fresh client with no cookie that sends this bearer token."""
    client = app.test_client()
    client.token = token
    return client


def _works(client) -> bool:
    headers = {"Authorization": f"Bearer {client.token}"} if client.token else {}
    return client.get("/api/v1/me/reports", headers=headers).status_code == 200


@pytest.fixture
def stale_admins(db):
    """The admins whose credentials go stale, for one test: removed after it (staff hear of every case)."""
    names = set(STALE.values())
    db.add_all(User(username=n, display_name=n, role="admin", password_hash=demo_password_hash()) for n in names)
    db.commit()
    yield names
    db.rollback()
    ids = sa.select(User.id).where(User.username.in_(names))
    db.execute(sa.delete(Notification).where(Notification.user_id.in_(ids)))
    db.execute(sa.delete(User).where(User.username.in_(names)))
    db.commit()


def _stale_clients(app, db, admin) -> dict:
    """One client per STALE credential: each is checked to work, then logged out, deactivated or aged."""
    api = _api_login(app, "stale-api")
    token_after_logout = _token_only(app, api.token)
    assert _works(token_after_logout)
    assert api.post("/api/v1/auth/logout", headers={"Authorization": f"Bearer {api.token}"}).status_code == 204

    page = app.test_client()
    assert page.post("/login", data={"username": "stale-page", "password": DEMO_PASSWORD}).status_code == 302
    copied = _cookie_only(app, page)
    assert _works(copied)
    assert page.post("/logout").status_code == 302

    gone = _api_login(app, "stale-gone")
    gone_token, gone_cookie = _token_only(app, gone.token), _cookie_only(app, gone)
    assert _works(gone_token) and _works(gone_cookie)
    deactivate = {"username": "stale-gone", "active": "0"}
    assert admin.post("/desk/users/active", data=deactivate).status_code == 303

    expired = _token_only(app, _api_login(app, "stale-old").token)
    assert _works(expired)
    days = app.extensions["snap"].settings.token_days
    db.execute(sa.update(User).where(User.username == "stale-old")
               .values(api_token_issued_at=utcnow() - timedelta(days=days, minutes=1)))
    db.commit()
    return {"token after API logout": token_after_logout, "cookie copied before page logout": copied,
            "token of a deactivated user": gone_token, "cookie of a deactivated user": gone_cookie,
            "expired token": expired}


@pytest.fixture
def scene(app, factory, db, stale_admins):
    """A case of rider1's dispatched to gw06 with a processed photo, a logged-in client for each person, and a
    client for each stale credential."""
    app.config["WTF_CSRF_ENABLED"] = False  # these tests are about who; CSRF has tests of its own
    case = factory.case_in(CaseState.DISPATCHED, seed=5)
    case_no, photo_id = case.case_no, case.photos[0].id
    clients = {}
    for who in WHO:
        client = app.test_client()
        if who != "anon":
            response = client.post("/api/v1/auth/login", json={"username": who, "password": DEMO_PASSWORD})
            client.token = response.get_json()["token"]
        clients[who] = client
    build_all_weekly_reports(db, Week(2026, 9), "Asia/Shanghai", utcnow())
    thumb_queries = {}  # the signed thumbnail link /api/v1/nearby hands each person
    for who, client in clients.items():
        if who != "anon":
            found = client.get("/api/v1/nearby" + QUERIES[("GET", "/api/v1/nearby")],
                               headers={"Authorization": f"Bearer {client.token}"}).get_json()["cases"]
            thumb_queries[who] = "?" + found[0]["thumb_url"].split("?", 1)[1]
    notification_id = db.scalar(sa.select(Notification.id).order_by(Notification.id).limit(1))  # gw06's order
    [published] = clients["anon"].get(f"/open311/v2/requests/{case_no}.json").get_json()
    return {"case_no": case_no, "photo_id": photo_id, "token": "not-a-real-invite", "notification_id": notification_id,
            "week": "2026-W09", "variant": "thumb", "clients": clients, "thumb_queries": thumb_queries,
            "fmt": "json", "code": "B0118", "anything": "nothing-here", "client_id": 999999,
            "redemption_id": 999999, "deed_id": 999999,
            "media_query": "?" + published["media_url"].split("?", 1)[1],
            "stale": _stale_clients(app, db, clients["admin"])}


def _url(rule: str, scene: dict) -> str:
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m: str(scene[m.group(1)]), rule)


def _url_of(method: str, rule: str, scene: dict, who: str) -> str:
    """The route's URL as this person would call it, with the query string they were handed."""
    query = QUERIES.get((method, rule), "")
    return _url(rule, scene) + (query(scene, who) if callable(query) else query)


def _refused(response, rule: str) -> bool:
    """401/403, or a page sending the visitor to log in (which is where logging out lands too); for a route naming
    a case (which exists), 404: a case someone may not see is answered as if there were none; and 404 for a page
    of the whole district's to anyone whose scope is less (SCOPED_PAGES)."""
    if response.status_code in (401, 403) or (response.status_code == 404 and "<case_no>" in rule) \
            or (response.status_code == 404 and rule.startswith(SCOPED_PAGES)):
        return True
    return rule != "/logout" and response.status_code in (302, 303) and \
        "/login" in response.headers.get("Location", "")


def _send(client, method: str, url: str, rule: str, headers: dict):
    """The route's request with its body; the answer read to the end (streamed answers finish here)."""
    body = BODIES.get((method, rule))
    if method == "GET":
        response = client.get(url, headers=headers)
    elif url.startswith("/api/") and body is not None:
        response = client.post(url, json=body, headers=headers)
    else:
        response = client.post(url, data=body or {}, headers=headers)
    response.text_read = response.get_data().decode(errors="replace")
    response.close()
    return response


@pytest.mark.parametrize("method, rule", sorted(MATRIX))
def test_each_person_is_allowed_or_refused_as_the_matrix_says(app, scene, method, rule):
    """Each person as the matrix says; each stale credential exactly as no credential at all."""
    answers = {}
    for who in WHO:
        url = _url_of(method, rule, scene, who)
        client = scene["clients"][who]
        headers = {"Authorization": f"Bearer {client.token}"} if who != "anon" and url.startswith("/api/") else {}
        response = answers[who] = _send(client, method, url, rule, headers)
        assert response.status_code < 500, (who, method, url, response.text_read[:300])
        allowed = who in MATRIX[(method, rule)]
        assert _refused(response, rule) != allowed, (who, method, url, response.status_code, response.text_read[:200])
    anon = answers["anon"]
    url = _url_of(method, rule, scene, "anon")
    for name, client in scene["stale"].items():
        headers = {"Authorization": f"Bearer {client.token}"} if client.token else {}
        response = _send(client, method, url, rule, headers)
        seen = (response.status_code, response.headers.get("Location"))
        assert seen == (anon.status_code, anon.headers.get("Location")), (name, method, url, response.text_read[:200])
        if "anon" not in MATRIX[(method, rule)]:  # 401 on the API, 403 on Open311 (no key), the login page for pages
            assert response.status_code == 401 if url.startswith("/api/") else response.status_code == 403 \
                if url.startswith("/open311/") else \
                (response.status_code == 302 and response.headers["Location"].startswith("/login")), (name, url)


def test_a_reporter_never_gets_another_reporters_photo_or_any_original(scene):
    case_no, photo_id = scene["case_no"], scene["photo_id"]
    other = scene["clients"]["rider2"]
    headers = {"Authorization": f"Bearer {other.token}"}
    for variant in ("web", "thumb"):
        assert other.get(f"/api/v1/reports/{case_no}/photos/{photo_id}/{variant}", headers=headers).status_code == 404
    owner = scene["clients"]["rider1"]
    headers = {"Authorization": f"Bearer {owner.token}"}
    assert owner.get(f"/api/v1/reports/{case_no}/photos/{photo_id}/original", headers=headers).status_code == 404
    detail = owner.get(f"/api/v1/reports/{case_no}", headers=headers).get_data(as_text=True)
    assert "originals/" not in detail and "13800000001" not in detail
