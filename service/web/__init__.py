"""The Flask face: create_app wires settings, the database, photo store and job queue to the blueprints."""
from __future__ import annotations

from datetime import timedelta

from flask import Flask, current_app, request, session
from werkzeug.middleware.proxy_fix import ProxyFix

from config import Settings
from service.actions import DeskRules
from service.cases import IntakeLimits
from service.db import Database
from service.dispatch import KeptIndex
from service.district import district_name
from service.event_words import SEND_BACK_REASONS, event_line
from service.local_time import SHORT, local_time
from service.photo_store import RIDER_WAITING, photo_store_for
from service.points import hold_words
from service.runtime.jobqueue import JobQueue, redis_connection
from service.states import FINAL, OPEN, WORKED, CaseState
from service.web import (
    api,
    assets,
    auth_pages,
    casework,
    commands,
    desk,
    errors,
    exchange_desk,
    field,
    good_deeds,
    jobs_desk,
    main,
    metrics,
    open311,
    open311_desk,
    publicity,
    reports,
    request_bodies,
    request_log,
    rider_api,
    security,
    wallet,
    wallet_api,
)
from service.web.access import DailyRenewedSessions, current_user, uses_bearer_token
from service.web.extensions import Services, close_db_session, compress, csrf, limiter


def _check_csrf() -> None:
    """Every POST a session could authorise carries a CSRF token (a form field, or X-CSRFToken from scripts).

    That is every page form, and API calls made with a logged-in session cookie. Requests with a bearer token
    are exempt (a browser never sends one on its own), as are API calls with no session, which are refused
    as not logged in anyway, the API login itself, and Open311 (its api_key is in the body). A request no route
    takes is answered 404 or 405 first.
    """
    if request.method != "POST" or uses_bearer_token() or request.endpoint == "api.login" \
            or request.routing_exception is not None or not current_app.config["WTF_CSRF_ENABLED"] \
            or request.blueprint == "open311":  # authorised by the client's api_key in the body, never a cookie
        return
    if "uid" in session or not request.path.startswith("/api/"):
        csrf.protect()


def register_extensions(app: Flask, settings: Settings) -> None:
    """Build the services and close each request's session at its end."""
    limits = IntakeLimits(settings.max_photos, settings.max_photo_bytes, settings.max_photo_pixels)
    app.extensions["snap"] = Services(
        settings=settings,
        db=Database(settings.database_url),
        photos=photo_store_for(settings, RIDER_WAITING),
        jobs=JobQueue(redis_connection(settings.redis_url)),
        district=KeptIndex(settings.grid_snap_m, district_name(settings.district_dir)),
        limits=limits,
        desk_rules=DeskRules.from_settings(settings),
    )
    app.teardown_appcontext(close_db_session)
    request_bodies.init_app(app)  # first: each check after it may read the body
    csrf.init_app(app)
    app.before_request(_check_csrf)
    limiter.init_app(app)
    compress.init_app(app)
    metrics.init_app(app)  # GET /metrics, and every request, report and upload counted


def register_blueprints(app: Flask) -> None:
    app.register_blueprint(main.bp)
    app.register_blueprint(auth_pages.bp)
    app.register_blueprint(desk.bp)
    app.register_blueprint(field.bp)
    app.register_blueprint(reports.bp)
    app.register_blueprint(api.bp, url_prefix="/api/v1")
    app.register_blueprint(casework.bp, url_prefix="/api/v1")
    app.register_blueprint(rider_api.bp, url_prefix="/api/v1")
    app.register_blueprint(wallet_api.bp, url_prefix="/api/v1")
    app.register_blueprint(wallet.bp)
    app.register_blueprint(exchange_desk.bp)
    app.register_blueprint(good_deeds.bp)
    app.register_blueprint(publicity.bp)
    app.register_blueprint(open311.bp, url_prefix="/open311/v2")
    app.register_blueprint(open311_desk.bp)
    app.register_blueprint(jobs_desk.bp)


STATE_CONTEXT = {"CaseState": CaseState, "OPEN": OPEN, "WORKED": WORKED, "FINAL": FINAL,
                 "SEND_BACK_REASONS": SEND_BACK_REASONS}


