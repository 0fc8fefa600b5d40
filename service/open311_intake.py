"""Open311 clients and what they send: their keys (made, rotated, revoked; kept only as hashes), and a POSTed
service request read into a report for the intake, with its contact details and photo link."""
from __future__ import annotations

import hashlib
import io
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import sqlalchemy as sa
from limits import parse_many
from sqlalchemy.orm import Session

from service.auth import Role
from service.cases import Channel, IntakeLimits, ReportForm, add_after_photos
from service.db import utcnow
from service.geocoding import Geocoder
from service.models import Case, Category, Community, Open311Client, User
from service.open311 import MAX_DESCRIPTION, Open311Error
from service.open311_remote import RemoteError, fetch_photo
from service.photo_store import PhotoStore
from service.queue import mask_phone
from service.refusals import Refused
from service.states import CaseState

KEY_BYTES = 32  # a key is 43 characters of base64url: guessing one is out of the question, so SHA-256 keeps it
CONTACT_FIELDS = {"email": 254, "first_name": 64, "last_name": 64, "phone": 32, "device_id": 128, "account_id": 128}
ID_ATTRIBUTES = ("client_report_id", "fixmystreet_id")  # the client's own id of a report; FixMyStreet's name for it
PHOTO_FIELDS = ("media", "photo", "photo1", "photo2", "photo3", "photo4")  # the spec's, and FixMyStreet's parts
_TAG = re.compile(r"<\s*/?\s*[A-Za-z!][^<>]*>")

log = logging.getLogger(__name__)


def hashed_key(key: str) -> str:
    """A client's key as it is kept: its SHA-256, in hex."""
    return hashlib.sha256(key.encode()).hexdigest()


def client_limit(session: Session, key: str) -> str | None:
    """The rate limit the desk set for the client with this key, or None (the default applies)."""
    return session.scalar(sa.select(Open311Client.rate_limit).where(Open311Client.key_hash == hashed_key(key)))


def add_client(session: Session, name: str, now: datetime | None = None) -> tuple[Open311Client, str]:
    """A new client with its service account, and its key: shown this once, kept only as a hash."""
    name = " ".join(name.split())
    if not name or len(name) > 64 or not name.isprintable():
        raise Refused("invalid", "bad_client_name", "客户端名称须为 1 至 64 个字符", "a client's name is 1 to 64 "
                      "printable characters", "name")
    if session.scalar(sa.select(Open311Client.id).where(Open311Client.name == name)) is not None:
        raise Refused("conflict", "client_exists", f"已有名为 {name} 的客户端", f"there is already a client named "
                      f"{name}", "name")
    now = now or utcnow()
    account = User(username=f"open311:{secrets.token_hex(8)}", display_name=name[:100], role=Role.OPEN311,
                   password_hash=None, created_at=now)
    key = secrets.token_urlsafe(KEY_BYTES)
    client = Open311Client(name=name, user=account, key_hash=hashed_key(key), created_at=now, key_changed_at=now)
    session.add_all([account, client])
    session.commit()
    return client, key


def rotate_key(session: Session, client: Open311Client, now: datetime | None = None) -> str:
    """A new key for the client, the old one refused from now on."""
    key = secrets.token_urlsafe(KEY_BYTES)
    client.key_hash, client.key_changed_at = hashed_key(key), now or utcnow()
    session.commit()
    return key


def revoke(session: Session, client: Open311Client, now: datetime | None = None) -> None:
    """The client's key refused from now on; its cases stay, as the cases of a reporter who left."""
    client.revoked_at = now or utcnow()
    client.user.active = False
    session.commit()


def set_rate_limit(session: Session, client: Open311Client, limit: str) -> None:
    """The client's own limit on its POSTs, in Flask-Limiter's notation ("120 per minute"); empty: the default."""
    limit = limit.strip()
    if limit:
        try:
            parse_many(limit)
        except ValueError:
            raise Refused("invalid", "bad_rate_limit", f"限流格式不对：{limit}（例如 120 per minute）",
                          f"not a rate limit: {limit} (say 120 per minute)", "rate_limit") from None
        if len(limit) > 32:
            raise Refused("invalid", "bad_rate_limit", "限流不能超过 32 个字符",
                          "a rate limit is at most 32 characters", "rate_limit")
    client.rate_limit = limit or None
    session.commit()


def set_default_community(session: Session, client: Open311Client, code: str) -> None:
    """The community whose desk takes the client's requests that cannot be placed; empty: none (refused)."""
    community = None
    if code.strip():
        community = session.scalar(sa.select(Community).where(Community.code == code.strip()))
        if community is None:
            raise Refused("invalid", "unknown_community", f"没有该社区：{code[:32]}", f"no such community: {code[:32]}",
                          "community")
    client.community = community
    session.commit()


def clients(session: Session) -> list[tuple[Open311Client, int]]:
    """Every client, by name, with how many cases it has filed."""
    filed = sa.select(sa.func.count()).where(Case.reporter_id == Open311Client.user_id).scalar_subquery()
    return [(c, n) for c, n in session.execute(sa.select(Open311Client, filed).order_by(Open311Client.name))]


def client_of(session: Session, key: str | None) -> Open311Client:
    """The client whose key this is; 403 for no key, a wrong one or a revoked client's."""
    if not key:
        raise Open311Error(403, "api_key is required")
    client = session.scalar(sa.select(Open311Client).where(Open311Client.key_hash == hashed_key(key)))
    if client is None or client.revoked_at is not None:
        raise Open311Error(403, "api_key is not valid")
    return client


@dataclass(frozen=True)
class RequestedReport:
    """A POSTed request as the intake takes it: the report's fields and how it came."""

    form: ReportForm
    channel: Channel


