"""Structured logs: every line JSON, a request id on every answer and in the jobs a request queued, a case followed
by its number through the web, the worker and the robot's message, and no secret, photo or phone number in a line."""
from __future__ import annotations

import io
import json
import logging
import time
import urllib.error
import urllib.request
from pathlib import Path

import sqlalchemy as sa
from images import photo_jpeg
from rq.job import Job
from servers import gunicorn, rq_worker, scheduler
from support import DEMO_PASSWORD, HONGQIAO, RobotServer

from bench import log_check
from bench.riders import multipart_body
from service.follow_ups import PROCESS_CASE, FollowUp
from service.models import Case
from service.runtime import logs
from service.runtime.jobqueue import SERIALIZER, job_id, redis_connection

RIDER_PHONE = "13800000001"  # rider1's, in config/district/users.json
ROBOT_KEY = "robot-key-5c1e9a"
JPEG_MAGIC = b"\xff\xd8\xff"


# --- the redaction itself -------------------------------------------------------------------------------------------

def test_phone_numbers_are_masked_secrets_dropped_and_bytes_only_counted():
    line = logs.redacted({
        "event": "电话13812345678，call 15900001111 or tel:+86 13700000301",
        "password": "hunter2", "Authorization": "Bearer abc.def", "csrf_token": "t0k", "api_key": "k3y",
        "headers": {"Cookie": "session=xyz", "Accept": "*/*"},
        "photo": JPEG_MAGIC + b"\x00" * 97,
        "url": "https://robot.example/send?key=abc123&x=1 redis://:pw0rd@127.0.0.1:6379/0",
        "note": "Authorization: Bearer eyJhbGciOi.x.y",
        "request_id": "a13812345678b0c0d0e0f00112233445",  # a hex id is not a phone number
        "case_no": "20261202-0042", "count": 13812345678,
    })
    assert line["event"] == "电话138****5678，call 159****1111 or tel:+86 137****0301"
    assert line["password"] == line["Authorization"] == line["csrf_token"] == line["api_key"] == logs.REDACTED
    assert line["headers"] == {"Cookie": logs.REDACTED, "Accept": "*/*"}
    assert line["photo"] == "<100 bytes>"
    assert "abc123" not in line["url"] and "pw0rd" not in line["url"] and "x=1" in line["url"]
    assert "eyJhbGciOi" not in line["note"]
    assert line["request_id"] == "a13812345678b0c0d0e0f00112233445" and line["case_no"] == "20261202-0042"



def test_phone_numbers_in_every_usual_form_are_masked_and_ids_dates_and_long_numbers_are_not():
    for written, masked in [("+8613812345678", "+86138****5678"), ("008613812345678", "0086138****5678"),
                            ("+86 138 1234 5678", "+86 138****5678"), ("+86-138-1234-5678", "+86-138****5678"),
                            ("138 1234 5678", "138****5678"), ("138-1234-5678", "138****5678")]:
        line = logs.masked_text(f"(psycopg.errors.UniqueViolation) [parameters: ('{written}', 7)]")
        assert line == f"(psycopg.errors.UniqueViolation) [parameters: ('{masked}', 7)]", written
        assert "1234" not in line
    intact = ["a13812345678b0c0d0e0f00112233445", "550e8400-e29b-41d4-a716-446655440000", "20261202-0042",
              "2026-12-02T13:45:12.138123+00:00", "1733123456789", "123456789013812345678999", "31.13812345678",
              "0013812345678"]
    for text in intact:
        assert logs.masked_text(f"seen {text} here") == f"seen {text} here", text


def test_secrets_written_as_headers_assignments_and_reprs_are_masked():
    text = "\n".join([
        "Authorization: Basic dXNlcjpodW50ZXIy",
        "password: hunter2",
        "{'password': 'x', 'Accept': '*/*'}",
        '{"token": "tok-9f8e7d", "page": 2}',
        "aws_secret_access_key=AKIAsecretvalue1 region=cn-north-1",
        "S3_SECRET_ACCESS_KEY=s3secretvalue2",
        "headers={'Authorization': 'Basic YWRtaW46czNjcjN0'}",
    ])
    masked = logs.masked_text(text)
    for secret in ("dXNlcjpodW50ZXIy", "hunter2", "'x'", "tok-9f8e7d", "AKIAsecretvalue1", "s3secretvalue2",
                   "YWRtaW46czNjcjN0"):
        assert secret not in masked, secret
    assert masked.count(logs.REDACTED) == 7
    assert "'Accept': '*/*'" in masked and '"page": 2' in masked and "region=cn-north-1" in masked
    assert logs.masked_text("Basic information, tokens: 3") == "Basic information, tokens: 3"


