"""An Open311 request placed by its address_string through the geocoder the operator names (a Nominatim-compatible
service: here a fake one on loopback answering in GCJ-02, as Chinese services do), and refused when it cannot be."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from support import HONGQIAO, make_settings
from test_open311 import errors_of, json_of

from service import open311_intake
from service.geo import from_wgs84
from service.models import Case
from service.web import create_app

ADDRESS = "崇川区虹桥街道工农路 1 号"


class FakeNominatim(BaseHTTPRequestHandler):
    """Nominatim's /search, knowing one address, answering its point in GCJ-02, and Baidu's /geocoding/v3/
    answering it in BD-09 (with its status 0 and no result for an address it does not know); what it was asked
    is kept."""

    asked: list[dict] = []

    def do_GET(self):  # noqa: N802 (http.server's name)
        query = parse_qs(urlsplit(self.path).query)
        FakeNominatim.asked.append({"path": urlsplit(self.path).path, **{k: v[0] for k, v in query.items()}})
        if urlsplit(self.path).path == "/geocoding/v3/":
            lat, lon = from_wgs84(float(HONGQIAO["lat"]), float(HONGQIAO["lon"]), "bd09")
            known = query.get("address", [""])[0] == ADDRESS and query.get("ak") == ["baidu-ak"]
            found = {"status": 0, "result": {"location": {"lng": lon, "lat": lat}, "precise": 1, "level": "门址"}} \
                if known else {"status": 0, "result": []}
        else:
            lat, lon = from_wgs84(float(HONGQIAO["lat"]), float(HONGQIAO["lon"]), "gcj02")
            found = [{"lat": f"{lat:.7f}", "lon": f"{lon:.7f}", "display_name": ADDRESS, "place_id": 1}] \
                if query.get("q", [""])[0] == ADDRESS else []
        body = json.dumps(found).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def geocoder_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeNominatim)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    FakeNominatim.asked = []
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def _app_and_key(tmp_path, database_url, redis_url, name: str = "12345 热线", **settings):
    app = create_app(make_settings(tmp_path, database_url, redis_url, **settings))
    with app.extensions["snap"].db.session() as session:
        _, key = open311_intake.add_client(session, name)
    return app, key


def _post(client, key, address: str):
    return client.post("/open311/v2/requests.json", data={"api_key": key, "service_code": "B0118",
                                                          "address_string": address})


def test_an_address_is_placed_in_wgs84_from_a_gcj02_geocoder(settings, tmp_path, database_url, redis_url,
                                                              geocoder_url):
    app, key = _app_and_key(tmp_path, database_url, redis_url, open311_geocoder_url=geocoder_url,
                            open311_geocoder_coords="gcj02")
    response = _post(app.test_client(), key, ADDRESS)
    assert response.status_code == 201, response.data
    [answer] = json_of(response)
    with app.extensions["snap"].db.session() as session:
        case = session.scalar(sa.select(Case).where(Case.case_no == answer["service_request_id"]))
        assert (case.lat, case.lon) == pytest.approx((float(HONGQIAO["lat"]), float(HONGQIAO["lon"])), abs=2e-5)
        assert case.contact == {"address": ADDRESS}
    [asked] = FakeNominatim.asked
    assert asked["path"] == "/search" and asked["q"] == ADDRESS and asked["countrycodes"] == "cn"
    assert asked["bounded"] == "1" and asked["viewbox"]  # held to the district's box
    app.extensions["snap"].db.dispose()


def test_an_address_is_placed_in_wgs84_from_baidus_bd09_answer(settings, tmp_path, database_url, redis_url,
                                                                 geocoder_url):
    from config import Settings
    chosen = Settings.from_env(env={"OPEN311_GEOCODER": "baidu"}, secret_key="x")
    assert chosen.open311_geocoder_coords == "bd09"  # Baidu's answers are BD-09 unless said otherwise
    app, key = _app_and_key(tmp_path, database_url, redis_url, open311_geocoder_url=geocoder_url,
                            open311_geocoder="baidu", open311_geocoder_key="baidu-ak", open311_geocoder_coords="bd09")
    [answer] = json_of(_post(app.test_client(), key, ADDRESS))
    with app.extensions["snap"].db.session() as session:
        case = session.scalar(sa.select(Case).where(Case.case_no == answer["service_request_id"]))
        assert (case.lat, case.lon) == pytest.approx((float(HONGQIAO["lat"]), float(HONGQIAO["lon"])), abs=2e-5)
    [asked] = FakeNominatim.asked
    assert asked["path"] == "/geocoding/v3/" and asked["address"] == ADDRESS and asked["ak"] == "baidu-ak"
    errors_of(_post(app.test_client(), key, "无此地址"), 400, "json")
    app.extensions["snap"].db.dispose()


def test_an_address_the_geocoder_does_not_know_or_cannot_be_asked_about_is_a_400(settings, tmp_path, database_url,
                                                                                   redis_url, geocoder_url):
    app, key = _app_and_key(tmp_path, database_url, redis_url, open311_geocoder_url=geocoder_url)
    errors_of(_post(app.test_client(), key, "无此地址"), 400, "json")
    app.extensions["snap"].db.dispose()
    down, key = _app_and_key(tmp_path / "down", database_url, redis_url, "另一个客户端",
                             open311_geocoder_url="http://127.0.0.1:9")  # nothing listens there
    errors_of(_post(down.test_client(), key, ADDRESS), 400, "json")
    with down.extensions["snap"].db.session() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Case)) == 0
    down.extensions["snap"].db.dispose()
