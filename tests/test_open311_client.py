"""An Open311 client written by others — georeport (PyPI) — reading our server over HTTP in both formats: the
service list, a service's definition, the requests list with its filters, and one request."""
from __future__ import annotations

import pytest
import requests
from browser_support import live_server, wire  # noqa: F401 (fixtures)
from georeport import GeoReport

from service.states import CaseState


def _listed(found, key: str) -> list[dict]:
    """georeport's XML answers hold one element as a dict and several as a list: as a list either way."""
    items = found.get(key, []) if isinstance(found, dict) and key in found else found
    return [items] if isinstance(items, dict) else list(items or [])


@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_georeport_reads_services_definitions_and_requests(live_server, factory, fmt):  # noqa: F811
    dispatched = factory.case_in(CaseState.DISPATCHED, description="路灯不亮")
    closed = factory.case_in(CaseState.CLOSED, category="B0101")
    client = GeoReport(f"{live_server}/open311/v2", jurisdiction="chongchuan", output_format=fmt)

    services = _listed(client.get_service_list(), "service")
    assert "B0118" in {s["service_code"] for s in services}
    definition = client.get_service_definition("B0118")
    attributes = _listed(definition["attributes"], "attribute")
    assert [a["code"] for a in attributes] == ["coord_system", "client_report_id"]

    everything = _listed(client.get_service_requests(), "request")
    assert [r["service_request_id"] for r in everything] == [closed.case_no, dispatched.case_no]
    lamps = _listed(client.get_service_requests(service_code="B0118", status="open"), "request")
    assert [r["service_request_id"] for r in lamps] == [dispatched.case_no]
    found = client.get_service_request(dispatched.case_no)
    one = _listed(found, "request")[0] if fmt == "xml" else found
    assert one["service_request_id"] == dispatched.case_no and one["description"] == "路灯不亮"
    assert one["status"] == "open" and float(one["lat"]) == pytest.approx(dispatched.lat)

    with pytest.raises(requests.HTTPError) as refused:
        client.get_service_definition("NOPE")
    assert refused.value.response.status_code == 404