def test_a_huge_hostile_value_is_cut_to_its_head_and_tail_and_still_masked():
    # an unclosed bytes repr full of escapes: the old pattern took 48 s for 128 KB, holding the log handler's lock
    hostile = "b'" + "\\xff\\xd8\\xff\\xe0\\x00\\x10\\x4a\\x46 13812345678 " * 6_000 + "password=hunter2 the end"
    assert len(hostile) > 256 * 1024
    line = logs.redacted({"event": hostile})["event"]
    assert len(line) < logs.MAX_TEXT + 100
    assert "characters cut]" in line and line.endswith("password=[redacted] the end")
    assert "13812345678" not in line and "\\x" not in line and "hunter2" not in line and "<bytes>" in line


def _formatted(process: str, emit) -> list[dict]:
    """The lines a logger writes through the JSON formatter, parsed."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logs.json_formatter(process))
    logger = logging.getLogger(f"test_logs.{process}")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        emit(logger)
    finally:
        logger.removeHandler(handler)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_a_traceback_is_kept_whole_but_masked_and_the_bound_case_and_job_come_along():
    def fail(logger):
        logs.begin(job_id="process_case-7", job="process_new_case", request_id="r-1")
        logs.bind_case("20261202-0042")
        try:
            raise RuntimeError(f"robot refused rider {RIDER_PHONE} with token=s3cr3t")
        except RuntimeError:
            logger.exception("case %s failed", "20261202-0042", extra={"photo": JPEG_MAGIC})
        finally:
            logs.end()
        logger.info("between jobs")

    failed, between = _formatted("worker", fail)
    assert list(failed)[:6] == ["ts", "level", "process", "pid", "logger", "event"]
    assert failed["ts"].endswith("Z") and failed["level"] == "error" and failed["process"] == "worker"
    assert failed["event"] == "case 20261202-0042 failed" and failed["case_no"] == "20261202-0042"
    assert (failed["job_id"], failed["job"], failed["request_id"]) == ("process_case-7", "process_new_case", "r-1")
    assert "Traceback" in failed["exception"] and "RuntimeError: robot refused rider 138****0001" in \
        failed["exception"]
    assert "s3cr3t" not in json.dumps(failed) and failed["photo"] == "<3 bytes>"
    assert "case_no" not in between and "job_id" not in between  # the next job starts clean


def test_the_load_harness_counts_lines_not_json_of_ours_and_secrets_in_any_log(tmp_path):
    (tmp_path / "web.log").write_text('{"event": "request"}\n{"event": "login", "phone": "13900000001"}\n')
    (tmp_path / "worker1.log").write_text('{"event": "job started"}\nTraceback (most recent call last):\n')
    (tmp_path / "nginx.log").write_bytes(b"nginx: [warn] text is nginx's own\n" + JPEG_MAGIC + b"\n")
    found = log_check.scan(tmp_path, {"phone number": {"13900000001"}, "password": {"load-pass-123"}})
    assert found == {"lines": 6, "lines_not_json": 1, "secrets_found": 2,
                     "secrets_by_kind": {"phone number": 1, "photo bytes": 1}}


# --- request ids ---------------------------------------------------------------------------------------------------

def test_every_answer_carries_a_request_id_ours_unless_the_callers_is_a_plain_token(app, client, caplog):
    given = client.get("/no-such-page", headers={"X-Request-ID": "edge-7f3a.1"})
    assert given.status_code == 404 and given.headers["X-Request-ID"] == "edge-7f3a.1"
    for odd in ("has spaces", "x" * 65, "quote\"d", "semi;colon"):
        made = client.get("/healthz", headers={"X-Request-ID": odd}).headers["X-Request-ID"]
        assert made != odd and len(made) == 32 and int(made, 16) >= 0
    # a static file served as asked goes without (a phone pays for its header bytes some twenty times on the
    # rider page's first visit), but is logged under an id all the same; one that is not there gets it
    caplog.set_level(logging.INFO, logger="service.web.requests")
    static = client.get(app.extensions["assets"].url("rider/main.js"))  # served by WhiteNoise, not Flask
    assert static.status_code == 200 and "X-Request-ID" not in static.headers
    line = next(r for r in caplog.records if getattr(r, "path", "").startswith("/static/rider/main."))
    assert len(line.request_id) == 32
    missing = client.get("/static/rider/no-such-file.js")
    assert missing.status_code == 404 and len(missing.headers["X-Request-ID"]) == 32
    refused = client.get("/api/v1/me/notifications")
    assert refused.status_code == 401 and refused.headers["X-Request-ID"]
    two = {client.get("/healthz").headers["X-Request-ID"] for _ in range(2)}
    assert len(two) == 2


def test_the_request_line_keeps_no_query_string_and_no_invitation_token(client, caplog):
    caplog.set_level(logging.INFO, logger="service.web.requests")
    client.get("/api/v1/categories?api_key=open311-key-9d2c&token=abc", headers={"X-Request-ID": "q-1"})
    client.get("/invite/invite-token-5b7e")
    formatter = logs.json_formatter("web")
    text = "\n".join(formatter.format(r) for r in caplog.records)
    assert "open311-key-9d2c" not in text and "invite-token-5b7e" not in text
    categories, invite = [json.loads(formatter.format(r)) for r in caplog.records if r.msg == "request"]
    assert categories["path"] == "/api/v1/categories" and categories["status"] == 200
    assert categories["request_id"] == "q-1" and categories["route"] == "/api/v1/categories"
    assert categories["method"] == "GET" and categories["bytes"] > 0 and categories["duration_ms"] >= 0
    assert invite["path"] == f"/invite/{logs.REDACTED}" and invite["route"] == "/invite/<token>"


def test_a_reports_job_carries_the_request_id_and_the_case_number(rider, settings, db):
    created = rider.client.post("/api/v1/reports", data={**HONGQIAO, "category": "B0118",
                                                         "photo": (io.BytesIO(photo_jpeg()), "a.jpg")},
                                headers={**rider.headers, "X-Request-ID": "phone-req-1"},
                                content_type="multipart/form-data")
    assert created.status_code == 201 and created.headers["X-Request-ID"] == "phone-req-1"
    case = db.scalar(sa.select(Case).where(Case.case_no == created.get_json()["case_no"]))
    job = Job.fetch(job_id(FollowUp(PROCESS_CASE, case.id)), connection=redis_connection(settings.redis_url),
                    serializer=SERIALIZER)
    assert job.meta == {"request_id": "phone-req-1", "case_no": created.get_json()["case_no"]}


# --- the real stack ------------------------------------------------------------------------------------------------

def _call(url: str, method: str = "GET", body: bytes | None = None, **headers: str):
    """One HTTP request: (status, headers, body), errors included."""
    request = urllib.request.Request(url, method=method, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def _login(base: str, username: str) -> tuple[str, str]:
    """Log in through the API: (bearer token, session cookie value)."""
    status, headers, body = _call(f"{base}/api/v1/auth/login", "POST", json.dumps(
        {"username": username, "password": DEMO_PASSWORD}).encode(), **{"Content-Type": "application/json"})
    assert status == 200, body
    cookie = headers["Set-Cookie"].split(";", 1)[0].split("=", 1)[1]
    return json.loads(body)["token"], cookie


def _act(base: str, token: str, case_no: str, action: str, **fields) -> None:
    status, _, body = _call(f"{base}/api/v1/cases/{case_no}/actions", "POST",
                            json.dumps({"action": action, **fields}).encode(),
                            Authorization=f"Bearer {token}", **{"Content-Type": "application/json"})
    assert status == 200, body


def _upload(url: str, token: str, fields: dict, photo: bytes):
    body, content_type = multipart_body(fields, {"photo": ("p.jpg", photo)})
    return _call(url, "POST", body, Authorization=f"Bearer {token}", **{"Content-Type": content_type})


def _wait_for(what, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while not (found := what()):
        assert time.monotonic() < deadline, f"waited {timeout:.0f} s in vain"
        time.sleep(0.2)
    return found


def _job_finished(path: Path, job: str) -> bool:
    """True once the worker's log says a job of this name finished (a line still being written is skipped)."""
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("job") == job and entry.get("event") == "job finished":
            return True
    return False


