"""The service the fuzzers attack: `make run` itself (service.runtime.runner) on free ports with a folder of its own,
a few
real cases in it, and logged-in demo accounts; its log is read afterwards for the tracebacks of any 500."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from bench.riders import multipart_body
from service.runtime.embedded_redis import free_port

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "fuzz-pass-123"
GENEROUS = "100000 per minute"  # the fuzzers send thousands of requests from one address in a few minutes
HQ01 = ("32.003", "120.845")  # inside grid HQ01, whose worker is gw01
TRACEBACK_START = "unhandled error on "


@dataclass
class Answer:
    """One HTTP answer: status, headers and body."""

    status: int
    headers: dict
    body: bytes

    def json(self):
        """The body as JSON."""
        return json.loads(self.body)


def http(method: str, url: str, body: bytes | None = None, headers: dict | None = None,
         timeout: float = 30) -> Answer:
    """Send one request, following no redirect; 4xx and 5xx are answers, not exceptions."""
    request = urllib.request.Request(url, method=method, data=body, headers=headers or {})
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=timeout) as response:
            return Answer(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, dict(exc.headers), exc.read())


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        """Redirects are answers here, not followed."""
        return None


def small_jpeg(seed: int) -> bytes:
    """A small real photo, different for each seed."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (seed * 37 % 256, seed * 91 % 256, 120)).save(buf, "JPEG")
    return buf.getvalue()


def _empty(url: str) -> None:
    """Make the PostgreSQL database if it is not there, and drop everything in it: the runner migrates it and loads
    the community afresh."""
    import sqlalchemy as sa

    from service.db import Database

    name = sa.engine.make_url(url).database
    server = sa.create_engine(sa.engine.make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        if conn.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}) is None:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    server.dispose()
    db = Database(url)
    with db.engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    db.dispose()


