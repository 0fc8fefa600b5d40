"""What the service says, in Chinese and English: a case event's sentence (from its action and facts) and a
notification's text (from its kind and facts), made when it is read, in the reader's language."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from service.local_time import local_time
from service.states import CaseState as S

LANGUAGES = ("zh", "en")


@dataclass(frozen=True)
class Reading:
    """How facts are read out: the community's time zone, and the categories' English names by code (a category
    with none keeps its Chinese name, as grids and people keep theirs)."""

    timezone: str = "Asia/Shanghai"
    category_en: Mapping[str, str] = field(default_factory=dict)


# The words that fill in facts, in each language.
WHY_UNROUTED = {"no_location": ("无位置信息", "No location"),
                "outside_grids": ("位置不在本社区任何网格内", "In none of the community's grids"),
                "outside_district": ("位置不在本区任何社区内", "Outside every community of the district")}
WHY_UNPROCESSED = {"photo_unreadable": ("照片无法处理", "its photo cannot be processed"),
                   "not_processed": ("多次处理未完成", "not processed after several attempts")}
NONE = ("无", "none")
# why an assignee sends a case back (退回), declared once: counted per reason, since cities judge dispatch by them
SEND_BACK_REASONS = {"not_ours": ("不属本单位职责", "Not ours to fix"),
                     "wrong_location": ("位置不准", "Wrong location"),
                     "incomplete": ("信息不全", "Incomplete information"),
                     "duplicate": ("重复", "A duplicate")}  # not a state: a reason's code

# An event's sentence by its action: (中文, English). An action missing here says nothing of its own (the state's
# label and the note a person typed tell it all). `{distance}`, `{photo_gap}` and `{why}` are made from the facts.
EVENT_WORDS: dict[str, tuple[str, str]] = {
    "report": ("上报", "Reported"),
    "dispatch": ("派遣至{grid}{distance}", "Dispatched to {grid}{distance}"),
    S.UNROUTED: ("{why}，待人工派遣", "{why}: awaiting dispatch by hand"),
    S.DUPLICATE: ("与 {original} 为同一问题{photo_gap}，已记为“我也遇到”",
                  "The same problem as {original}{photo_gap}: counted as “me too”"),
    "merge": ("与 {original} 重复", "A duplicate of {original}"),
    "unmerge": ("撤销合并（原记为 {original} 的重复）", "Merge undone (it was a duplicate of {original})"),
    "assign": ("派遣给{to}", "Assigned to {to}"),
    "start": ("开始处置", "Work started"),
    "resolve": ("处置完成", "Fixed"),
    "rework": ("核查未通过，需返工", "Failed the check: to be reworked"),
    "reopen": ("重新打开", "Reopened"),
    "extend": ("期限由 {was} 延至 {until}", "Deadline moved from {was} to {until}"),
    "retry_processing": ("重新处理照片", "Photos processed again"),
    "transfer": ("由{from}转派至{to}", "Transferred from {from} to {to}"),
    "escalate": ("上报{office}", "Escalated to {office}"),
    "send_back": ("退回：{reason}", "Sent back: {reason}"),
    "withhold_points": ("暂缓发放积分", "Points held back"),
    "release_points": ("积分已发放", "Points released"),
}
NO_ORIGINAL = {"unmerge": ("撤销合并", "Merge undone")}

# A notification's text by its kind: (中文, English).
NOTIFICATION_WORDS: dict[str, tuple[str, str]] = {
    "work_order": ("【随手拍】新工单 {case_no} {category}{where} · 期限 {deadline}{who}",
                   "New work order {case_no} {category}{where} · due {deadline}{who}"),
    "work_order_unassigned": ("【随手拍】新工单 {case_no} {category}{where} · 期限 {deadline}（该网格未设网格员）",
                              "New work order {case_no} {category}{where} · due {deadline} (the grid has no worker)"),
    S.UNROUTED: ("【随手拍】{case_no} {category}：{why}，请人工派遣",
                 "{case_no} {category}: {why}, dispatch it by hand"),
    S.RESOLVED: ("【随手拍】{case_no} 已处置，待核查结案", "{case_no} is fixed: check and close it"),
    S.CLOSED: ("您上报的 {case_no} {category} 已结案，感谢参与！",
               "Your report {case_no} {category} is closed. Thank you!"),
    "rework": ("【随手拍】{case_no} 核查未通过，需返工：{note}", "{case_no} failed the check, to be reworked: {note}"),
    S.REJECTED: ("您上报的 {case_no} 不予立案：{note}", "Your report {case_no} was not accepted: {note}"),
    S.DUPLICATE: ("您的上报 {case_no} 与 {original} 为同一问题，已记为“我也遇到”，结案时一并通知您",
                  "Your report {case_no} is the same problem as {original}: counted as “me too”, and you will hear "
                  "when it is closed"),
    "unmerged": ("您的上报 {case_no} 不再记为重复，将作为单独的问题处理",
                 "Your report {case_no} is no longer counted as a duplicate: it is dealt with on its own"),
    "reopened": ("【随手拍】{case_no} 被重新打开：{note}", "{case_no} was reopened: {note}"),
    "processing_error": ("【随手拍】{case_no} {why}，请查看", "{case_no}: {why}, please look at it"),
    "overdue": ("【随手拍】超期未结：{case_no} {category}，已超期 {hours} 小时",
                "Overdue: {case_no} {category}, {hours} h past its deadline"),
    "transferred": ("【随手拍】{case_no} {category} 由{from}转派至本社区，请派遣：{note}",
                    "{case_no} {category} was transferred here from {from}: dispatch it ({note})"),
    "escalated": ("【随手拍】{from}上报 {case_no} {category}，请街道派遣：{note}",
                  "{from} escalated {case_no} {category}: the street office to dispatch it ({note})"),
    "sent_back": ("【随手拍】{case_no} {category} 被退回：{reason}，请重新派遣",
                  "{case_no} {category} was sent back ({reason}): dispatch it again"),
}


def _pick(pair: tuple[str, str], lang: str) -> str:
    return pair[1] if lang == "en" else pair[0]


def _when(iso: str | None, lang: str, reading: Reading) -> str:
    return local_time(datetime.fromisoformat(iso), reading.timezone) if iso else _pick(NONE, lang)


class _Blank(dict):
    """Facts to fill a sentence from: one the event did not keep reads as nothing."""

    def __missing__(self, key: str) -> str:
        return ""


def _filled(facts: Mapping, lang: str, reading: Reading) -> dict:
    """The facts with the words made from them in this language (times in the community's zone)."""
    en = lang == "en"
    values = _Blank({k: ("" if v is None else v) for k, v in facts.items()})
    distance = facts.get("distance_m")
    values["distance"] = "" if not distance else (
        f" ({distance:.0f} m from its boundary)" if en else f"（距网格边界 {distance:.0f} m）")
    apart, bits = facts.get("distance_m"), facts.get("hash_distance")
    gap = [f"{apart:.0f} m apart" if en else f"相距 {apart:.0f} m"] if apart is not None else []
    gap += [f"photos {bits} bits apart" if en else f"照片相似度差 {bits} 位"] if bits is not None else []
    values["photo_gap"] = (f" ({', '.join(gap)})" if en else f"（{'，'.join(gap)}）") if gap else ""
    if facts.get("reason") in SEND_BACK_REASONS:
        values["reason"] = _pick(SEND_BACK_REASONS[facts["reason"]], lang)
    why = facts.get("why")
    if why in WHY_UNROUTED or why in WHY_UNPROCESSED:
        values["why"] = _pick(WHY_UNROUTED.get(why) or WHY_UNPROCESSED[why], lang)
    code = facts.get("category")
    if code is not None:
        name = facts.get("category_name") or code
        values["category"] = reading.category_en.get(code, name) if en else name
    values["where"] = f" · {facts['grid']}" if facts.get("grid") else ""
    if facts.get("assignee"):
        values["who"] = f" · assigned to {facts['assignee']}" if en else f" · 指派 {facts['assignee']}"
    else:
        values["who"] = ""
    for name in ("deadline", "was", "until"):
        if name in facts:
            values[name] = _when(facts[name], lang, reading)
    return values


def _say(pair: tuple[str, str], facts: Mapping, lang: str, reading: Reading) -> str:
    return _pick(pair, lang).format_map(_filled(facts, lang, reading))


def event_sentence(action: str, facts: Mapping, lang: str, reading: Reading) -> str:
    """What the service says of an event of this action with these facts ("" when it says nothing of its own)."""
    pair = EVENT_WORDS.get(action)
    if pair is None:
        return ""
    if action in NO_ORIGINAL and not facts.get("original"):
        pair = NO_ORIGINAL[action]
    return _say(pair, facts, lang, reading)


def event_line(action: str, facts: Mapping | None, note: str, lang: str, reading: Reading) -> str:
    """A timeline's line for an event: its sentence, then the note a person typed. An event written before events
    kept their facts (facts None) shows its stored note as it is."""
    if facts is None:
        return note or ""
    sentence = event_sentence(action, facts, lang, reading)
    if sentence and note:
        return f"{sentence}: {note}" if lang == "en" else f"{sentence}：{note}"
    return sentence or note or ""


def notification_text(kind: str, facts: Mapping | None, message: str, lang: str, reading: Reading) -> str:
    """A notification as its reader reads it; one written before notifications kept their facts shows its stored
    message."""
    if facts is None or kind not in NOTIFICATION_WORDS:
        return message
    return _say(NOTIFICATION_WORDS[kind], facts, lang, reading)


def event_lines(action: str, facts: Mapping | None, note: str, reading: Reading) -> dict[str, str]:
    """An event's timeline line in every language: {"zh": ..., "en": ...}."""
    return {lang: event_line(action, facts, note, lang, reading) for lang in LANGUAGES}


def notification_texts(kind: str, facts: Mapping | None, message: str, reading: Reading) -> dict[str, str]:
    """A notification's text in every language: {"zh": ..., "en": ...}."""
    return {lang: notification_text(kind, facts, message, lang, reading) for lang in LANGUAGES}
