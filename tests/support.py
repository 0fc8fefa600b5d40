"""What several test files share that is not a fixture: the demo password and spots, the tables each test starts
without, settings, the API and page clients, running the queued jobs, the shape of a refusal, and a group robot on
loopback."""
from __future__ import annotations

import json
import re
import threading
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO
from pathlib import Path

from images import photo_jpeg

from config import Settings
from service.auth import hash_password
from service.models import Base
from service.runtime.jobqueue import PHOTO_QUEUE, SERIALIZER, redis_connection, rq_queue

DEMO_PASSWORD = "demo-pass-123"
HONGQIAO = {"lat": "32.015", "lon": "120.855"}  # inside the demo grid HQ06 (its worker gw06), WGS-84
HQ06 = HONGQIAO
OUTSIDE_GRIDS = {"lat": "32.015", "lon": "120.8825"}  # in 虹桥社区 (hqsq), in none of its grids: left to its staff

# the district the fixtures load once per run from config/district/ (a test that changes it makes its own database)
DISTRICT_TABLES = frozenset({"users", "grids", "categories", "street_offices", "communities", "community_boundaries",
                             "units"})
# every other table of the models is the tests' own: emptied before each test, rows before those they point to
PER_TEST_TABLES = tuple(t.name for t in reversed(Base.metadata.sorted_tables) if t.name not in DISTRICT_TABLES)


@cache
def demo_password_hash() -> str:
    """One hash of the demo password for the whole run: scrypt is deliberately slow."""
    return hash_password(DEMO_PASSWORD)


def make_settings(tmp_path: Path, database_url: str, redis_url: str, **overrides) -> Settings:
    """Settings for one test: its own media and instance folders."""
    values = dict(instance_dir=tmp_path / "instance", database_url=database_url, redis_url=redis_url,
                  embedded_redis=False, media_dir=tmp_path / "media", secret_key="test-secret",
                  demo_password=DEMO_PASSWORD)
    values.update(overrides)
    return Settings.from_env(env={}, **values)


def run_jobs(settings: Settings) -> None:
    """Work every queued job to the end on a real RQ worker (in this process, for speed)."""
    from rq import SimpleWorker

    connection = redis_connection(settings.redis_url)
    SimpleWorker([rq_queue(PHOTO_QUEUE, connection), rq_queue("default", connection)],
                 connection=connection, serializer=SERIALIZER).work(burst=True)


def originals_on_disk(settings: Settings) -> list[Path]:
    """Every original photo file under the media folder (temporary files included)."""
    root = settings.media_dir / "originals"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def assert_refused(response, status: int, code: str, field: str | None = None):
    """The response is the JSON error of our shape, with both languages in the message."""
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] == code
    assert " / " in error["message"] and error["message"].split(" / ")[0].strip()
    if field is not None:
        assert error["field"] == field


class Api:
    """A client of the JSON API, logged in as one user: the AuthActions of the flaskr tutorial, for the API."""

    def __init__(self, client):
        self.client = client
        self.token = None

    def login(self, username: str, password: str = DEMO_PASSWORD):
        """Log in through the API; the token is kept for the requests that follow."""
        response = self.client.post("/api/v1/auth/login", json={"username": username, "password": password})
        if response.status_code == 200:
            self.token = response.get_json()["token"]
        return response

    @property
    def headers(self) -> dict:
        """The bearer token, once logged in."""
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def report(self, photos=None, **fields):
        """POST a report: photos as bytes (or (bytes, filename) pairs), fields as form values."""
        photos = [photo_jpeg()] if photos is None else photos
        data = {**HONGQIAO, "category": "B0118", **fields}
        data = {k: v for k, v in data.items() if v is not None}
        files = []
        for i, photo in enumerate(photos):
            content, name = photo if isinstance(photo, tuple) else (photo, f"photo{i}.jpg")
            files.append((BytesIO(content), name))
        if files:
            data["photo"] = files
        return self.client.post("/api/v1/reports", data=data, headers=self.headers,
                                content_type="multipart/form-data")

    def act(self, case_no: str, action: str, **fields):
        """POST an action on a case, as JSON."""
        return self.client.post(f"/api/v1/cases/{case_no}/actions", json={"action": action, **fields},
                                headers=self.headers)

    def after_photo(self, case_no: str, seed: int = 1):
        """POST an after photo (处置后) of a case."""
        return self.client.post(f"/api/v1/cases/{case_no}/photos", headers=self.headers,
                                data={"photo": [(BytesIO(photo_jpeg(seed=seed)), "after.jpg")]},
                                content_type="multipart/form-data")

    def get(self, path: str):
        """GET with the token."""
        return self.client.get(path, headers=self.headers)


class Browser:
    """A page client: logs in through the form and sends the CSRF token every form carries."""

    def __init__(self, client):
        self.client = client
        self.csrf = None

    def token_from(self, html: str) -> str:
        """Keep the CSRF token of a page (a form's field or the page's meta tag)."""
        found = re.search(r'name="csrf_token" value="([^"]+)"', html) or \
            re.search(r'name="csrf-token" content="([^"]+)"', html)
        self.csrf = found.group(1)
        return self.csrf

    def login(self, username: str, password: str = DEMO_PASSWORD):
        """Log in through the login form, as a person does."""
        self.token_from(self.client.get("/login").get_data(as_text=True))
        response = self.client.post("/login", data={"username": username, "password": password,
                                                    "csrf_token": self.csrf})
        if response.status_code == 302:
            self.token_from(self.client.get(response.headers["Location"]).get_data(as_text=True))
        return response

    def get(self, url: str):
        """GET a page."""
        return self.client.get(url)

    def post(self, url: str, **data):
        """POST a form with its CSRF token."""
        return self.client.post(url, data={"csrf_token": self.csrf, **data})


def staff_browser(app) -> Browser:
    """A page client logged in as staff1, on the desk."""
    browser = Browser(app.test_client())
    assert browser.login("staff1").headers["Location"] == "/desk"
    return browser


class RobotServer:
    """A group robot on loopback that records what it is sent, answering as WeCom does (or failing)."""

    def __init__(self, fail: bool = False):
        received, self.fail = [], fail
        self.received = received
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append(json.loads(body))
                status, reply = (500, b"{}") if outer.fail else (200, b'{"errcode":0,"errmsg":"ok"}')
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/cgi-bin/webhook/send?key=test"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
