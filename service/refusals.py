"""Refusals, one way: what the core will not do for a person, of which kind, with a message in Chinese and English."""
from __future__ import annotations

# Every kind of refusal. The web answers each with its status code (service/web/errors.py, the one table).
KINDS = (
    "malformed",  # the request itself is not what the interface takes
    "not_logged_in",
    "forbidden",  # this person may not
    "not_found",  # nothing of that name that this person may see
    "conflict",  # not in the case's present state, or done already
    "too_large",
    "unsupported",  # a file that is not an image we take
    "invalid",  # a field's value is wrong; `field` names it
    "too_many",  # too many attempts for now
    "gone",  # it was good once and is no more (a code used or expired)
)


class Refused(Exception):
    """Something we will not do, and why: `kind` (one of KINDS), a `code` for scripts, the words for people
    (`zh`, then `en`), the `field` at fault when there is one, and `extra` facts the answer carries beside it."""

    def __init__(self, kind: str, code: str, zh: str, en: str, field: str | None = None, extra: dict | None = None):
        if kind not in KINDS:
            raise ValueError(f"unknown kind of refusal: {kind!r}")
        super().__init__(f"{code}: {en}")
        self.kind, self.code, self.zh, self.en, self.field = kind, code, zh, en, field
        self.extra = extra or {}  # what else the answer says beside the error (a balance that fell short)

    @property
    def message(self) -> str:
        """Both languages, as every answer shows them: "中文 / English"."""
        return f"{self.zh} / {self.en}"


def invalid(field: str, code: str, zh: str, en: str) -> Refused:
    """A field's value is wrong: the most common refusal, named by its field."""
    return Refused("invalid", code, zh, en, field)
