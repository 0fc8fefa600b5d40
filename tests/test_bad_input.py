"""Bad input: a clear JSON error with the right status, and nothing stored — never a 500."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from images import decompression_bomb, encode, noisy_jpeg, photo_jpeg, truncated_jpeg
from support import Api, assert_refused, make_settings, originals_on_disk

from service.models import Case, CaseCounter
from service.web import create_app


def assert_nothing_stored(db, settings):
    assert db.scalar(sa.select(sa.func.count()).select_from(Case)) == 0
    assert db.scalar(sa.select(sa.func.count()).select_from(CaseCounter)) == 0
    assert originals_on_disk(settings) == []


@pytest.mark.parametrize("photo, name, code", [
    (truncated_jpeg(), "cut.jpg", "broken_image"),
    (b"this is a text file, not a photo\n" * 20, "notes.jpg", "not_an_image"),
    (b"", "empty.jpg", "not_an_image"),
    (decompression_bomb(), "bomb.png", "image_too_large"),
    (encode("GIF"), "anim.gif", "not_an_image"),
    (b"%PDF-1.4\n" + b"0" * 2000, "scan.jpg", "not_an_image"),
], ids=["truncated-jpeg", "text-named-jpg", "zero-bytes", "decompression-bomb", "gif", "pdf"])
def test_a_file_that_is_not_an_accepted_image_is_415(rider, db, settings, photo, name, code):
    assert_refused(rider.report(photos=[photo_jpeg(), (photo, name)]), 415, code, "photo")
    assert_nothing_stored(db, settings)


def _with_comment(jpeg: bytes, comment: bytes) -> bytes:
    """The JPEG with a comment segment right after its start-of-image marker."""
    return jpeg[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + jpeg[2:]


def test_a_jpeg_cut_just_before_its_end_is_refused_even_with_a_whole_jpeg_inside_its_header(rider, db, settings):
    # phones put a whole thumbnail JPEG (with its own end marker) in the header; that must not pass for the end
    inner = photo_jpeg(160, 120, seed=4)
    cut = _with_comment(photo_jpeg(seed=5), inner)[:-2]
    assert_refused(rider.report(photos=[(cut, "cut.jpg")]), 415, "broken_image", "photo")
    assert_nothing_stored(db, settings)


def test_a_jpeg_with_data_after_its_end_is_taken(rider):
    # a motion photo: the video follows the picture's end-of-image marker
    motion = photo_jpeg(seed=6) + b"\x00\x00\x00\x18ftypmp42" + bytes(1_500_000)
    assert rider.report(photos=[(motion, "MVIMG.jpg")]).status_code == 201


@pytest.mark.parametrize("fields, code, field", [
    ({"lat": "91", "lon": "120.86"}, "location_out_of_range", "lat"),
    ({"lat": "32.01", "lon": "-181"}, "location_out_of_range", "lat"),
    ({"lat": "nan", "lon": "120.86"}, "invalid_number", "lat"),
    ({"lat": "32.01", "lon": "inf"}, "invalid_number", "lon"),
    ({"lat": "北纬32度", "lon": "120.86"}, "invalid_number", "lat"),
    ({"lat": "39.9087", "lon": "116.3975"}, "outside_service_area", "lat"),  # Beijing
    ({"lat": "32.01", "lon": None}, "incomplete_location", "lon"),
    ({"coord_system": "utm"}, "unknown_coord_system", "coord_system"),
    ({"category": "X9999"}, "unknown_category", "category"),
    ({"category": None}, "missing_category", "category"),
    ({"description": "很" * 1001}, "description_too_long", "description"),
    ({"accuracy_m": "-5"}, "invalid_number", "accuracy_m"),
    ({"client_report_id": "x" * 65}, "invalid_client_report_id", "client_report_id"),
])
def test_bad_fields_are_422(rider, db, settings, fields, code, field):
    assert_refused(rider.report(**fields), 422, code, field)
    assert_nothing_stored(db, settings)


def test_a_description_of_exactly_1000_characters_is_fine(rider):
    assert rider.report(description="好" * 1000).status_code == 201


def test_no_photo_is_400(rider, db, settings):
    assert_refused(rider.report(photos=[]), 400, "missing_photo", "photo")
    assert_nothing_stored(db, settings)


def test_a_json_body_instead_of_a_form_is_400(rider):
    response = rider.client.post("/api/v1/reports", json={"lat": 32.0}, headers=rider.headers)
    assert_refused(response, 400, "bad_request")


def test_a_malformed_multipart_body_is_400_not_500(rider, db, settings):
    response = rider.client.post("/api/v1/reports", data=b"--xyz\r\nContent-Disposition: form-da",
                                 headers={**rider.headers, "Content-Type": "multipart/form-data; boundary=xyz"})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] in ("bad_request", "missing_photo")
    assert_nothing_stored(db, settings)


def test_too_many_photos_is_413(rider, db, settings):
    assert_refused(rider.report(photos=[photo_jpeg(seed=i) for i in range(5)]), 413, "too_many_photos", "photo")
    assert_nothing_stored(db, settings)


def test_a_photo_over_max_photo_mb_is_413(tmp_path, database_url, redis_url, settings):
    small_limit = make_settings(tmp_path, database_url, redis_url, max_photo_mb=1)
    app = create_app(small_limit)
    api = Api(app.test_client())
    api.login("rider1")
    big = noisy_jpeg(800, 700)  # about 1.2 MB of real JPEG
    assert len(big) > 1024 * 1024
    assert_refused(api.report(photos=[big]), 413, "photo_too_large", "photo")
    with app.extensions["snap"].db.session() as db:
        assert_nothing_stored(db, small_limit)
    app.extensions["snap"].db.dispose()


def test_a_body_over_the_whole_limit_is_413_before_it_is_read(rider, app):
    limit = app.config["MAX_CONTENT_LENGTH"]
    response = rider.client.post("/api/v1/reports", data=b"x" * (limit + 1), headers={
        **rider.headers, "Content-Type": "multipart/form-data; boundary=b"})
    assert_refused(response, 413, "request_too_large")


def test_not_logged_in_is_401(client, db, settings):
    assert_refused(Api(client).report(), 401, "not_logged_in")
    assert_nothing_stored(db, settings)


def test_an_unknown_case_is_404(rider):
    assert_refused(rider.get("/api/v1/reports/20260101-9999"), 404, "unknown_case")


def test_bad_paging_is_400(rider):
    assert_refused(rider.get("/api/v1/me/reports?limit=abc"), 400, "bad_request", "limit")
    assert_refused(rider.get("/api/v1/me/reports?limit=1000"), 400, "bad_request", "limit")


def test_a_wrong_method_is_405_json(rider):
    response = rider.client.delete("/api/v1/reports", headers=rider.headers)
    assert_refused(response, 405, "method_not_allowed")


@pytest.mark.parametrize("send", [
    lambda api: api.report(category="B01\x00"),
    lambda api: api.report(description="井盖\x00缺失"),
    lambda api: api.report(photos=[(photo_jpeg(), "a\x00.jpg")]),
    lambda api: api.client.post("/api/v1/auth/login", json={"username": "rider\x001", "password": "x"}),
    lambda api: api.get("/api/v1/reports/2026\x00"),
    lambda api: api.get("/api/v1/me/reports?before=99999999999999999999999"),
    lambda api: api.get("/api/v1/me/reports?before=-1"),
    lambda api: api.get("/api/v1/reports/" + "9" * 5000),
    lambda api: api.get("/api/v1/reports/x/photos/99999999999999999999999/web"),
    lambda api: api.get("/api/v1/reports/x/photos/1/original"),
    lambda api: api.report(lat="1e309", lon="120.8"),
    lambda api: api.report(lat="  ", lon="  "),
    lambda api: api.client.get("/api/v1/me/reports", headers={"Authorization": "Bearer \u4e2d\u6587"}),
    lambda api: api.client.post("/api/v1/auth/login", data=b"\xff\xfe{", content_type="application/json"),
], ids=["nul-category", "nul-description", "nul-filename", "nul-username", "nul-path", "huge-cursor",
        "negative-cursor", "long-case-no", "huge-photo-id", "original-variant", "overflow-lat", "blank-location",
        "unicode-token", "invalid-utf8-json"])
def test_hostile_input_gets_a_client_error_never_a_500(rider, db, settings, send):
    response = send(rider)
    assert 200 <= response.status_code < 500, response.get_data(as_text=True)
    if response.status_code >= 400:
        assert response.get_json()["error"]["code"]
