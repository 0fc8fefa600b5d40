"""The shape of the service's words: a value as stored, with its Chinese and English names (roles, levels, the
ledger's rules…), declared once as an enum of this kind; and the words of the good deeds' states, which the models
check their column against."""
from __future__ import annotations

from enum import StrEnum


class Worded(StrEnum):
    """An enum whose members are their stored value, with `zh` and `en` names: MEMBER = "value", "中文", "English"."""

    zh: str
    en: str

    def __new__(cls, value: str, zh: str, en: str):
        member = str.__new__(cls, value)
        member._value_ = value
        member.zh, member.en = zh, en
        return member


class DeedState(Worded):
    """Where a good deed (顺手帮, service.good_deeds) stands, with its words for the rider's page."""

    PENDING = "pending", "待确认", "waiting"
    CONFIRMED = "confirmed", "已确认", "confirmed"
    DECLINED = "declined", "未确认", "declined"
