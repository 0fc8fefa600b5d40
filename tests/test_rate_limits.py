"""Rate limits on report intake and login: per rider, per address, from the settings, answered 429 in JSON."""
from __future__ import annotations

import sqlalchemy as sa
from images import photo_jpeg
from support import DEMO_PASSWORD, Api, make_settings, originals_on_disk

from service.models import Case
from service.web import create_app


def _app(tmp_path, settings, **limits):
    app = create_app(make_settings(tmp_path, settings.database_url, settings.redis_url, **limits))
    app.config["TESTING"] = True
    return app


def _rider(app, username: str, address: str = "10.1.1.1") -> Api:
    api = Api(app.test_client())
    api.client.environ_base["REMOTE_ADDR"] = address
    assert api.login(username).status_code == 200
    return api


def _case_count(app) -> int:
    with app.extensions["snap"].db.session() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(Case))


def test_a_rider_over_the_intake_limit_gets_429_and_nothing_is_kept(tmp_path, settings):
    app = _app(tmp_path, settings, intake_limit_per_user="2 per minute")
    rider1, rider2 = _rider(app, "rider1"), _rider(app, "rider2")
    codes = [rider1.report(photos=[photo_jpeg(seed=i)]).status_code for i in range(3)]
    assert codes == [201, 201, 429]
    refused = rider1.report(photos=[photo_jpeg(seed=7)])
    assert refused.status_code == 429 and 0 < int(refused.headers["Retry-After"]) <= 60
    assert refused.get_json()["error"]["code"] == "too_many_requests"
    assert "操作过于频繁" in refused.get_json()["error"]["message"]
    assert _case_count(app) == 2 and len(originals_on_disk(app.extensions["snap"].settings)) == 2
    # another rider on the same address is not held back by rider1's count
    assert rider2.report(photos=[photo_jpeg(seed=8)]).status_code == 201


def test_one_address_over_its_limit_is_slowed_down_whoever_sends(tmp_path, settings):
    app = _app(tmp_path, settings, intake_limit_per_address="3 per minute")
    riders = [_rider(app, name) for name in ("rider1", "rider2", "gw01", "gw02")]
    codes = [api.report(photos=[photo_jpeg(seed=i)]).status_code for i, api in enumerate(riders)]
    assert codes == [201, 201, 201, 429]
    # from another address the same rider is served
    elsewhere = _rider(app, "gw02", address="10.2.2.2")
    assert elsewhere.report(photos=[photo_jpeg(seed=9)]).status_code == 201


def test_behind_a_trusted_proxy_the_limit_counts_the_forwarded_address(tmp_path, settings):
    app = _app(tmp_path, settings, intake_limit_per_address="1 per minute", trusted_proxies=1)
    codes = []
    for i, (name, phone) in enumerate([("rider1", "100.64.0.1"), ("rider2", "100.64.0.2"), ("gw01", "100.64.0.2")]):
        api = _rider(app, name, address="127.0.0.1")  # every request arrives from the proxy
        api.client.environ_base["HTTP_X_FORWARDED_FOR"] = phone
        codes.append(api.report(photos=[photo_jpeg(seed=i)]).status_code)
    assert codes == [201, 201, 429]


def test_login_failure_limits_come_from_the_settings(tmp_path, settings):
    app = _app(tmp_path, settings, login_limit_per_account="2 per minute")
    client = app.test_client()
    codes = [client.post("/api/v1/auth/login", json={"username": "staff1", "password": "nope"}).status_code
             for _ in range(3)]
    assert codes == [401, 401, 429]
    good = client.post("/api/v1/auth/login", json={"username": "admin", "password": DEMO_PASSWORD})
    assert good.status_code == 200


