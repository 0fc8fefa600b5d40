"""Our Open311 GeoReport v2 server at /open311/v2/: discovery, services and their definitions, requests and the
requests list, tokens, and the photos their media_url links to; each in .xml and .json, errors as error lists."""
from __future__ import annotations

import hashlib
import hmac
import time
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from flask import Blueprint, request

from service import open311, open311_intake
from service.cases import take_report
from service.categories import names_en
from service.db import utcnow
from service.district import district_code
from service.geocoding import Geocoder
from service.models import Case, Photo
from service.open311 import Open311Error
from service.parsing import INT64_MAX, whole_number
from service.runtime.logs import bind_case
from service.states import CaseState
from service.web.extensions import db_session, district_index, services
from service.web.links import external_url
from service.web.open311_format import MIMETYPES, error_response, respond
from service.web.photo_files import send_photo
from service.web.throttle import limit_open311_posts

bp = Blueprint("open311", __name__)
FORMAT = "<any(xml, json):fmt>"
# discovery's contact is a required field: what it says when OPEN311_CONTACT is not set
DEFAULT_CONTACT = "请联系区管理员 (ask the district's administrators)"


@bp.errorhandler(Open311Error)
def _refused(error: Open311Error):
    return error_response(error.status, error.description)


@bp.before_request
def _reads_need_a_key_when_so_set():
    """With OPEN311_READS=key, reading requests and services takes a client's api_key too (discovery, and the
    signed media links, stay open)."""
    if services().settings.open311_reads == "key" and request.method == "GET" \
            and request.endpoint not in ("open311.discovery", "open311.media", "open311.unknown"):
        open311_intake.client_of(db_session(), request.args.get("api_key"))


@cache
def _district_code(root: Path) -> str:
    return district_code(root)


def _jurisdiction():
    """The part of the district the request's jurisdiction_id names (the whole district when none is given)."""
    return open311.jurisdiction(db_session(), request.values.get("jurisdiction_id"),
                                _district_code(services().settings.district_dir))


def base_url() -> str:
    """Our endpoint's address, with the trailing slash clients join paths to."""
    return external_url("open311.discovery", fmt="xml").removesuffix("discovery.xml")


@bp.get(f"/discovery.{FORMAT}")
def discovery(fmt: str):
    """Where our endpoint is and what it speaks (Open311 service discovery)."""
    settings = services().settings
    changeset = open311.w3c(_changed_at(settings.categories_file))
    return respond("discovery", {
        "changeset": changeset, "contact": settings.open311_contact or DEFAULT_CONTACT,
        "key_service": "向区管理员申请 api_key (ask the district's administrators for an api_key)",
        "endpoints": [{"specification": open311.SPECIFICATION, "url": base_url(), "changeset": changeset,
                       "type": "production", "formats": list(MIMETYPES.values())}]})


def _changed_at(path: Path) -> datetime:
    """When the categories (our services) last changed: their file's time."""
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


@bp.get(f"/services.{FORMAT}")
def service_list(fmt: str):
    """Every service (category) one may request."""
    _jurisdiction()
    return respond("services", open311.services(db_session(), names_en(services().settings.categories_file)))


@bp.get(f"/services/<code>.{FORMAT}")
def service_definition(code: str, fmt: str):
    """A service's attributes: the coordinate system and the client's own report id."""
    _jurisdiction()
    return respond("service_definition", open311.service_definition(db_session(), code))


def _media_url(case: Case) -> str | None:
    """A signed link to the case's first before photo (its EXIF-free web copy), for OPEN311_MEDIA_DAYS."""
    photo = next((p for p in case.photos if p.kind == "before" and p.web_path), None)
    return None if photo is None else media_link(photo)


