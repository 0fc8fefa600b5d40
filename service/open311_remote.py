"""Talking to another system's GeoReport v2 server (a unit's own platform): posting a request, reading tokens,
updates and requests in XML or JSON, and fetching a photo it links to — each answer read within a size cap.

Servers differ (GeoReport v2, mySociety's updates extension, open311-adapter, FixMyStreet's fixtures): a POST is
answered with an id or with a token; an element's root name varies; statuses come in either case; an error list may
be malformed or plain text. This reads all of those and tells a failure apart from "not offered" (404, 400, 501)."""
from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urljoin, urlsplit
from xml.parsers.expat import ExpatError

import requests
import xmltodict

TIMEOUT_S = (5, 20)  # connecting, then each read
MAX_DOCUMENT_BYTES = 4 * 1024 * 1024
NOT_OFFERED = {400, 404, 405, 501}  # how a server says it has no such resource (the updates extension is optional)
USER_AGENT = "snap-and-report (Open311 client)"


class RemoteError(Exception):
    """A unit's platform could not be reached, refused a call, or answered something unreadable. `status` is the
    HTTP status when there was one; `not_offered` says the server has no such resource."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status

    @property
    def not_offered(self) -> bool:
        return self.status in NOT_OFFERED


@dataclass(frozen=True)
class Photo:
    """A photo to send as a multipart part: its file name, bytes and media type."""

    name: str
    data: bytes
    media_type: str = "image/jpeg"


@dataclass(frozen=True)
class Posted:
    """What a POST requests answered: the request's id, or a token to exchange for it later."""

    service_request_id: str | None
    token: str | None


@dataclass(frozen=True)
class RemoteUpdate:
    """One change a platform reports on a request: its update id (unique on that platform), the request, the
    status (upper case, the extended set), when, the platform's words and its photo's link."""

    update_id: str
    service_request_id: str
    status: str
    updated_at: datetime | None
    description: str
    media_url: str | None


@dataclass
class Platform:
    """One Open311 server: its endpoint (ending in /), key, jurisdiction and format (xml, as every server speaks,
    or json)."""

    endpoint: str
    api_key: str = ""
    jurisdiction_id: str | None = None
    format: str = "xml"
    session: requests.Session = field(default_factory=requests.Session, repr=False)

    def __post_init__(self):
        self.endpoint = self.endpoint.rstrip("/") + "/"
        self.session.headers["User-Agent"] = USER_AGENT

    @property
    def host(self) -> str:
        return (urlsplit(self.endpoint).hostname or "").lower()

    def _url(self, resource: str) -> str:
        return urljoin(self.endpoint, f"{resource}.{self.format}")

    def _common(self) -> dict[str, str]:
        return {"jurisdiction_id": self.jurisdiction_id} if self.jurisdiction_id else {}

    def _call(self, method: str, resource: str, **kwargs) -> list[dict]:
        """The answer's elements as plain dicts, or RemoteError with the server's own error text when it gave one."""
        try:
            answer = self.session.request(method, self._url(resource), timeout=TIMEOUT_S, stream=True,
                                          allow_redirects=False, **kwargs)
            body = _read_capped(answer, MAX_DOCUMENT_BYTES)
        except requests.RequestException as error:
            raise RemoteError(f"{resource}: {type(error).__name__}: {error}") from None
        if answer.status_code >= 300:
            raise RemoteError(f"{resource}: HTTP {answer.status_code}: {_error_text(body)}", answer.status_code)
        if _is_error_list(body, self.format):
            raise RemoteError(f"{resource}: {_error_text(body)}", answer.status_code)
        try:
            return _elements(body, self.format)
        except RemoteError as error:
            raise RemoteError(f"{resource}: {error} ({_error_text(body)})") from None

    def post_request(self, fields: dict[str, str], photos: list[Photo]) -> Posted:
        """POST requests: the fields (as the spec names them, attribute[...] included) and the photos as `media`
        parts; the new request's id or token. An answer with neither is a failure (FixMyStreet's rule)."""
        data = {**self._common(), "api_key": self.api_key, **fields}
        files = [("media", (p.name, io.BytesIO(p.data), p.media_type)) for p in photos]
        elements = self._call("POST", "requests", data=data, files=files or None)
        first = elements[0] if elements else {}
        posted = Posted(_text(first, "service_request_id"), _text(first, "token"))
        if not (posted.service_request_id or posted.token):
            raise RemoteError("requests: the answer holds neither a service_request_id nor a token")
        return posted

    def request_id_of(self, token: str) -> str | None:
        """GET tokens/{token}: the request's id once the server has made it (None while it has not)."""
        elements = self._call("GET", f"tokens/{token}", params=self._common())
        return next((i for i in (_text(e, "service_request_id") for e in elements) if i), None)

    def updates(self, start: datetime, end: datetime) -> list[RemoteUpdate]:
        """GET servicerequestupdates between two instants: every update, in the order given."""
        params = {**self._common(), "api_key": self.api_key, "start_date": _w3c(start), "end_date": _w3c(end)}
        return [u for u in (_update(e) for e in self._call("GET", "servicerequestupdates", params=params)) if u]

    def requests_by_id(self, ids: list[str]) -> list[dict]:
        """GET requests with a service_request_id list (the spec's fallback for following requests): each as
        {service_request_id, status (OPEN/CLOSED), status_notes, updated_datetime, media_url}."""
        params = {**self._common(), "service_request_id": ",".join(ids)}
        return self._call("GET", "requests", params=params)

    def fetch_photo(self, url: str, max_bytes: int, allowed_hosts: frozenset[str]) -> bytes:
        """A photo the platform links to (a link relative to its endpoint, or on its own host or one the district
        allows), at most max_bytes."""
        return fetch_photo(urljoin(self.endpoint, url), max_bytes, allowed_hosts | {self.host}, self.session)


