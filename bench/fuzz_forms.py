"""What the page fuzzer reads and writes: the forms of a page (html.parser), and hostile values for their fields."""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from bench.fuzz_stack import small_jpeg

# values that break parsers, by the kind of field they are aimed at: numbers at and past the int64 edges and digits
# that are not ASCII; far and impossible dates; ISO weeks; and text of every length, script and injection
NUMBERS = ["0", "-1", "1", "2", "²", "١٢", "𝟡", "1.5", "1e309", "NaN", "-0", "+1", "0x10", "007", " 1",
           "9223372036854775807", "9223372036854775808", "-9223372036854775809", "99999999999999999999",
           "18446744073709551616", "1" * 400]
DATES = ["9999-12-31T23:00-12:00", "0001-01-01", "0001-01-01T00:00", "9999-12-31T23:59:59+14:00", "9999-12-31",
         "2026-02-30T10:00", "2026-13-01T00:00", "2026-03-01T25:61", "24:00", "2026-03-01T18:00:00.123456789+08:00",
         "2026-03-01T18:00+99:00", "1970-01-01T00:00Z", "2026-03-01 18:00", "20260301T1800", "10000-01-01T00:00"]
WEEKS = ["9999-W52", "0001-W01", "2026-W53", "2026-W00", "2026-W1", "2026W09", "2026-w09", "0000-W01", "2026-W99",
         "２０２６-W09", "2026-W09-1"]
TEXT = ["", " ", "\t", "' OR 1=1 --", "'; DROP TABLE cases; --", "\" OR \"\"=\"", "%", "_", "\\",
        "<script>alert(1)</script>", "\"><img src=x onerror=alert(1)>", "{{7*7}}", "${7*7}", "%s%s%n",
        "../../etc/passwd", "//evil.example", "/\\evil.example", "javascript:alert(1)", "\r\nSet-Cookie: x=1",
        "\u202egnp.exe", "\u200b", "\ufeff", "长" * 3000, "a" * 100_000, "🙂" * 500, "null", "true", "[]", "{}",
        "20260301-0007", "20261231-99999999999", "x-0001", "-", "HQ01", "wuye", "reporter", "grid_worker", "staff"]
HOSTILE = NUMBERS + DATES + WEEKS + TEXT
NUL_VALUES = ["\x00", "a\x00b", "20260301-0007\x00"]
NOT_IMAGES = [b"", b"\x00" * 10, b"GIF89a", b"<svg/>", b"%PDF-1.4\n"]
# what a person types into a required field, so the fuzzer's one hostile field is the one the server looks at
FILLED = {"datetime-local": "2030-01-01T10:00", "date": "2030-01-01", "number": "1", "password": "fuzz-pass-456",
          "tel": "13800001234"}
UNIQUE = "\x01unique"  # stands for a fresh plain word in each submission (a new username must be new)
CASE_NO = re.compile(r"\d{8}-\d+")


@dataclass
class Form:
    """One <form> of a page: where it goes, how, and its fields as [name, type, value, options]."""

    action: str
    method: str = "get"
    enctype: str = "application/x-www-form-urlencoded"
    fields: list[list] = field(default_factory=list)

    @property
    def kind(self) -> tuple:
        """The same form on every page it is on (the assign form of each case, say) is one kind."""
        return (CASE_NO.sub("<case_no>", urlsplit(self.action).path), self.method,
                tuple(f[0] for f in self.fields if f[0] != "action"), self.action_value)

    @property
    def action_value(self) -> str:
        """The `action` a form's hidden field names (a case's forms differ by it)."""
        return next((f[2] for f in self.fields if f[0] == "action"), "")


