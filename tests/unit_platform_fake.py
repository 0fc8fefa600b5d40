"""A unit's own platform as a small HTTP server on loopback, answering in the XML forms of mySociety's
open311-adapter and of FixMyStreet's t/open311.t fixtures: POST requests answered with a token (or an id), the
token exchanged later, updates with extended statuses in upper case under `service_requests_updates`, and the
photos it links to. What it was sent is kept for the test to read."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

XML = '<?xml version="1.0" encoding="utf-8"?>'


@dataclass
class Received:
    """One POST requests the platform took: its form fields and its file parts (name, bytes)."""

    fields: dict[str, str]
    files: list[tuple[str, bytes]]


@dataclass
class FakePlatform:
    """What the platform answers, which the test changes as the story goes; what it was sent."""

    post_answer: str = f"{XML}<service_requests><request><token>tok-1</token></request></service_requests>"
    post_status: int = 200
    token_answer: str = (f"{XML}<service_requests><request><service_request_id>248</service_request_id>"
                         "<token>tok-1</token></request></service_requests>")
    updates: list[dict] = field(default_factory=list)
    updates_status: int = 200  # 404: a server without the updates extension
    requests_answer: str = f"{XML}<service_requests></service_requests>"
    photos: dict[str, bytes] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    asked: list[str] = field(default_factory=list)  # every GET's path and query
    url: str = ""

    def updates_xml(self) -> str:
        items = "".join("<request_update>" + "".join(f"<{k}>{v}</{k}>" for k, v in u.items()) + "</request_update>"
                        for u in self.updates)
        return f"{XML}<service_requests_updates>{items}</service_requests_updates>"


def _app(platform: FakePlatform):
    """The platform as a WSGI app."""

    @Request.application
    def answer(request: Request) -> Response:
        def xml(status: int, body: str) -> Response:
            return Response(body, status, content_type="text/xml; charset=utf-8")

        if request.method == "POST" and request.path == "/requests.xml":
            platform.received.append(Received(request.form.to_dict(),
                                              [(name, f.read()) for name, f in request.files.items(multi=True)]))
            return xml(platform.post_status, platform.post_answer)
        platform.asked.append(request.full_path)
        if request.path.startswith("/tokens/"):
            return xml(200, platform.token_answer)
        if request.path == "/servicerequestupdates.xml":
            if platform.updates_status != 200:
                return Response("not here", platform.updates_status)
            return xml(200, platform.updates_xml())
        if request.path == "/requests.xml":
            return xml(200, platform.requests_answer)
        if request.path in platform.photos:
            return Response(platform.photos[request.path], 200, content_type="image/jpeg")
        return xml(404, f"{XML}<errors><error><code>404</code><description>no such thing</description></errors>")

    return answer


class Serving:
    """The fake platform served from a thread, on a free port of 127.0.0.1."""

    def __init__(self, platform: FakePlatform):
        self.platform = platform
        self.server = make_server("127.0.0.1", 0, _app(platform), threaded=True)
        platform.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="fake-platform", daemon=True)

    def __enter__(self) -> FakePlatform:
        self.thread.start()
        return self.platform

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