def _lines(path: Path) -> list[dict]:
    """Every line of a log file, parsed: one that is not a JSON object fails the test, naming it."""
    parsed = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        try:
            parsed.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"{path.name}:{number} is not JSON: {line[:200]}") from None
        assert isinstance(parsed[-1], dict), f"{path.name}:{number}"
    return parsed


def test_one_case_followed_by_its_number_through_web_worker_and_robot_with_nothing_secret_logged(
        tmp_path, settings, worker_env):
    robot = RobotServer()
    robot.url = robot.url.replace("key=test", f"key={ROBOT_KEY}")
    env = worker_env(WEBHOOK_URL=robot.url)
    files = {name: tmp_path / f"{name}.log" for name in ("web", "worker", "scheduler")}
    try:
        with gunicorn(settings, files["web"], WEB_CONCURRENCY="1", WEB_THREADS="4", WEBHOOK_URL=robot.url) \
                as (_, base, _port), rq_worker(env, files["worker"]), scheduler(env, files["scheduler"]):
            rider_token, rider_cookie = _login(base, "rider1")
            status, headers, body = _upload(f"{base}/api/v1/reports", rider_token,
                                            {**HONGQIAO, "category": "B0118",
                                             "description": f"井盖缺失，电话{RIDER_PHONE}"}, photo_jpeg())
            assert status == 201, body
            case_no, intake_id = json.loads(body)["case_no"], headers["X-Request-ID"]
            report = f"{base}/api/v1/reports/{case_no}"
            _wait_for(lambda: json.loads(_call(report, Authorization=f"Bearer {rider_token}")[2])["state"]
                      == "dispatched")
            _wait_for(lambda: robot.received)  # the dispatch told to the grid's group

            worker_token, _ = _login(base, "gw06")
            staff_token, staff_cookie = _login(base, "staff1")
            _act(base, worker_token, case_no, "start")
            assert _upload(f"{base}/api/v1/cases/{case_no}/photos", worker_token, {}, photo_jpeg(seed=2))[0] == 201
            _act(base, worker_token, case_no, "resolve", note="已修复")
            _act(base, staff_token, case_no, "close", note="核查通过")
            assert _call(f"{base}/desk/cases/{case_no}", Cookie=f"session={staff_cookie}")[0] == 200
            _wait_for(lambda: _job_finished(files["worker"], "process_after_photos"))  # the after photo's copies
    finally:
        robot.close()

    lines = {name: _lines(path) for name, path in files.items()}
    assert all(lines.values()), {name: len(found) for name, found in lines.items()}
    assert {line["process"] for name, found in lines.items() for line in found} == {"web", "worker", "scheduler"}

    # grep the case number: the web's and the worker's lines both
    of_case = [line for found in lines.values() for line in found if case_no in json.dumps(line, ensure_ascii=False)]
    assert {line["process"] for line in of_case} >= {"web", "worker"}
    desk_actions = [line for line in lines["web"] if line["event"] == "request" and line.get("case_no") == case_no
                    and line["route"] == "/api/v1/cases/<case_no>/actions"]
    assert [line["status"] for line in desk_actions] == [200, 200, 200]

    # grep the intake's request id: its request line, and the jobs it caused, the robot's message among them
    intake = [line for line in lines["web"] if line.get("request_id") == intake_id and line["event"] == "request"]
    assert intake and intake[0]["route"] == "/api/v1/reports" and intake[0]["status"] == 201
    assert intake[0]["case_no"] == case_no and intake[0]["user_id"]
    jobs = {line["job"] for line in lines["worker"] if line.get("request_id") == intake_id
            and line.get("case_no") == case_no and line["event"] == "job finished"}
    assert jobs >= {"process_new_case", "send_robot_message"}

    # and nothing secret in any file
    raw = b"".join(path.read_bytes() for path in files.values())
    secrets = {"the password": DEMO_PASSWORD, "a session cookie": rider_cookie, "another": staff_cookie,
               "a bearer token": rider_token, "another token": staff_token, "the rider's phone": RIDER_PHONE,
               "the robot's key": ROBOT_KEY}
    found = {what for what, secret in secrets.items() if secret.encode() in raw}
    assert not found
    assert JPEG_MAGIC not in raw and b"\\xff\\xd8" not in raw
