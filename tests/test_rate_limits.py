"""Rate limits on report intake and login: per rider, per address, from the settings, answered 429 in JSON."""
from __future__ import annotations

import sqlalchemy as sa

from conftest import Api, DEMO_PASSWORD, make_settings, originals_on_disk
from images import photo_jpeg
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
