"""The OpenAPI document describes every API route, and only those."""
from __future__ import annotations

import re


def _flask_routes(app) -> set[tuple[str, str]]:
    """(path in OpenAPI form, method) of every API route the app serves."""
    routes = set()
    for rule in app.url_map.iter_rules():
        if not (rule.rule.startswith("/api/") or rule.rule == "/healthz"):
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        routes |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    return routes


def test_every_api_route_is_documented_and_every_documented_route_exists(client, app):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert documented == _flask_routes(app)


def test_every_reference_in_the_document_resolves(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    refs = re.findall(r'"\$ref": "#/([^"]+)"', __import__("json").dumps(doc))
    assert refs
    for ref in refs:
        node = doc
        for part in ref.split("/"):
            node = node[part]


def test_a_visitor_at_the_front_page_is_asked_to_log_in(client):
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert "随手拍" in client.get(response.headers["Location"]).get_data(as_text=True)