def register_template_helpers(app: Flask, settings: Settings) -> None:
    """`current_user()` and the case states (`CaseState`, the groups `OPEN`, `WORKED`, `FINAL`) in every template,
    the `local` filter for times in the community's zone, the maps' tiles (`MAP_TILES`), `event_line`, a case event's
    line in Chinese, and `unread_notifications()`, the bell's count when the page is made."""
    app.context_processor(lambda: {"current_user": current_user, **STATE_CONTEXT})
    app.add_template_filter(lambda t: local_time(t, settings.timezone, SHORT), "local")
    app.add_template_filter(lambda e: event_line(e.action, e.facts, e.note, "zh", api.reading()), "event_line")
    app.add_template_global(api.my_unread_count, "unread_notifications")
    app.add_template_global(hold_words, "hold_words")  # why a case's points are held (service.points)
    # every map's tiles as data: data-tiles="{{ MAP_TILES }}" (static/js/basemap.js reads it); "" for none
    app.add_template_global(settings.tiles.page_data() if settings.tiles else "", "MAP_TILES")


def register_static(app: Flask) -> None:
    """Static files from the fingerprinted build (made now if the sources changed): WhiteNoise serves them
    precompressed and immutable before Flask sees the request; templates get static_url() and import_map().
    The app's own GET answers are revalidated by ETag."""
    built = assets.build()
    app.extensions["assets"] = built
    app.add_template_global(built.url, "static_url")
    app.add_template_global(built.import_map_tag, "import_map")
    app.wsgi_app = assets.StaticFiles(app.wsgi_app)
    app.after_request(_conditional_get)


def _conditional_get(response):
    """A JSON answer to a GET gets an ETag, and a browser that holds the same answer gets a 304 instead of the
    body again (the rider's categories and grids on every visit: the service worker asks with If-None-Match).
    Pages carry a fresh CSRF token each time, so an ETag would never match."""
    if request.method == "GET" and response.status_code == 200 and response.mimetype == "application/json" \
            and not response.is_streamed and "ETag" not in response.headers:
        response.add_etag()
        response.make_conditional(request)
    return response


def register_security_headers(app: Flask, settings: Settings) -> None:
    """CSP, nosniff, no framing, same-origin referrers, HSTS on https; photos cached privately."""
    security.init_app(app, settings, app.extensions["assets"])


def register_errorhandlers(app: Flask) -> None:
    errors.init_app(app)


def register_commands(app: Flask) -> None:
    commands.init_app(app)


def create_app(settings: Settings | None = None) -> Flask:
    """The web application for the given settings (read from the environment when not given)."""
    settings = settings or Settings.from_env()
    app = Flask(__name__, static_folder=None)  # static files: register_static
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SECURE=settings.https,  # PUBLIC_URL is https: the cookie never travels in the clear
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(days=30),
        # the whole body: every photo at its limit plus the text fields; beyond it werkzeug answers 413 unread
        MAX_CONTENT_LENGTH=settings.max_photos * settings.max_photo_bytes + 1024 * 1024,
        MAX_FORM_MEMORY_SIZE=512 * 1024,  # text fields; werkzeug also bounds its parse buffer by it
        MAX_FORM_PARTS=50,
        JSON_AS_ASCII=False,
        WTF_CSRF_CHECK_DEFAULT=False,  # checked in _check_csrf, which knows about bearer tokens
        WTF_CSRF_TIME_LIMIT=None,  # valid for the session's life: a rider's page may stay open for hours
        RATELIMIT_STORAGE_URI=settings.redis_url,
        RATELIMIT_KEY_PREFIX="snap-limits",
        # pages and JSON: gzip, which every phone browser reads (brotli would cost the server more CPU);
        # streamed answers too, which Flask-Compress would otherwise give only to zstd/br/deflate clients.
        # Static files never get here: they are precompressed (register_static).
        COMPRESS_ALGORITHM="gzip",
        COMPRESS_ALGORITHM_STREAMING="gzip",
        COMPRESS_MIN_SIZE=500,  # the web manifest (685 bytes) and a cell's grids among them
    )
    app.json.ensure_ascii = False
    app.session_interface = DailyRenewedSessions()
    if settings.trusted_proxies:  # the rider's own address (for the rate limits) from the proxies in front
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies, x_proto=settings.trusted_proxies,
                                x_host=settings.trusted_proxies)
    register_extensions(app, settings)
    register_static(app)
    register_security_headers(app, settings)
    register_blueprints(app)
    register_template_helpers(app, settings)
    register_errorhandlers(app)
    register_commands(app)
    request_log.init_app(app)  # last: the outermost layer, around the static files too
    return app