def test_every_spelling_of_a_username_shares_one_lockout(tmp_path, settings):
    app = _app(tmp_path, settings, login_limit_per_account="5 per minute")
    client = app.test_client()
    spellings = ["rider2", " rider2", "rider2 ", "\trider2", "\u3000rider2", "rider2\u00a0", "ｒｉｄｅｒ２",
                 "rider2\u200b"]
    codes = [client.post("/api/v1/auth/login", json={"username": name, "password": "wrong"}).status_code
             for name in spellings]
    assert codes == [401] * 5 + [429] * 3
    # locked: the right password, however the name is typed, on the API or the page
    for name in ("rider2", " rider2 ", "\u3000rider2"):
        right = client.post("/api/v1/auth/login", json={"username": name, "password": DEMO_PASSWORD})
        assert right.status_code == 429 and "token" not in right.get_json()
    app.config["WTF_CSRF_ENABLED"] = False
    page = app.test_client().post("/login", data={"username": "rider2 ", "password": DEMO_PASSWORD})
    assert page.status_code == 429 and 0 < int(page.headers["Retry-After"]) <= 60
    # the login form again, in the page's words (the language chosen): when to come back, the name as typed
    words = page.get_data(as_text=True)
    assert "密码错误次数过多，请 1 分钟后再试" in words and "too many" not in words
    assert 'name="password"' in words and 'value="rider2 "' in words
    in_english = app.test_client()
    in_english.set_cookie("lang", "en")
    words = in_english.post("/login", data={"username": "rider2", "password": DEMO_PASSWORD}).get_data(as_text=True)
    assert "Too many wrong passwords: try again in 1 min" in words and "密码错误" not in words
    # another account is not held back
    assert client.post("/api/v1/auth/login", json={"username": "rider1", "password": DEMO_PASSWORD}).status_code == 200


def test_a_username_typed_with_spaces_logs_in_to_its_account(client):
    response = client.post("/api/v1/auth/login", json={"username": "\u3000ｒｉｄｅｒ１\t", "password": DEMO_PASSWORD})
    assert response.status_code == 200 and response.get_json()["user"]["username"] == "rider1"


def test_the_intake_limit_counts_the_rider_whatever_the_credential(tmp_path, settings):
    app = _app(tmp_path, settings, intake_limit_per_user="3 per minute")
    app.config["WTF_CSRF_ENABLED"] = False  # the cookie's reports: this test is about the count
    rider = _rider(app, "rider1")
    assert rider.report(photos=[photo_jpeg(seed=1)]).status_code == 201  # by token
    token = rider.token
    rider.token = None
    assert rider.report(photos=[photo_jpeg(seed=2)]).status_code == 201  # by the session cookie
    assert _rider(app, "rider1").report(photos=[photo_jpeg(seed=3)]).status_code == 201  # a new login's token
    rider.token = token
    over = [rider.report(photos=[photo_jpeg(seed=4)]).status_code]
    rider.token = None
    over.append(rider.report(photos=[photo_jpeg(seed=5)]).status_code)
    over.append(_rider(app, "rider1").report(photos=[photo_jpeg(seed=6)]).status_code)
    assert over == [429, 429, 429]
    assert _case_count(app) == 3


def test_a_forged_token_naming_another_rider_does_not_use_up_their_limit(tmp_path, settings, db):
    from service.models import User

    app = _app(tmp_path, settings, intake_limit_per_user="2 per minute")
    victim = _rider(app, "rider2")
    uid = db.scalar(sa.select(User.id).where(User.username == "rider2"))
    forger = Api(app.test_client())
    forger.client.environ_base["REMOTE_ADDR"] = "10.9.9.9"
    forger.token = f"{uid}.{'x' * 43}.forged-signature"
    # counted by the forger's address (and slowed down there), not against rider2
    assert [forger.report().status_code for _ in range(3)] == [401, 401, 429]
    assert victim.report(photos=[photo_jpeg(seed=11)]).status_code == 201


def test_a_rider_asking_about_point_after_point_nearby_gets_429(tmp_path, settings):
    app = _app(tmp_path, settings, nearby_limit_per_user="3 per minute")
    rider, other = _rider(app, "rider1"), _rider(app, "rider2")
    points = [(32.015 + i / 1000, 120.855) for i in range(4)]
    answers = [rider.get(f"/api/v1/nearby?lat={lat}&lon={lon}&category=B0118").status_code for lat, lon in points]
    assert answers == [200, 200, 200, 429]  # the fourth sweep step is refused, whichever point it names
    assert other.get("/api/v1/nearby?lat=32.015&lon=120.855&category=B0118").status_code == 200  # per rider