def media_link(photo: Photo) -> str:
    """An unguessable link to the photo's web copy that anyone may open until it expires (OPEN311_MEDIA_DAYS),
    rounded up to the whole day so a photo's link stays the same all day (and caches)."""
    days = services().settings.open311_media_days
    expires = (int(time.time()) // 86400 + 1 + days) * 86400
    return external_url("open311.media", photo_id=photo.id, expires=expires, sig=_media_signature(photo.id, expires))


def _media_signature(photo_id: int, expires: int) -> str:
    """HMAC-SHA256, under the app's secret, of what a media link grants: this photo's web copy until then."""
    message = f"open311-media\n{photo_id}\n{expires}".encode()
    return hmac.new(services().settings.secret_key.encode(), message, hashlib.sha256).hexdigest()


def _requests_body(cases: list[Case]) -> list[dict]:
    units = open311.unit_names(db_session())
    return [open311.service_request(case, units, _media_url(case)) for case in cases]


@bp.get(f"/requests.{FORMAT}")
def request_list(fmt: str):
    """The requests the filters ask for: by id (overriding the rest), service, status and report time."""
    wanted = open311.RequestFilter.from_args(request.args, utcnow())
    return respond("service_requests", _requests_body(open311.find_requests(db_session(), wanted, _jurisdiction())))


@bp.post(f"/requests.{FORMAT}")
@limit_open311_posts
def create_request(fmt: str):
    """File a request as the client whose api_key it carries: its case number at once (201), or the same number
    again (200) for a request repeated with the same attribute[client_report_id] (or [fixmystreet_id]). Photos
    are optional, as multipart parts (media, or FixMyStreet's photo1...photo4)."""
    session, svc = db_session(), services()
    client = open311_intake.client_of(session, request.form.get("api_key"))
    _jurisdiction()  # an unknown one is 404 here too; the case lands in the community its point is in
    asked = open311_intake.requested_report(session, request.form, _geocoder(), client)
    photos = [f.stream for name in open311_intake.PHOTO_FIELDS for f in request.files.getlist(name)
              if f.filename or f.content_length]  # an empty file part is no photo
    intake = take_report(session, svc.photos, client.user, asked.form, photos, svc.limits, district_index(),
                         svc.settings.timezone, channel=asked.channel)
    bind_case(intake.case.case_no)
    if intake.created:
        svc.jobs.enqueue_follow_ups(intake.case.case_no, intake.follow_ups)
    answer = {"service_request_id": intake.case.case_no, "service_notice": "", "account_id": None}
    return respond("service_requests", [answer], 201 if intake.created else 200)


def _geocoder() -> Geocoder | None:
    """The geocoder OPEN311_GEOCODER_URL names, held to the district's box; None when none is set."""
    settings = services().settings
    if not settings.open311_geocoder_url:
        return None
    south, west, north, east = district_index().bounds
    return Geocoder(settings.open311_geocoder_url, settings.open311_geocoder_coords,
                    viewbox=((south, west), (north, east)), provider=settings.open311_geocoder,
                    key=settings.open311_geocoder_key)


@bp.get(f"/requests/<case_no>.{FORMAT}")
def one_request(case_no: str, fmt: str):
    """One request, as a list of one (the spec's form)."""
    return respond("service_requests", _requests_body([open311.find_request(db_session(), case_no, _jurisdiction())]))


@bp.get(f"/tokens/<token>.{FORMAT}")
def token(token: str, fmt: str):
    """The request a token stands for. We answer every POST with its case number at once, so the only tokens
    are the case numbers themselves; any other is unknown (404)."""
    case = open311.find_request(db_session(), token, _jurisdiction())
    return respond("service_requests", [{"service_request_id": case.case_no, "token": token}])


@bp.get(f"/servicerequestupdates.{FORMAT}")
def request_updates(fmt: str):
    """Every public change of state of the jurisdiction's requests between start_date and end_date (the last day
    when neither is given), for a client's api_key: mySociety's extension, which FixMyStreet polls."""
    open311_intake.client_of(db_session(), request.args.get("api_key"))
    window = open311.UpdateWindow.from_args(request.args, utcnow())
    updates = open311.find_updates(db_session(), window, _jurisdiction())
    return respond("service_request_updates", [open311.request_update(e, _after_photo_url(e)) for e in updates])


def _after_photo_url(event) -> str | None:
    """A signed link to the after photo a case was resolved with, on the updates that report it fixed or closed."""
    if event.to_state not in (CaseState.RESOLVED, CaseState.CLOSED):
        return None
    photo = next((p for p in reversed(event.case.photos) if p.kind == "after" and p.web_path), None)
    return None if photo is None else media_link(photo)


@bp.get("/media/<int:photo_id>")
def media(photo_id: int):
    """A photo's EXIF-free web copy, through the signed link a request's media_url gave; never an original."""
    try:
        expires = whole_number(request.args.get("expires", ""), 0, INT64_MAX)
    except ValueError:
        expires = None
    if expires is None or not hmac.compare_digest(request.args.get("sig", "").encode(),
                                                  _media_signature(photo_id, expires).encode()):
        raise Open311Error(403, "the media link is not valid")
    left = expires - int(time.time())
    if left < 0:
        raise Open311Error(403, "the media link has expired: read the request again for a new one")
    photo = db_session().get(Photo, photo_id) if photo_id <= INT64_MAX else None
    if photo is None or photo.web_path is None:
        raise Open311Error(404, "no such photo")
    return send_photo(photo.web_path, max_age=min(left, 86400))


@bp.route("/<path:anything>", methods=["GET", "POST"])
def unknown(anything: str):
    """Anything else under /open311/v2/: an error list, never a page."""
    raise Open311Error(404, f"{request.path} is not an Open311 resource here (try discovery.xml or services.xml)")