def requested_report(session: Session, values, geocoder: Geocoder | None = None,
                     client: Open311Client | None = None) -> RequestedReport:
    """The report a POST requests asks for, from its form values (an address_string placed by the geocoder, when
    there is one and no lat and long; one that cannot be placed goes with no location to the client's default
    community's desk, when it has one); 400 for a missing or bad field, 404 for an unknown service."""
    code = _one(values, "service_code")
    if not code:
        raise Open311Error(400, "service_code is required")
    known = session.scalar(sa.select(Category.id).where(Category.code == code, Category.active.is_(True)))
    if known is None:
        raise Open311Error(404, f"service_code {code} is not a service of this district")
    lat, lon, coord_system = _one(values, "lat"), _one(values, "long"), _one(values, "attribute[coord_system]")
    address = _one(values, "address_string")
    default_desk = client.community_id if client is not None else None
    if not (lat or lon) and address:
        try:
            lat, lon = _placed(address, geocoder)
        except Open311Error:
            if default_desk is None:
                raise
            lat = lon = None  # its staff place it by the address, kept in the contact
        coord_system = "wgs84"  # the geocoder's answer, converted
    elif not (lat and lon):
        raise Open311Error(400, "lat and long are required (or address_string, where this server geocodes)")
    description = _one(values, "description") or ""
    if len(description) > MAX_DESCRIPTION:
        raise Open311Error(400, f"description is longer than {MAX_DESCRIPTION} characters")
    if _TAG.search(description):
        raise Open311Error(400, "description may not hold HTML")
    if any(not c.isprintable() and c not in "\t\r\n" for c in description):
        raise Open311Error(400, "description may hold line breaks but no other control characters")
    report_id = next((v for v in (_one(values, f"attribute[{a}]") for a in ID_ATTRIBUTES) if v), None)
    form = ReportForm(category=code, lat=lat, lon=lon, coord_system=coord_system, description=description,
                      client_report_id=report_id)
    contact = {**(_contact(values) or {}), **({"address": address[:200]} if address else {})} or None
    return RequestedReport(form, Channel(photos_required=False, max_description=MAX_DESCRIPTION, contact=contact,
                                         media_url=_media_url(values), community_id=default_desk))


def _placed(address: str, geocoder: Geocoder | None) -> tuple[str, str]:
    """The address's WGS-84 point as text for the intake; 400 when this server geocodes nothing, or cannot."""
    if geocoder is None:
        raise Open311Error(400, "this server does not geocode addresses: send lat and long")
    point = geocoder.place(address)
    if point is None:
        raise Open311Error(400, f"address_string {address[:100]} could not be placed: send lat and long")
    return f"{point[0]:.7f}", f"{point[1]:.7f}"


def _one(values, name: str) -> str | None:
    """A parameter's value, stripped; None when absent or empty (the spec: an empty one is an absent one)."""
    value = values.get(name)
    return value.strip() or None if isinstance(value, str) else None


def _contact(values) -> dict | None:
    """The person to reach about the request, as the client gave them (deviceid: FixMyStreet's spelling)."""
    contact = {}
    for name, most in CONTACT_FIELDS.items():
        value = _one(values, name) or (_one(values, "deviceid") if name == "device_id" else None)
        if value is None:
            continue
        if len(value) > most or not value.isprintable():
            raise Open311Error(400, f"{name} must be at most {most} printable characters")
        contact[name] = value
    return contact or None


def mask_email(email: str) -> str:
    """An email address as staff may see it: z***@example.cn."""
    name, at, domain = email.partition("@")
    return f"{name[:1]}***{at}{domain}" if at else "***"


def seen_by_staff(case: Case) -> dict | None:
    """How a case another system filed shows at the desk: that system's name (the channel), the person's name,
    their phone and email masked as phones are, the device, the address it gave and the photo link it sent; None for
    a rider's case."""
    if case.reporter.role != Role.OPEN311:
        return None
    contact = case.contact or {}
    name = " ".join(contact[k] for k in ("last_name", "first_name") if contact.get(k))  # 张三: family name first
    return {"channel": case.reporter.display_name, "name": name, "phone": mask_phone(contact.get("phone")),
            "email": mask_email(contact["email"]) if contact.get("email") else "",
            "device_id": contact.get("device_id", ""), "account_id": contact.get("account_id", ""),
            "media_url": case.media_url or "", "address": contact.get("address", "")}


def _media_url(values) -> str | None:
    """The photo link the client sent, checked to be an http(s) URL: kept for staff, fetched only from a host of
    OPEN311_MEDIA_HOSTS (fetch_linked_photo)."""
    url = _one(values, "media_url")
    if url is None:
        return None
    parts = urlsplit(url)
    if len(url) > 2000 or parts.scheme not in ("http", "https") or not parts.netloc or not url.isprintable() \
            or any(c.isspace() for c in url):
        raise Open311Error(400, "media_url must be an http or https URL of at most 2000 characters")
    return url


def fetch_linked_photo(session: Session, store: PhotoStore, case_id: int, limits: IntakeLimits,
                       hosts: frozenset[str]) -> None:
    """A new Open311 case that came with no photo but a media_url on a host of OPEN311_MEDIA_HOSTS: that photo kept
    as its own before the pipeline processes the case (in the worker, never while the client waits). A photo that
    cannot be had, or is not a photo, leaves the case without one: the link stays for staff."""
    case = session.get(Case, case_id)
    if case is None or case.state != CaseState.NEW or not case.media_url or case.photos or not hosts:
        return
    try:
        data = fetch_photo(case.media_url, limits.max_photo_bytes, hosts)
        add_after_photos(session, store, case, [io.BytesIO(data)], limits, kind="before")
    except (RemoteError, Refused) as error:
        session.rollback()
        log.warning("case %s: its linked photo was not kept: %s", case.case_no, error)
