"""Settings read from the environment, with the embedded defaults that `make run` needs."""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from config.map_tiles import MapTiles, map_tiles

ROOT = Path(__file__).resolve().parent.parent
DISTRICT_DIR = Path(__file__).resolve().parent / "district"
METRICS_TOKEN_MIN_LENGTH = 24  # characters: out of reach of guessing over the network even if not random hex


def _int(env: dict, name: str, default: int) -> int:
    """Read an integer setting, naming the variable when it is not one."""
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None


def kept_secret(instance_dir: Path, name: str, nbytes: int = 32) -> str:
    """Return a secret generated once and kept in instance/<name>, so restarts keep sessions and logins."""
    path = instance_dir / name
    if path.exists():
        return path.read_text().strip()
    instance_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(nbytes)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    return value


def _embedded_redis_url(env: dict, instance_dir: Path) -> str:
    """The embedded server's URL on loopback, with a password generated once and kept in instance/redis_password."""
    port = _int(env, "EMBEDDED_REDIS_PORT", 6389)
    return f"redis://:{kept_secret(instance_dir, 'redis_password')}@127.0.0.1:{port}/0"


def _public_url(raw: str | None) -> str | None:
    """Check PUBLIC_URL (http or https and a host, nothing after it) when it is read; keep it without a slash."""
    from urllib.parse import urlsplit

    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/") \
            or parts.query or parts.fragment:
        raise ValueError(f"PUBLIC_URL must be an address such as https://snap.example.cn, got {raw!r}")
    return raw.rstrip("/")


def _metrics_token(raw: str | None) -> str | None:
    """Check METRICS_TOKEN when it is read: unset turns metrics off; a short one, or the example's placeholder,
    would leave /metrics open to a guess, so either refuses to start."""
    if not raw:
        return None
    if raw.upper().startswith("CHANGE-ME"):
        raise ValueError("METRICS_TOKEN is still the example's placeholder: set a random one of 24 characters or "
                         "more (e.g. `openssl rand -hex 24`), or unset it to turn metrics off")
    if len(raw) < METRICS_TOKEN_MIN_LENGTH:
        raise ValueError(f"METRICS_TOKEN must be at least {METRICS_TOKEN_MIN_LENGTH} characters, got {len(raw)}")
    return raw


def _rate_limit(name: str, raw: str) -> str:
    """Check a rate limit such as "30 per 10 minutes" when it is read, naming the variable when it is not one."""
    from limits import parse_many

    try:
        parse_many(raw)
    except ValueError:
        raise ValueError(f"{name} must be a rate limit such as '30 per 10 minutes', got {raw!r}") from None
    return raw


@dataclass(frozen=True)
class ObjectStoreAccess:
    """How to reach the photos' bucket: PHOTO_STORE=s3://bucket[/prefix], S3_ENDPOINT_URL, S3_ACCESS_KEY_ID,
    S3_SECRET_ACCESS_KEY, S3_REGION (service/photo_store.py)."""

    bucket: str
    prefix: str
    endpoint_url: str | None
    access_key_id: str | None
    secret_access_key: str | None = field(repr=False)
    region: str = "us-east-1"


def object_store_access(env: dict) -> ObjectStoreAccess | None:
    """PHOTO_STORE read: unset or a folder path keeps photos under MEDIA_DIR; s3://bucket[/prefix] names a bucket."""
    from urllib.parse import urlsplit

    raw = env.get("PHOTO_STORE") or ""
    if not raw.startswith("s3://"):
        if raw:
            raise ValueError(f"PHOTO_STORE must be s3://bucket[/prefix] (or unset for MEDIA_DIR), got {raw!r}")
        return None
    parts = urlsplit(raw)
    if not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"PHOTO_STORE must be s3://bucket[/prefix], got {raw!r}")
    return ObjectStoreAccess(bucket=parts.netloc, prefix=parts.path.strip("/"),
                             endpoint_url=env.get("S3_ENDPOINT_URL") or None,
                             access_key_id=env.get("S3_ACCESS_KEY_ID") or None,
                             secret_access_key=env.get("S3_SECRET_ACCESS_KEY") or None,
                             region=env.get("S3_REGION") or "us-east-1")


