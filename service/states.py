"""The case states, declared once: each with its labels and colour, and the named groups (open, worked, final)."""
from __future__ import annotations

import json
from enum import StrEnum


class CaseState(StrEnum):
    """Where a case stands, after the national 数字城管 workflow (shared/DOMAIN.md).

    Each member is its database value, with a Chinese and an English label and a colour (with the ink that reads
    on it) that every page, map and script shows it in.
    """

    zh: str
    en: str
    colour: str
    ink: str

    def __new__(cls, value: str, zh: str, en: str, colour: str, ink: str) -> CaseState:
        member = str.__new__(cls, value)
        member._value_ = value
        member.zh, member.en, member.colour, member.ink = zh, en, colour, ink
        return member

    NEW = "new", "待处理", "Received", "#f0ad4e", "#000"
    DISPATCHED = "dispatched", "已派遣", "Dispatched", "#5bc0de", "#000"
    UNROUTED = "unrouted", "待人工派遣", "Awaiting dispatch", "#e8590c", "#fff"
    IN_PROGRESS = "in_progress", "处置中", "In progress", "#1c6fb8", "#fff"
    RESOLVED = "resolved", "已处置待核查", "Fixed, being checked", "#9b59b6", "#fff"
    CLOSED = "closed", "已结案", "Closed", "#2f8a3b", "#fff"
    REJECTED = "rejected", "不予立案", "Not accepted", "#a30b0b", "#fff"
    DUPLICATE = "duplicate", "重复", "Duplicate", "#8a8a8a", "#fff"

    @property
    def is_open(self) -> bool:
        """Still being dealt with: new reports, routed or not, cases being worked and cases awaiting the check."""
        return self in OPEN

    @property
    def is_worked(self) -> bool:
        """In a worker's hands, with a deadline running (what can be overdue)."""
        return self in WORKED

    @property
    def is_final(self) -> bool:
        """No more work: closed (though it may be reopened), rejected or merged."""
        return self in FINAL


OPEN = (CaseState.NEW, CaseState.DISPATCHED, CaseState.UNROUTED, CaseState.IN_PROGRESS, CaseState.RESOLVED)
WORKED = (CaseState.DISPATCHED, CaseState.IN_PROGRESS)
FINAL = (CaseState.CLOSED, CaseState.REJECTED, CaseState.DUPLICATE)
NOT_VALID = (CaseState.REJECTED, CaseState.DUPLICATE)  # 无效: never a case of its own, in no indicator
GROUPS = {"open": OPEN, "worked": WORKED, "final": FINAL, "not_valid": NOT_VALID}


def vocabulary() -> dict:
    """The states as the page scripts read them: each one's labels and colour, and the groups."""
    return {"states": {s.value: {"zh": s.zh, "en": s.en, "colour": s.colour, "ink": s.ink} for s in CaseState},
            "groups": {name: [s.value for s in members] for name, members in GROUPS.items()}}


def script_module() -> str:
    """An ES module for the page scripts (static js/states.js): `CaseState.CLOSED` is "closed", `STATES.closed`
    its labels and colour, `GROUPS.open` the open states; a script names a state only through it."""
    data = vocabulary()
    names = {s.name: s.value for s in CaseState}
    return ("// generated from service/states.py by the static build: edit the states there\n"
            f"export const CaseState = Object.freeze({json.dumps(names)});\n"
            f"export const STATES = Object.freeze({json.dumps(data['states'], ensure_ascii=False)});\n"
            f"export const GROUPS = Object.freeze({json.dumps(data['groups'])});\n")


def stylesheet() -> str:
    """Each state's colour as CSS variables on `.state-<name>`: `--state` and the `--state-ink` that reads on it."""
    return "/* generated from service/states.py by the static build: edit the states there */\n" + "".join(
        f".state-{s.value} {{ --state: {s.colour}; --state-ink: {s.ink}; }}\n" for s in CaseState)
