"""The shape of the service's words: a value as stored, with its Chinese and English names (roles, levels, the
ledger's rules…), declared once as an enum of this kind."""
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