@dataclass
class FuzzStack:
    """`python -m service.runtime.runner` in a temporary folder; `tokens` holds a bearer token for each logged-in
    user."""

    env_overrides: dict = field(default_factory=dict)
    keep: bool = False  # keep the folder (its log, the fuzzers' reports) when done
    # FUZZ_DATABASE_URL: a PostgreSQL database to use (emptied first), which holds strings to their column's
    # length where SQLite does not; unset, the embedded SQLite file of `make run`
    database_url: str = field(default_factory=lambda: os.environ.get("FUZZ_DATABASE_URL", ""))
    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="snap-fuzz-")))
    tokens: dict[str, str] = field(default_factory=dict)
    case_nos: list[str] = field(default_factory=list)

    def __post_init__(self):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = self.folder / "run.log"
        self.proc: subprocess.Popen | None = None
        self.started: list[psutil.Process] = []  # the runner's processes once up: none may outlive the run

    def env(self) -> dict[str, str]:
        """The environment of `make run` here: its own folder and ports, generous limits, small photos."""
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        env.update(INSTANCE_DIR=str(self.folder / "instance"), PORT=str(self.port),
                   EMBEDDED_REDIS_PORT=str(free_port()), DEMO_PASSWORD=PASSWORD, SECRET_KEY="fuzz-secret",
                   INTAKE_LIMIT_PER_USER=GENEROUS, INTAKE_LIMIT_PER_ADDRESS=GENEROUS,
                   LOGIN_LIMIT_PER_ACCOUNT=GENEROUS, LOGIN_LIMIT_PER_ADDRESS=GENEROUS, NEARBY_LIMIT_PER_USER=GENEROUS,
                   MAX_PHOTO_MB="1", PYTHONUNBUFFERED="1")
        if self.database_url:
            env["DATABASE_URL"] = self.database_url
        env.update(self.env_overrides)
        return env

    def start(self, timeout: float = 90) -> FuzzStack:
        """Start the service and wait for its welcome."""
        if self.database_url:
            _empty(self.database_url)
        log = open(self.log_path, "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "service.runtime.runner"], cwd=ROOT, env=self.env(),
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while "Ctrl-C stops everything" not in self.log_path.read_text(errors="replace"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"fuzz: the service did not start:\n{self.log_text()[-3000:]}")
            time.sleep(0.3)
        self.started = psutil.Process(self.proc.pid).children(recursive=True)
        return self

    def stop(self, keep_files: bool = False) -> None:
        """Stop everything the runner started (as Ctrl-C does), and remove the folder.

        Whatever the runner left running (it may die mid-clean-up) is ended too: a fuzz run leaves nothing behind.
        """
        started = list(self.started)
        if self.proc is not None and self.proc.poll() is None:
            started += psutil.Process(self.proc.pid).children(recursive=True)
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        left = [p for p in started if p.is_running()]
        for process in left:
            process.terminate()
        for process in psutil.wait_procs(left, timeout=15)[1]:
            process.kill()
        if not keep_files:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> FuzzStack:
        """Start; on failure keep the folder for its log."""
        try:
            return self.start()
        except BaseException:
            self.stop(keep_files=True)
            raise

    def __exit__(self, *exc) -> None:
        """Stop everything started."""
        self.stop(keep_files=self.keep)

    def log_text(self) -> str:
        """Everything the service's processes printed so far."""
        return self.log_path.read_text(errors="replace")

    # --- the accounts and the cases the fuzzers start from ------------------------------------------------------

    def login(self, username: str) -> str:
        """Log in through the API; the bearer token."""
        answer = http("POST", f"{self.base}/api/v1/auth/login", json.dumps(
            {"username": username, "password": PASSWORD}).encode(), {"Content-Type": "application/json"})
        if answer.status != 200:
            raise SystemExit(f"fuzz: {username} could not log in: {answer.status} {answer.body[:300]!r}")
        self.tokens[username] = answer.json()["token"]
        return self.tokens[username]

    def report(self, username: str, seed: int, category: str = "E0301") -> str:
        """A report with a real photo, by bearer token; its case number."""
        body, content_type = multipart_body({"lat": HQ01[0], "lon": HQ01[1], "category": category,
                                             "description": f"fuzz seed case {seed}"},
                                            {"photo": ("p.jpg", small_jpeg(seed))})
        answer = http("POST", f"{self.base}/api/v1/reports", body, {
            "Content-Type": content_type, "Authorization": f"Bearer {self.tokens[username]}"})
        if answer.status != 201:
            raise SystemExit(f"fuzz: seeding a report failed: {answer.status} {answer.body[:300]!r}")
        return answer.json()["case_no"]

    def seed(self, reporters: tuple[str, ...] = ("rider1", "rider2"), per_reporter: int = 3) -> list[str]:
        """A few cases in grid HQ01 (gw01's), waited on until the worker has dispatched them."""
        for name in set(reporters) | {"staff1"}:
            if name not in self.tokens:
                self.login(name)
        self.case_nos = [self.report(name, n * 10 + i) for n, name in enumerate(reporters)
                         for i in range(per_reporter)]
        deadline = time.monotonic() + 60
        auth = {"Authorization": f"Bearer {self.tokens['staff1']}"}
        for case_no in self.case_nos:
            while http("GET", f"{self.base}/api/v1/reports/{case_no}", headers=auth).json()["state"] == "new":
                if time.monotonic() > deadline:
                    raise SystemExit(f"fuzz: the worker did not dispatch {case_no}:\n{self.log_text()[-3000:]}")
                time.sleep(0.3)
        return self.case_nos

    def server_tracebacks(self) -> list[tuple[str, str]]:
        """(request line, the traceback's last line) of every unhandled error the web process logged."""
        found, lines = [], self.log_text().splitlines()
        for n, line in enumerate(lines):
            if TRACEBACK_START not in line:
                continue
            request = line.split(TRACEBACK_START, 1)[1]
            last = next((later for later in lines[n + 1:n + 400]
                         if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b.*", later)), "?")
            found.append((request, last))
        return found

    def print_tracebacks(self) -> None:
        """Each distinct traceback behind the server's errors (by path and last line), once."""
        seen = set()
        for request, last in self.server_tracebacks():
            if (request.split("?")[0], last) not in seen:
                seen.add((request.split("?")[0], last))
                print(f"  traceback: {request[:200]} -> {last[:300]}")
