"""`make fuzz` (the pages half): every desk and field page, and every form on them, with random and hostile values.

The routes come from the app's url_map, the forms from the pages as each role sees them (bench/fuzz_forms.py).
Staff, an admin and a grid worker log in through the login form and keep a session each; an anonymous visitor
takes the login and invitation pages. Each submission carries the page's own valid CSRF token and, in one to three
fields, a hostile value (long, unicode, NUL, int64 edges, far dates, SQL and HTML, empty, ...), no value, or the
field twice. Every 30 s the service gets fresh cases in every state and the pages are read again. Every 5xx is
counted, with the traceback the server logged:

    figure: fuzz_pages_server_errors = N (target = 0) ok|short

A request carrying a NUL must be refused with 400; any other answer is shown as a finding. Exits non-zero when the
server answered any 5xx. Options: --seconds, --seed, --keep.
"""
from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, urlsplit

import requests

from bench.figures import figure
from bench.fuzz_forms import Form, Hostile, PageParser
from bench.fuzz_stack import PASSWORD, FuzzStack, http, small_jpeg
from bench.riders import multipart_body

ROLES = ("staff1", "admin", "gw01")
OWN = ROLES + ("rider1", "rider2")  # the accounts the fuzzer logs in or reports with: never deactivated by it
ANONYMOUS = "visitor"
TURNS = ("staff1", "staff1", "staff1", "admin", "admin", "gw01", "gw01", ANONYMOUS)  # most forms are staff's
HOME = {"gw01": "/field", ANONYMOUS: "/login"}  # anyone else's: the desk's map page
NOT_PAGES = ("/api/", "/static/", "/healthz", "/sw.js", "/manifest.webmanifest")
ARGUMENT = re.compile(r"<(?:[^:>]+:)?([^>]+)>")
ROUND_S = 30


@dataclass
class Visitor:
    """One person's browser: a cookie jar, logged in through the login form (or not at all)."""

    base: str
    username: str
    session: requests.Session = field(default_factory=requests.Session)
    token: str = ""  # this session's CSRF token, put in every form sent (pages read earlier may hold an older one)
    lost: bool = False

    def get(self, path_or_url: str, **kwargs) -> requests.Response:
        """GET a path (or a whole URL) without following a redirect."""
        url = path_or_url if path_or_url.startswith("http") else self.base + path_or_url
        return self.session.get(url, allow_redirects=False, timeout=60, **kwargs)

    def login(self) -> None:
        """Log in as a person does: the login page's form with its CSRF token, and the password."""
        self.session.cookies.clear()
        if self.username != ANONYMOUS:
            answer = self.session.post(f"{self.base}/login", data={
                "csrf_token": self.csrf_token("/login"), "username": self.username, "password": PASSWORD},
                allow_redirects=False)
            if answer.status_code != 302:
                raise SystemExit(f"fuzz_pages: {self.username} could not log in: {answer.status_code}")
        self.token = self.csrf_token()

    def csrf_token(self, path: str = "") -> str:
        """A valid token of this session, from a page it may open."""
        found = re.search(r'name="csrf_token" value="([^"]+)"', self.get(path or self.home).text)
        return found.group(1) if found else ""

    @property
    def home(self) -> str:
        """The page this visitor lands on, which only this visitor may open."""
        return HOME.get(self.username, "/desk/map")

    def still_in(self) -> None:
        """Log in again when a valid submission (an invitation accepted, say) changed who this session is; a
        visitor who cannot is left out from then on, and said so."""
        if self.get(self.home).status_code != 200:
            try:
                self.login()
            except SystemExit as lost:
                print(f"fuzz_pages: {lost}; going on without {self.username}", flush=True)
                self.lost = True


def page_rules(app) -> list:
    """The url_map's rules that are pages: all but the API, static files, health and the app shell's files."""
    return [r for r in app.url_map.iter_rules() if not r.rule.startswith(NOT_PAGES) and r.endpoint != "static"]