def fetch_photo(url: str, max_bytes: int, allowed_hosts: frozenset[str],
                session: requests.Session | None = None) -> bytes:
    """A photo another system links to, only from the hosts named (OPEN311_MEDIA_HOSTS: never an address anyone
    could give, such as one inside our own network), at most max_bytes, not following redirects."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or (parts.hostname or "").lower() not in allowed_hosts:
        raise RemoteError(f"photo: {parts.hostname or url!r} is not an allowed host")
    try:
        answer = (session or requests).get(url, timeout=TIMEOUT_S, stream=True, allow_redirects=False,
                                           headers={"User-Agent": USER_AGENT})
        body = _read_capped(answer, max_bytes)
    except requests.RequestException as error:
        raise RemoteError(f"photo: {type(error).__name__}: {error}") from None
    if answer.status_code != 200:
        raise RemoteError(f"photo: HTTP {answer.status_code}", answer.status_code)
    return body


def _read_capped(answer: requests.Response, cap: int) -> bytes:
    """The body, refused past `cap` bytes (a hostile or broken server cannot fill our memory)."""
    chunks, size = [], 0
    try:
        for chunk in answer.iter_content(64 * 1024):
            size += len(chunk)
            if size > cap:
                raise RemoteError(f"the answer is larger than {cap} bytes")
            chunks.append(chunk)
    finally:
        answer.close()
    return b"".join(chunks)


def _w3c(instant: datetime) -> str:
    return instant.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _parse(body: bytes, fmt: str):
    if fmt == "json":
        return json.loads(body)
    return xmltodict.parse(body, disable_entities=True)


def _elements(body: bytes, fmt: str) -> list[dict]:
    """The answer's elements: JSON's array (or one object), or the XML root's repeated child, whatever it is named
    (request, request_update, error...)."""
    try:
        document = _parse(body, fmt)
    except (ValueError, ExpatError) as error:
        raise RemoteError(f"unreadable {fmt}: {error}") from None
    if fmt == "json":
        items = document if isinstance(document, list) else [document]
        return [i for i in items if isinstance(i, dict)]
    if not isinstance(document, dict) or len(document) != 1:
        raise RemoteError("unreadable xml: no root element")
    root = next(iter(document.values()))
    if not isinstance(root, dict):
        return []
    children = [v for k, v in root.items() if not k.startswith("@")]
    items = children[0] if len(children) == 1 else children
    items = items if isinstance(items, list) else [items]
    return [i for i in items if isinstance(i, dict)]


def _is_error_list(body: bytes, fmt: str) -> bool:
    """An error list where a document was expected (some servers answer errors with 200)."""
    head = body.lstrip()[:200]
    if fmt == "json":
        return head.startswith(b"[") and b'"code"' in head and b'"description"' in head and b"service_" not in head
    return b"<errors" in head


def _error_text(body: bytes) -> str:
    """The server's own error words (an XML or JSON error list, even a malformed one), else "unknown error"."""
    text = body[:2000].decode("utf-8", "replace")
    for start, end in (("<description>", "</description"), ('"description": "', '"'), ('"description":"', '"')):
        if start in text:
            return text.split(start, 1)[1].split(end, 1)[0].strip() or "unknown error"
    return "unknown error"


def _text(element: dict, name: str) -> str | None:
    """A field's text, stripped; None when absent, empty or not plain text (FixMyStreet: bad data is no id)."""
    value = element.get(name)
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return None
    return value.strip() or None


def parse_instant(value: str | None) -> datetime | None:
    """A W3C date-time as servers send it (with Z or an offset); None when missing or unreadable."""
    if not value:
        return None
    try:
        instant = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return instant if instant.tzinfo else None


def _update(element: dict) -> RemoteUpdate | None:
    update_id, request_id, status = (_text(element, n) for n in ("update_id", "service_request_id", "status"))
    if not (update_id and request_id and status):
        return None
    return RemoteUpdate(update_id, request_id, status.upper(), parse_instant(_text(element, "updated_datetime")),
                        _text(element, "description") or "", _text(element, "media_url"))
