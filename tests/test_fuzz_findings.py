"""What the fuzzers (make fuzz) found, each kept from coming back: a clear 4xx where a 500 or the wrong 4xx was."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from service.geo import to_wgs84
from service.models import Category, User


@pytest.mark.parametrize("system", ["gcj02", "bd09"])
@pytest.mark.parametrize("lat, lon", [(-90, -180), (90, 180), (0, 0), (-90, 120.8)])
def test_a_point_far_outside_china_is_taken_as_sent_in_either_chinese_system(system, lat, lon):
    assert to_wgs84(lat, lon, system) == (lat, lon)


def test_a_point_at_the_pole_sent_in_gcj02_is_answered_not_500(rider):
    nearby = rider.get("/api/v1/nearby?lat=-90&lon=-180&category=B0118&coord_system=gcj02")
    assert nearby.status_code == 200 and nearby.get_json() == {"cases": []}
    report = rider.report(lat="-90", lon="-180", coord_system="bd09")
    assert report.status_code == 422 and report.get_json()["error"]["code"] == "outside_service_area"


def test_nearby_with_an_unknown_category_is_422_naming_it(rider):
    response = rider.get("/api/v1/nearby?lat=32.015&lon=120.855&category=Z9999")
    assert response.status_code == 422
    assert response.get_json()["error"] | {"message": None} == {"code": "unknown_category", "field": "category",
                                                                  "message": None}


@pytest.mark.parametrize("method, path, allowed", [("POST", "/healthz", "GET"), ("PUT", "/api/v1/reports", "POST"),
                                                   ("TRACE", "/api/v1/reports?x=%00", "POST"),
                                                   ("DELETE", "/healthz?q=a%00", "GET")])
def test_a_method_a_route_does_not_take_is_405_with_allow_even_without_csrf_or_with_a_nul(client, method, path,
                                                                                          allowed):
    response = client.open(path, method=method)
    assert response.status_code == 405, response.get_data(as_text=True)
    assert response.get_json()["error"]["code"] == "method_not_allowed" and allowed in response.headers["Allow"]


def test_a_page_posted_to_where_only_get_is_served_is_405_for_a_logged_in_person(client):
    page = client.get("/login")
    token = page.get_data(as_text=True).split('name="csrf_token" value="')[1].split('"')[0]
    client.post("/login", data={"csrf_token": token, "username": "staff1", "password": "demo-pass-123"})
    assert client.post("/desk/map").status_code == 405  # no CSRF token: still the method, not a stale page


def test_the_api_document_carries_this_servers_limits_categories_and_area(client, app, db):
    settings = app.extensions["snap"].settings
    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    assert schemas["Photos"]["maxItems"] == settings.max_photos
    assert schemas["Photos"]["items"]["maxLength"] == settings.max_photo_mb * 1024 * 1024
    active = db.scalars(sa.select(Category.code).where(Category.active.is_(True)).order_by(Category.code)).all()
    assert schemas["CategoryCode"]["enum"] == active and "B0118" in active
    # the box around the district's communities
    assert (schemas["AreaLatitude"]["minimum"], schemas["AreaLatitude"]["maximum"]) == (31.955, 32.048)
    assert (schemas["AreaLongitude"]["minimum"], schemas["AreaLongitude"]["maximum"]) == (120.84, 120.945)


def test_every_operation_documents_its_client_errors_in_the_error_shape(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            statuses = set(operation["responses"])
            assert "400" in statuses, (method, path)  # a NUL anywhere is 400
            if operation.get("security", doc["security"]):
                assert "401" in statuses, (method, path)
            for status, answer in operation["responses"].items():
                if status.startswith("4") or status == "503" and path != "/healthz":
                    assert answer["$ref"].startswith("#/components/responses/"), (method, path, status)


def _admin_page(client):
    """A client logged in as admin through the login form, and its CSRF token."""
    def token(path):
        return client.get(path).get_data(as_text=True).split('name="csrf_token" value="')[1].split('"')[0]
    client.post("/login", data={"csrf_token": token("/login"), "username": "admin", "password": "demo-pass-123"})
    return token("/desk/users")


@pytest.mark.parametrize("field, value, reason", [("username", "u" * 65, "用户名须为 1 到 64 个字符"),
                                                  ("display_name", "长" * 101, "display_name 不能超过"),
                                                  ("phone", "1" * 21, "phone 不能超过")])
def test_a_person_added_with_a_name_or_phone_too_long_for_its_column_is_refused_on_the_page(client, db, field, value,
                                                                                            reason):
    fields = {"username": "newperson", "role": "reporter", "password": "long-enough-1",
              "display_name": "新人", "phone": "13800000000", field: value}
    answer = client.post("/desk/users/add", data={"csrf_token": _admin_page(client), **fields})
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/desk/users")
    assert reason in client.get("/desk/users").get_data(as_text=True)
    assert db.scalar(sa.select(sa.func.count()).select_from(User).where(User.role == "reporter",
                                                                        User.username.like("%newperson%"))) == 0
    assert db.scalar(sa.select(sa.func.count()).select_from(User).where(User.username == value)) == 0


@pytest.mark.parametrize("field, value", [("display_name", "长" * 101), ("phone", "1" * 21)])
def test_an_invitation_with_a_name_or_phone_too_long_is_refused_with_the_reason(client, db, field, value):
    fields = {"display_name": "骑手", "phone": "13800000000", "username": "invited1", field: value}
    answer = client.post("/desk/invites", data={"csrf_token": _admin_page(client), **fields})
    assert answer.status_code == 200 and f"{field} 不能超过" in answer.get_data(as_text=True)
    assert db.scalar(sa.select(User).where(User.username == "invited1")) is None


@pytest.mark.parametrize("before", ["2147483648", "9223372036854775807"])
def test_a_page_cursor_past_any_row_id_is_400_not_500_on_postgresql(rider, before):
    response = rider.get(f"/api/v1/me/reports?before={before}")
    assert response.status_code == 400 and response.get_json()["error"]["field"] == "before"


def test_the_last_possible_row_id_is_a_fine_cursor(rider):
    assert rider.get("/api/v1/me/reports?before=2147483647").status_code == 200
