"""What the service says of events and in notifications, in Chinese and English, made from the facts kept."""
from __future__ import annotations

from service.event_words import Reading, event_line, event_lines, notification_text, notification_texts
from service.states import CaseState

READING = Reading("Asia/Shanghai", {"B0118": "Street light"})


def test_an_event_is_said_from_its_facts_in_either_language():
    facts = {"grid": "虹桥六网格", "distance_m": 22.4}
    assert event_lines("dispatch", facts, "", READING) == {
        "zh": "派遣至虹桥六网格（距网格边界 22 m）", "en": "Dispatched to 虹桥六网格 (22 m from its boundary)"}
    assert event_line("dispatch", {"grid": "虹桥六网格", "distance_m": None}, "", "en", READING) == \
        "Dispatched to 虹桥六网格"
    assert event_lines(CaseState.UNROUTED, {"why": "outside_grids"}, "", READING) == {
        "zh": "位置不在本社区任何网格内，待人工派遣",
        "en": "In none of the community's grids: awaiting dispatch by hand"}
    dup = {"original": "20261201-0001", "distance_m": 20.2, "hash_distance": 3}
    assert event_line(CaseState.DUPLICATE, dup, "", "zh", READING) == \
        "与 20261201-0001 为同一问题（相距 20 m，照片相似度差 3 位），已记为“我也遇到”"
    assert event_line(CaseState.DUPLICATE, dup, "", "en", READING) == \
        "The same problem as 20261201-0001 (20 m apart, photos 3 bits apart): counted as “me too”"


def test_the_note_a_person_typed_follows_the_sentence_and_old_rows_keep_their_sentence():
    assert event_lines("start", {}, "", READING) == {"zh": "开始处置", "en": "Work started"}
    assert event_lines("close", {}, "现场核查已修复", READING) == {"zh": "现场核查已修复", "en": "现场核查已修复"}
    assert event_line("rework", {}, "灯仍不亮", "en", READING) == "Failed the check: to be reworked: 灯仍不亮"
    extend = {"was": None, "until": "2099-01-01T10:00:00+00:00"}
    assert event_line("extend", extend, "等待配件", "zh", READING) == "期限由 无 延至 2099-01-01 18:00：等待配件"
    assert event_line("unmerge", {"original": None}, "", "en", READING) == "Merge undone"
    # written before events kept facts: the stored sentence, in every language
    old = "派遣至虹桥六网格"
    assert event_lines("dispatch", None, old, READING) == {"zh": old, "en": old}


def test_a_notification_is_said_from_its_kind_and_facts():
    facts = {"case_no": "20261201-0002", "category": "B0118", "category_name": "路灯", "grid": "虹桥六网格",
             "deadline": "2026-12-04T02:00:00+00:00", "assignee": "王六"}
    assert notification_texts("work_order", facts, "", READING) == {
        "zh": "【随手拍】新工单 20261201-0002 路灯 · 虹桥六网格 · 期限 2026-12-04 10:00 · 指派 王六",
        "en": "New work order 20261201-0002 Street light · 虹桥六网格 · due 2026-12-04 10:00 · assigned to 王六"}
    closed = {"case_no": "20261201-0002", "category": "C9999", "category_name": "楼道堆物"}
    assert notification_text(CaseState.CLOSED, closed, "", "en", READING) == \
        "Your report 20261201-0002 楼道堆物 is closed. Thank you!"  # no English name: its Chinese one
    assert notification_text("processing_error", {"case_no": "X", "why": "photo_unreadable"}, "", "en", READING) \
        == "X: its photo cannot be processed, please look at it"
    assert notification_text("work_order", None, "旧的消息", "en", READING) == "旧的消息"
