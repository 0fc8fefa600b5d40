"""In-app notifications over the API: in Chinese and English, the unread count alone, one marked read; and the
account pages in the language the rider chose."""
from __future__ import annotations

from support import DEMO_PASSWORD, Browser, assert_refused

from service.states import CaseState


def test_a_closed_case_is_told_to_its_reporter_in_both_languages_and_opens(factory, make_api):
    case = factory.case_in(CaseState.CLOSED)  # 路灯, rider1's
    rider = make_api("rider1")
    assert rider.get("/api/v1/me/notifications/unread").get_json() == {"unread": 1}
    item = rider.get("/api/v1/me/notifications").get_json()["items"][0]
    assert (item["kind"], item["case_no"], item["case_visible"], item["read"]) == ("closed", case.case_no, True, False)
    assert item["text"] == {"zh": f"您上报的 {case.case_no} 路灯 已结案，感谢参与！",
                            "en": f"Your report {case.case_no} Street light is closed. Thank you!"}
    assert item["message"] == item["text"]["zh"]


def test_one_is_marked_read_by_its_reader_only(factory, make_api, rider):
    factory.case_in(CaseState.REJECTED)
    factory.case_in(CaseState.CLOSED)
    items = rider.get("/api/v1/me/notifications").get_json()["items"]
    assert [i["kind"] for i in items] == ["closed", "rejected"]  # newest first
    other = make_api("rider2")
    refused = other.client.post(f"/api/v1/me/notifications/{items[1]['id']}/read", headers=other.headers)
    assert_refused(refused, 404, "unknown_notification")
    assert_refused(other.client.post("/api/v1/me/notifications/99999999999/read", headers=other.headers), 404,
                   "unknown_notification")
    mine = rider.client.post(f"/api/v1/me/notifications/{items[1]['id']}/read", headers=rider.headers)
    assert mine.status_code == 200 and mine.get_json() == {"unread": 1}
    again = rider.client.post(f"/api/v1/me/notifications/{items[1]['id']}/read", headers=rider.headers)
    assert again.get_json() == {"unread": 1}
    listed = rider.get("/api/v1/me/notifications").get_json()
    assert [i["read"] for i in listed["items"]] == [False, True] and listed["unread"] == 1
    assert "不予立案：不予立案" in listed["items"][1]["text"]["zh"]
    assert listed["items"][1]["text"]["en"].startswith("Your report ") and "was not accepted" in \
        listed["items"][1]["text"]["en"]


def test_a_me_too_hears_of_the_close_but_the_case_is_its_reporters_to_open(factory, make_api):
    case = factory.case_in(CaseState.DISPATCHED)
    rider2 = make_api("rider2")
    joined = rider2.client.post(f"/api/v1/reports/{case.case_no}/me-too", headers=rider2.headers,
                                json={"lat": 32.015, "lon": 120.855, "accuracy_m": 10})
    assert joined.status_code in (200, 201), joined.get_json()
    factory.act(case, "start", by="gw06")
    factory.after_photo(case)
    factory.act(case, "resolve", by="gw06")
    factory.act(case, "close", note="已修复")
    items = rider2.get("/api/v1/me/notifications").get_json()["items"]
    told = [i for i in items if i["case_no"] == case.case_no]
    assert [(i["kind"], i["case_visible"]) for i in told] == [("closed", False)]


def test_the_password_page_speaks_the_language_the_rider_chose(app):
    rider = Browser(app.test_client())
    rider.login("rider1")
    rider.client.set_cookie("lang", "en")  # as the rider page's English keeps it
    page = rider.get("/account/password").get_data(as_text=True)
    assert '<html lang="en">' in page and "Change password" in page and "当前密码" not in page
    short = rider.post("/account/password", current=DEMO_PASSWORD, password="short", password2="short")
    assert short.status_code == 422 and "At least 8 characters" in short.get_data(as_text=True)
    rider.client.set_cookie("lang", "zh")
    assert "当前密码" in rider.get("/account/password").get_data(as_text=True)