def seed_states(stack: FuzzStack, staff: Visitor) -> dict[str, list[str]]:
    """Fresh cases in every state a page shows forms for (dispatched, in progress, resolved, closed, rejected), a
    weekly report built and an invitation made through their forms; the real values of the pages' arguments."""
    def act(user: str, case_no: str, **body) -> None:
        """An action on a case through the API, as one of the stack's logged-in users."""
        http("POST", f"{stack.base}/api/v1/cases/{case_no}/actions", json.dumps(body).encode(),
             {"Content-Type": "application/json", "Authorization": f"Bearer {stack.tokens[user]}"})

    cases = stack.seed()
    stack.login("gw01")
    for case_no in cases[1:4]:
        act("gw01", case_no, action="start")
    for case_no in cases[2:4]:
        body, content_type = multipart_body({}, {"photo": ("a.jpg", small_jpeg(99))})
        http("POST", f"{stack.base}/api/v1/cases/{case_no}/photos", body,
             {"Content-Type": content_type, "Authorization": f"Bearer {stack.tokens['gw01']}"})
        act("gw01", case_no, action="resolve")
    act("staff1", cases[3], action="close", note="fuzz: checked")
    act("staff1", cases[4], action="reject", note="fuzz: not ours")
    week = re.search(r'name="week" value="([^"]+)"', staff.get("/desk/reports").text).group(1)
    token = staff.csrf_token()
    staff.session.post(f"{stack.base}/desk/reports", data={"csrf_token": token, "week": week})
    invite = staff.session.post(f"{stack.base}/desk/invites", data={
        "csrf_token": token, "display_name": "骑手 模糊", "phone": "13800009999",
        "username": f"fuzz{len(cases)}{week}"})
    found = re.search(r"/invite/([A-Za-z0-9_.-]+)", invite.text)
    return {"case_no": cases, "week": [week], "token": [found.group(1)] if found else []}


def discover(visitor: Visitor, rules: list, values: dict[str, list[str]]) -> tuple[dict[tuple, list[Form]], set[str]]:
    """The forms on every page this visitor may open, by kind, and the query names its links and GET forms use."""
    forms: dict[tuple, list[Form]] = {}
    names: set[str] = set()
    for rule in rules:
        if "GET" not in rule.methods:
            continue
        arguments = ARGUMENT.findall(rule.rule)
        for combo in zip(*(values.get(a, []) for a in arguments)) if arguments else [()]:
            path = rule.rule
            for name, value in zip(arguments, combo):
                path = re.sub(rf"<(?:[^:>]+:)?{name}>", quote(value, safe=""), path)
            answer = visitor.get(path)
            if answer.status_code != 200 or "html" not in answer.headers.get("Content-Type", ""):
                continue
            parser = PageParser(visitor.base + path)
            parser.feed(answer.text)
            for form in parser.forms:
                forms.setdefault(form.kind, []).append(form)
                names |= {f[0] for f in form.fields} if form.method == "get" else set()
            for link in parser.links:
                names |= {k for k, _ in parse_qsl(urlsplit(link).query, keep_blank_values=True)}
    return forms, names


@dataclass
class Tally:
    """What came back: how many of each status, the 5xx answers, and NUL requests not refused with 400."""

    statuses: dict[int, int] = field(default_factory=dict)
    server_errors: list[str] = field(default_factory=list)
    nul_not_refused: list[str] = field(default_factory=list)
    sent: int = 0

    def record(self, answer: requests.Response, what: str, had_nul: bool) -> None:
        """Count one answer."""
        self.sent += 1
        self.statuses[answer.status_code] = self.statuses.get(answer.status_code, 0) + 1
        if answer.status_code >= 500:
            self.server_errors.append(f"{answer.status_code} {what}")
        elif had_nul and answer.status_code not in (400, 404, 405, 414, 431):  # 414, 431: gunicorn's own refusals
            self.nul_not_refused.append(f"{answer.status_code} {what}")


def describe(who: str, method: str, url: str, pairs: list, files: list) -> str:
    """A request in one line, long values cut short."""
    shown = "&".join(f"{k}={v[:60]!r}" + (f"…({len(v)})" if len(v) > 60 else "") for k, v in pairs if k != "csrf_token")
    return f"[{who}] {method.upper()} {urlsplit(url).path[:200]} {shown}" + (
        f" files={[f[1][0] for f in files]}" if files else "")


def ends_own_session(form: Form, pairs: list[tuple[str, str]]) -> bool:
    """A submission that would end the fuzzer's own sessions (log out, or an admin form aimed at one of its
    accounts): skipped rather than fuzzed away."""
    path = urlsplit(form.action).path
    named = set(path.split("/")) | ({v for _, v in pairs} if path.startswith("/desk/users") else set())
    return path.endswith("/logout") or bool(named & set(OWN))


def send_form(visitor: Visitor, form: Form, hostile: Hostile, tally: Tally) -> None:
    """Submit one form with hostile fields, as this visitor, with its current CSRF token."""
    pairs, files = hostile.submission(form)
    if ends_own_session(form, pairs):
        return
    pairs = [(k, visitor.token if k == "csrf_token" else v) for k, v in pairs]
    if form.method == "get":
        answer = visitor.session.get(form.action, params=pairs, allow_redirects=False, timeout=60)
    elif files or "multipart" in form.enctype:
        parts = [(k, (None, v)) for k, v in pairs] + files  # as a browser sends it: text parts have no file name
        answer = visitor.session.post(form.action, files=parts, allow_redirects=False, timeout=60)
    else:
        answer = visitor.session.post(form.action, data=pairs, allow_redirects=False, timeout=60)
    tally.record(answer, describe(visitor.username, form.method, form.action, pairs, files),
                 any("\x00" in v for _, v in pairs))
    path = urlsplit(form.action).path
    if answer.status_code == 302 and (path == "/login" or path.startswith("/invite/")):
        visitor.still_in()  # someone was logged in by it: be who this visitor is again