@dataclass(frozen=True)
class Settings:
    """Everything the service reads from its environment, resolved to concrete values."""

    instance_dir: Path
    database_url: str
    redis_url: str
    embedded_redis: bool  # True when REDIS_URL is unset: `make run` starts the server at redis_url itself
    media_dir: Path
    secret_key: str
    photo_objects: ObjectStoreAccess | None = None  # None: photos under media_dir
    max_photo_mb: int = 15
    max_photos: int = 4
    max_photo_pixels: int = 100_000_000
    # memory one photo's decoding may take in a worker, MiB, reckoned from its header: a 48 MP HEIC 232, 12 MP 80
    max_decode_mb: int = 240
    max_json_kb: int = 64  # a JSON request body; beyond it 413 unread
    timezone: str = "Asia/Shanghai"
    demo_password: str | None = None  # None: generated once under instance/
    district_dir: Path = DISTRICT_DIR  # the district's files: its offices, communities, grids, people, categories
    stale_new_minutes: int = 2
    max_processing_attempts: int = 5
    webhook_url: str | None = None  # the staff group's robot; grids may name their own in grids.geojson
    grid_snap_m: int = 30
    duplicate_radius_m: int = 50
    me_too_radius_m: int = 100  # how near the case a "me too" must be sent from (the caller's own fix)
    nearby_thumb_minutes: int = 10  # how long the signed thumbnail links of /api/v1/nearby work
    duplicate_days: int = 14
    duplicate_hash_bits: int = 10
    location_mismatch_m: int = 200
    old_photo_hours: int = 24
    # the maps' tiles (config/map_tiles.py): a preset (tianditu, osm, amap, tencent, custom), its template overridden
    # by map_tiles_url, the system custom tiles are drawn in, the key 天地图 needs; none at all in a closed network
    map_tiles: str | None = None
    map_tiles_url: str | None = None
    map_tiles_crs: str | None = None
    map_tiles_key: str | None = None
    # rate limits, in Flask-Limiter's notation; counted in Redis, so they lapse (never lock out) while it is down
    intake_limit_per_user: str = "30 per 10 minutes"
    intake_limit_per_address: str = "600 per 10 minutes"  # riders share carrier NAT addresses: keep it wide
    login_limit_per_account: str = "5 per 5 minutes"  # failed logins only
    login_limit_per_address: str = "30 per 10 minutes"  # failed logins only
    # each answer hands out signed thumbnail links of the cases near a point: no sweeping the district with it
    nearby_limit_per_user: str = "120 per 10 minutes"
    # redemption codes a staff member sends that name no code (six digits typed wrong, or guessed)
    code_guess_limit_per_staff: str = "20 per 10 minutes"
    # what one Open311 client may POST (a hotline files a few hundred cases a day); a client's own limit, set at the
    # desk, overrides it
    open311_limit_per_client: str = "600 per 10 minutes"
    trusted_proxies: int = 0  # reverse proxies in front that set X-Forwarded-For/-Proto; 0: use the peer address
    token_days: int = 30  # a bearer token works this long after its login
    public_url: str | None = None  # the address people use, e.g. https://snap.example.cn; None: as each request came
    # Open311 (/open311/v2/): who to ask about it, whether reading needs a client's api_key ("open" or "key"), and
    # how long the signed photo links of its requests work
    open311_contact: str = ""
    open311_reads: str = "open"
    open311_media_days: int = 90
    # a Nominatim-compatible geocoder for Open311's address_string (None: off, addresses are refused), and the
    # coordinate system its answers are in (a Chinese service's: gcj02 or bd09)
    open311_geocoder_url: str | None = None
    open311_geocoder_coords: str = "wgs84"
    open311_geocoder: str = "nominatim"  # or "baidu" (its geocoding API v3, answering BD-09), with its key (ak)
    open311_geocoder_key: str = ""
    # the hosts whose photos we fetch for Open311 (a request's media_url; a unit's platform's own host is trusted
    # besides), and how often the units' platforms are asked for their updates, in seconds
    open311_media_hosts: frozenset[str] = frozenset()
    open311_poll_seconds: int = 300
    # the points scheme: quarters a point lives after the quarter it was earned in, and the most a rider's
    # reports of one day earn
    points_expire_quarters: int = 4
    points_daily_cap: int = 50
    # metrics for Prometheus: the bearer token a scraper must send (None: /metrics and the collector answer 404),
    # and where the collector process (`python -m workers.metrics`) listens
    metrics_token: str | None = field(default=None, repr=False)
    metrics_bind: str = "127.0.0.1"
    metrics_port: int = 9108
    # the PostgreSQL tools backups run (service/backups.py); None: the newest installed
    pg_dump: str | None = None
    pg_restore: str | None = None
    # where `flask backup` puts backups when --to is not given (else instance/backups); the metrics collector reads
    # its last_success.json when set
    backup_dir: Path | None = None
    tiles: MapTiles | None = field(init=False, default=None, repr=False)  # the four map_tiles settings, resolved

    def __post_init__(self):
        # resolved (and refused, with a ValueError naming the variable) when the settings are made: at start-up
        object.__setattr__(self, "tiles", map_tiles(self.map_tiles, self.map_tiles_url, self.map_tiles_crs,
                                                    self.map_tiles_key))

    @property
    def https(self) -> bool:
        """True when people reach the service over https: cookies are then sent over https only."""
        return bool(self.public_url and self.public_url.startswith("https://"))

    @property
    def max_photo_bytes(self) -> int:
        return self.max_photo_mb * 1024 * 1024

    @classmethod
    def from_env(cls, env: dict | None = None, **overrides) -> Settings:
        """Build settings from os.environ (or the given mapping); keyword overrides win."""
        env = dict(os.environ if env is None else env)
        instance_dir = Path(overrides.pop("instance_dir", None) or env.get("INSTANCE_DIR") or ROOT / "instance")
        values: dict = dict(
            instance_dir=instance_dir,
            database_url=env.get("DATABASE_URL") or f"sqlite:///{instance_dir / 'snap.db'}",
            embedded_redis=not env.get("REDIS_URL"),
            media_dir=Path(env.get("MEDIA_DIR") or instance_dir / "media"),
            photo_objects=object_store_access(env),
            max_photo_mb=_int(env, "MAX_PHOTO_MB", 15),
            max_photos=_int(env, "MAX_PHOTOS", 4),
            max_photo_pixels=_int(env, "MAX_PHOTO_PIXELS", 100_000_000),
            max_decode_mb=_int(env, "MAX_DECODE_MB", 240),
            max_json_kb=_int(env, "MAX_JSON_KB", 64),
            timezone=env.get("TIMEZONE") or "Asia/Shanghai",
            demo_password=env.get("DEMO_PASSWORD") or None,
            stale_new_minutes=_int(env, "STALE_NEW_MINUTES", 2),
            max_processing_attempts=_int(env, "MAX_PROCESSING_ATTEMPTS", 5),
            webhook_url=env.get("WEBHOOK_URL") or None,
            grid_snap_m=_int(env, "GRID_SNAP_M", 30),
            duplicate_radius_m=_int(env, "DUPLICATE_RADIUS_M", 50),
            me_too_radius_m=_int(env, "ME_TOO_RADIUS_M", 100),
            nearby_thumb_minutes=_int(env, "NEARBY_THUMB_MINUTES", 10),
            duplicate_days=_int(env, "DUPLICATE_DAYS", 14),
            duplicate_hash_bits=_int(env, "DUPLICATE_HASH_BITS", 10),
            location_mismatch_m=_int(env, "LOCATION_MISMATCH_M", 200),
            old_photo_hours=_int(env, "OLD_PHOTO_HOURS", 24),
            map_tiles=env.get("MAP_TILES") or None,
            map_tiles_url=env.get("MAP_TILES_URL") or None,
            map_tiles_crs=env.get("MAP_TILES_CRS") or None,
            map_tiles_key=env.get("MAP_TILES_KEY") or None,
            trusted_proxies=_int(env, "TRUSTED_PROXIES", 0),
            token_days=_int(env, "TOKEN_DAYS", 30),
            public_url=_public_url(env.get("PUBLIC_URL")),
            open311_contact=env.get("OPEN311_CONTACT", ""),
            open311_reads=env.get("OPEN311_READS") or "open",
            open311_media_days=_int(env, "OPEN311_MEDIA_DAYS", 90),
            open311_geocoder_url=env.get("OPEN311_GEOCODER_URL") or None,
            open311_geocoder=env.get("OPEN311_GEOCODER") or "nominatim",
            open311_geocoder_key=env.get("OPEN311_GEOCODER_KEY", ""),
            # Baidu's answers are BD-09 unless said otherwise
            open311_geocoder_coords=env.get("OPEN311_GEOCODER_COORDS")
            or ("bd09" if env.get("OPEN311_GEOCODER") == "baidu" else "wgs84"),
            open311_media_hosts=frozenset(h.strip().lower() for h in env.get("OPEN311_MEDIA_HOSTS", "").split(",")
                                          if h.strip()),
            open311_poll_seconds=_int(env, "OPEN311_POLL_SECONDS", 300),
            points_expire_quarters=_int(env, "POINTS_EXPIRE_QUARTERS", 4),
            points_daily_cap=_int(env, "POINTS_DAILY_CAP", 50),
            metrics_token=_metrics_token(env.get("METRICS_TOKEN")),
            metrics_bind=env.get("METRICS_BIND") or "127.0.0.1",
            metrics_port=_int(env, "METRICS_PORT", 9108),
            pg_dump=env.get("PG_DUMP") or None,
            pg_restore=env.get("PG_RESTORE") or None,
            backup_dir=Path(env["BACKUP_DIR"]) if env.get("BACKUP_DIR") else None,
        )
        for name in ("intake_limit_per_user", "intake_limit_per_address", "login_limit_per_account",
                     "login_limit_per_address", "nearby_limit_per_user", "open311_limit_per_client",
                     "code_guess_limit_per_staff"):
            if env.get(name.upper()):
                values[name] = _rate_limit(name.upper(), env[name.upper()])
        if env.get("DISTRICT_DIR"):
            values["district_dir"] = Path(env["DISTRICT_DIR"])
        if values["open311_reads"] not in ("open", "key"):
            raise ValueError(f"OPEN311_READS must be open or key, got {values['open311_reads']!r}")
        if values["open311_geocoder"] not in ("nominatim", "baidu"):
            raise ValueError(f"OPEN311_GEOCODER must be nominatim or baidu, got {values['open311_geocoder']!r}")
        if values["open311_geocoder_coords"] not in ("wgs84", "gcj02", "bd09"):
            raise ValueError("OPEN311_GEOCODER_COORDS must be wgs84, gcj02 or bd09, got "
                             f"{values['open311_geocoder_coords']!r}")
        if values["open311_media_days"] < 1:
            raise ValueError(f"OPEN311_MEDIA_DAYS must be at least 1, got {values['open311_media_days']}")
        if values["open311_poll_seconds"] < 10:
            raise ValueError(f"OPEN311_POLL_SECONDS must be at least 10, got {values['open311_poll_seconds']}")
        if values["points_expire_quarters"] < 1:
            raise ValueError(f"POINTS_EXPIRE_QUARTERS must be at least 1, got {values['points_expire_quarters']}")
        if values["points_daily_cap"] < 0:
            raise ValueError(f"POINTS_DAILY_CAP must not be negative, got {values['points_daily_cap']}")
        if values["token_days"] < 1:
            raise ValueError(f"TOKEN_DAYS must be at least 1, got {values['token_days']}")
        values.update(overrides)
        if "redis_url" not in values:
            values["redis_url"] = env.get("REDIS_URL") or _embedded_redis_url(env, instance_dir)
        if "secret_key" not in values:
            values["secret_key"] = env.get("SECRET_KEY") or kept_secret(instance_dir, "secret_key")
        return cls(**values)

    @property
    def categories_file(self) -> Path:
        """The district's categories, deadlines and looks."""
        return self.district_dir / "categories.json"

    @property
    def units_file(self) -> Path:
        """The external units cases can be handed to."""
        return self.district_dir / "units.json"

    @property
    def points_file(self) -> Path:
        """The points rules."""
        return self.district_dir / "points.json"

    def resolved_demo_password(self) -> str:
        """The demo users' password: DEMO_PASSWORD, or one generated once and kept under instance/."""
        return self.demo_password or kept_secret(self.instance_dir, "demo_password", 9)


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def log_level(env: dict | None = None) -> str:
    """LOG_LEVEL (INFO unless set): read apart from Settings, by every process before it logs a line, gunicorn's
    master among them."""
    raw = (os.environ if env is None else env).get("LOG_LEVEL", "").strip().upper() or "INFO"
    if raw not in LOG_LEVELS:
        raise ValueError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {raw!r}")
    return raw
