"""GET /api/v1/community: the categories as a client shows them (English names, icons, colours, my use), this
server's photo limits, the service area and the time zone; for anyone logged in, and described by the API document."""
from __future__ import annotations

import json

import sqlalchemy as sa
from images import photo_jpeg

from service.models import Category


def test_the_community_lists_each_category_as_shown_with_the_limits_area_and_zone(rider, app, db):
    assert rider.report(photos=[photo_jpeg(seed=5)], category="B0118").status_code == 201
    answer = rider.get("/api/v1/community")
    assert answer.status_code == 200
    community = answer.get_json()
    settings = app.extensions["snap"].settings

    file = json.loads(settings.categories_file.read_text(encoding="utf-8"))
    active = db.scalars(sa.select(Category.code).where(Category.active.is_(True))).all()
    assert sorted(c["code"] for c in community["categories"]) == sorted(active)
    light = next(c for c in community["categories"] if c["code"] == "B0118")
    assert light | {"used": None} == {"code": "B0118", "name": "路灯", "name_en": "Street light", "kind": "部件",
                                      "icon": "💡", "glyph": "灯", "colour": "#0b4fa3", "used": None}
    assert light["used"] == 1
    # every category of the file carries its look as data: none falls back to its Chinese name or a blank icon
    for row in file["categories"]:
        assert row["name_en"] and row["icon"] and len(row["glyph"]) == 1, row
        assert row["major_class"] in file["major_classes"], row
    assert [c["kind"] for c in community["categories"]] == sorted(c["kind"] for c in community["categories"])

    assert (community["max_photos"], community["max_photo_bytes"]) == (settings.max_photos,
                                                                        settings.max_photo_mb * 1024 * 1024)
    # the box around the district's communities (config/district/), and its centre
    assert community["area"] == {"south": 31.955, "north": 32.048, "west": 120.84, "east": 120.945,
                                 "centre": {"lat": (31.955 + 32.048) / 2, "lon": (120.84 + 120.945) / 2}}
    assert community["timezone"] == settings.timezone == "Asia/Shanghai"
    # the district's communities, as the public list gives them: what the rider's map draws and names
    assert community["communities"] == app.test_client().get("/api/v1/communities").get_json()
    assert {c["name"] for c in community["communities"]} >= {"虹桥社区", "新胜社区", "军山社区", "起凤社区"}


def test_the_community_is_for_people_logged_in_and_answers_a_second_ask_with_304(app, rider):
    refused = app.test_client().get("/api/v1/community")
    assert refused.status_code == 401 and refused.get_json()["error"]["code"] == "not_logged_in"
    first = rider.get("/api/v1/community")
    again = rider.client.get("/api/v1/community", headers={**rider.headers, "If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304, "the rider's phone asks on every visit: unchanged, it costs a few bytes"


def test_the_api_document_describes_the_community_answer_exactly(client, rider):
    doc = client.get("/api/v1/openapi.json").get_json()
    operation = doc["paths"]["/api/v1/community"]["get"]
    assert {s: operation["responses"][s]["$ref"] for s in ("400", "401", "503")} == {
        "400": "#/components/responses/Error", "401": "#/components/responses/NotLoggedIn",
        "503": "#/components/responses/Unavailable"}
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    community = rider.get("/api/v1/community").get_json()

    def keys_match(schema: dict, value) -> None:
        """Every object in the answer has exactly the properties its schema lists (additionalProperties false)."""
        if "$ref" in schema or not isinstance(value, (dict, list)):
            return
        if isinstance(value, list):
            for item in value:
                keys_match(schema["items"], item)
            return
        assert schema["additionalProperties"] is False
        assert set(value) == set(schema["properties"]) == set(schema["required"]), (set(value), schema["required"])
        for name, item in value.items():
            keys_match(schema["properties"][name], item)

    keys_match(schema, community)