def send_page(visitor: Visitor, rule, values: dict, names: set[str], hostile: Hostile, tally: Tally) -> None:
    """A page with hostile path arguments, or with real ones and a hostile query."""
    odd_path = bool(ARGUMENT.search(rule.rule)) and hostile.rng.random() < 0.5

    def argument(match) -> str:
        """One path argument: a real value, or a hostile one."""
        real = values.get(match.group(1)) or [""]
        return quote(hostile.value((rule.rule, match.group(1))) if odd_path else hostile.rng.choice(real), safe="")

    path = ARGUMENT.sub(argument, rule.rule)
    chosen = [] if odd_path else hostile.rng.sample(sorted(names), k=min(len(names), hostile.rng.randint(1, 3)))
    pairs = [(name, hostile.value((rule.rule, name))) for name in chosen]
    answer = visitor.session.get(visitor.base + path, params=pairs, allow_redirects=False, timeout=60)
    tally.record(answer, describe(visitor.username, "get", path, pairs, []),
                 "%00" in path or any("\x00" in v for _, v in pairs))


def fuzz(stack: FuzzStack, seconds: float, seed: int) -> Tally:
    """Log everyone in, then round after round: fresh cases, the pages read again, hostile requests."""
    from config import Settings
    from service.web import create_app

    rng, tally = random.Random(seed), Tally()
    rules = page_rules(create_app(Settings.from_env(env=stack.env())))
    visitors = {name: Visitor(stack.base, name) for name in ROLES + (ANONYMOUS,)}
    for visitor in visitors.values():
        visitor.login()
    values: dict[str, list[str]] = {}
    hostile = Hostile(rng, [])
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        admin = visitors["admin"]  # grid HQ01 back to gw01 (a fuzzed form may have handed it on): its new cases
        admin.session.post(f"{stack.base}/desk/users/grid-worker",
                           data={"csrf_token": admin.token, "grid": "HQ01", "worker": "gw01"})
        for name, fresh in seed_states(stack, visitors["staff1"]).items():
            values[name] = values.get(name, []) + fresh
        hostile.known = [v for vs in values.values() for v in vs] + list(ROLES) + ["rider1"]
        latest = {name: vs[-6:] for name, vs in values.items()}  # this round's cases are in the states wanted
        found = {name: discover(v, rules, latest) for name, v in visitors.items()}
        round_end = min(deadline, time.monotonic() + ROUND_S)
        while time.monotonic() < round_end:
            visitor = visitors[rng.choice(TURNS)]
            if visitor.lost:
                continue
            forms, names = found[visitor.username]
            if forms and rng.random() < 0.65:
                send_form(visitor, rng.choice(rng.choice(list(forms.values()))), hostile, tally)
            else:
                send_page(visitor, rng.choice(rules), values, names or {"q"}, hostile, tally)
            if tally.sent % 50 == 0:
                visitor.still_in()
    return tally


def report(stack: FuzzStack, tally: Tally) -> None:
    """The statuses, each 5xx answer and NUL not refused, and each distinct traceback behind them."""
    print(f"fuzz_pages: {tally.sent} requests, statuses {dict(sorted(tally.statuses.items()))}")
    for line in tally.server_errors[:60]:
        print(f"  server error: {line[:400]}")
    for line in tally.nul_not_refused[:20]:
        print(f"  NUL not refused with 400: {line[:300]}")
    stack.print_tracebacks()


def main(argv: list[str] | None = None) -> int:
    """Fuzz the pages of a fresh service for the time given; the figure; 1 on any 5xx."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=75)
    parser.add_argument("--seed", type=int, default=int(time.time()) % 100000)
    parser.add_argument("--keep", action="store_true", help="keep the service's folder (its log)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    print(f"fuzz_pages: seed {args.seed}, {args.seconds} s as {', '.join(ROLES)} and an anonymous visitor", flush=True)
    with FuzzStack(keep=args.keep) as stack:
        tally = fuzz(stack, args.seconds, args.seed)
        report(stack, tally)
        kept = f"; files in {stack.folder}" if args.keep else ""
        print(f"fuzz_pages: {time.monotonic() - started:.0f} s in all{kept}")
        ok = figure("fuzz_pages_server_errors", len(tally.server_errors), "=", 0)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