class PageParser(HTMLParser):
    """The forms and the same-site links of one page."""

    def __init__(self, url: str):
        super().__init__(convert_charrefs=True)
        self.url, self.forms, self.links = url, [], []
        self._form: Form | None = None
        self._select: list | None = None

    def handle_starttag(self, tag, attrs):
        """A form opens, or a field, an option or a link of the page."""
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._form = Form(urljoin(self.url, a.get("action") or self.url), a.get("method", "get").lower(),
                              a.get("enctype", "application/x-www-form-urlencoded").lower())
            self.forms.append(self._form)
        elif tag == "a" and a.get("href", "").startswith("/"):
            self.links.append(urljoin(self.url, a["href"]))
        elif tag == "option" and self._select is not None:
            self._select[3].append(a.get("value", ""))
            if "selected" in a or not self._select[2]:
                self._select[2] = a.get("value", "")
        elif self._form is None or not a.get("name"):
            return
        elif tag == "input" and a.get("type", "text").lower() not in ("submit", "button", "reset", "image"):
            kind = a.get("type", "text").lower()
            value = a.get("value", "on" if kind == "checkbox" else "")
            if not value and "required" in a:
                value = FILLED.get(kind, UNIQUE)
            self._form.fields.append([a["name"], kind, value, []])
        elif tag in ("textarea", "select"):
            self._form.fields.append([a["name"], tag, "", []])
            self._select = self._form.fields[-1] if tag == "select" else None

    def handle_endtag(self, tag):
        """A form or a select closes."""
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None


def pool_for(kind: str, value: str, options: list[str]) -> list[str]:
    """The hostile values aimed at a field, from its type and the shape of what the page put in it."""
    if kind in ("datetime-local", "date", "time") or re.match(r"^\d{4}-\d\d-\d\d", value):
        return DATES
    if re.match(r"^\d{4}-W\d\d$", value, re.I):
        return WEEKS
    if kind == "number" or re.fullmatch(r"-?\d+", value) or (options and all(re.fullmatch(r"\d*", o) for o in options)):
        return NUMBERS
    return TEXT


class Hostile:
    """Hostile values: for each kind of form and each field, its pool in a shuffled cycle (so within a run every
    value reaches every field), with NULs, anything hostile and values the server knows mixed in."""

    def __init__(self, rng: random.Random, known: list[str]):
        self.rng, self.known = rng, known
        self.cycles: dict[tuple, list[str]] = {}
        self.words = 0

    def value(self, where: tuple, pool: list[str] = HOSTILE) -> str:
        """The next hostile value for a field (`where` names the kind of form and the field)."""
        roll = self.rng.random()
        if roll < 0.08:
            return self.rng.choice(NUL_VALUES)
        if roll < 0.18 and self.known:
            return self.rng.choice(self.known)
        if roll > 0.9:
            return self.rng.choice(HOSTILE)
        cycle = self.cycles.setdefault(where, [])
        if not cycle:
            cycle.extend(self.rng.sample(pool, len(pool)))
        return cycle.pop()

    def plain(self, value: str) -> str:
        """The page's value as a person would send it; a required field left empty gets a fresh word."""
        if value != UNIQUE:
            return value
        self.words += 1
        return f"fuzz{self.words}"

    def submission(self, form: Form) -> tuple[list[tuple[str, str]], list]:
        """Fields to send: the page's values, with one to three fields made hostile, left out or sent twice (the
        others stay valid, so the hostile one gets past them); the CSRF token kept as the page gave it."""
        rng = self.rng
        editable = [n for n, f in enumerate(form.fields) if f[0] != "csrf_token" and f[1] != "file"]
        shown = [n for n in editable if form.fields[n][1] != "hidden"]
        if shown and rng.random() < 0.8:  # what a person can type in, mostly; the hidden fields now and then
            editable = shown
        targets = set(rng.sample(editable, k=min(len(editable), rng.choice((1, 1, 1, 2, 3)))))
        pairs, files = [], []
        for n, (name, kind, value, options) in enumerate(form.fields):
            roll = rng.random()
            if kind == "file":
                if roll < 0.6:
                    files.append((name, ("p.jpg", small_jpeg(rng.randrange(100)), "image/jpeg")))
                elif roll < 0.85:
                    files.append((name, ("x.bin", rng.choice(NOT_IMAGES), "image/png")))
            elif n not in targets:
                pairs.append((name, rng.choice(options) if options and roll < 0.2 else self.plain(value)))
            elif roll < 0.08:
                continue  # the field left out
            else:
                bad = self.value((form.kind, name), pool_for(kind, value, options))
                pairs += [(name, self.plain(value)), (name, bad)] if roll < 0.16 else [(name, bad)]  # or twice
        return pairs, files
