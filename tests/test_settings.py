"""Settings from the environment: defaults, overrides, and secrets generated once and kept."""
from __future__ import annotations

import pytest

from config import Settings
from config.settings import ROOT


def test_embedded_defaults_when_nothing_is_set(tmp_path):
    s = Settings.from_env(env={"INSTANCE_DIR": str(tmp_path)})
    assert s.database_url == f"sqlite:///{tmp_path / 'snap.db'}"
    password = (tmp_path / "redis_password").read_text().strip()
    assert s.embedded_redis and s.redis_url == f"redis://:{password}@127.0.0.1:6389/0" and len(password) >= 40
    assert (tmp_path / "redis_password").stat().st_mode & 0o077 == 0
    assert Settings.from_env(env={"INSTANCE_DIR": str(tmp_path)}).redis_url == s.redis_url  # kept across restarts
    assert s.media_dir == tmp_path / "media"
    assert (s.max_photo_mb, s.max_photos, s.timezone) == (15, 4, "Asia/Shanghai")


def test_the_environment_overrides(tmp_path):
    s = Settings.from_env(env={"INSTANCE_DIR": str(tmp_path), "DATABASE_URL": "postgresql+psycopg://db/x",
                               "REDIS_URL": "redis://cache:6379/2", "MAX_PHOTO_MB": "8", "MAX_PHOTOS": "2",
                               "MEDIA_DIR": "/srv/photos", "SECRET_KEY": "s3", "TIMEZONE": "Asia/Urumqi"})
    assert (s.database_url, s.redis_url, s.embedded_redis) == ("postgresql+psycopg://db/x", "redis://cache:6379/2",
                                                               False)
    assert (s.max_photo_mb, s.max_photos, str(s.media_dir), s.secret_key, s.timezone) == \
        (8, 2, "/srv/photos", "s3", "Asia/Urumqi")


def test_a_bad_number_names_the_variable(tmp_path):
    with pytest.raises(ValueError, match="MAX_PHOTO_MB"):
        Settings.from_env(env={"INSTANCE_DIR": str(tmp_path), "MAX_PHOTO_MB": "lots"})


def test_the_secret_key_is_generated_once_and_kept_private(tmp_path):
    first = Settings.from_env(env={"INSTANCE_DIR": str(tmp_path)}).secret_key
    again = Settings.from_env(env={"INSTANCE_DIR": str(tmp_path)}).secret_key
    assert first == again and len(first) >= 40
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    assert Settings.from_env(env={"INSTANCE_DIR": str(tmp_path / "other")}).secret_key != first


def test_the_demo_password_is_demo_password_or_generated_once(tmp_path):
    env = {"INSTANCE_DIR": str(tmp_path)}
    generated = Settings.from_env(env=env).resolved_demo_password()
    assert generated == Settings.from_env(env=env).resolved_demo_password() and len(generated) >= 12
    assert Settings.from_env(env={**env, "DEMO_PASSWORD": "hunter22"}).resolved_demo_password() == "hunter22"


def test_rate_limits_are_settings_checked_when_read(tmp_path):
    env = {"INSTANCE_DIR": str(tmp_path), "INTAKE_LIMIT_PER_USER": "10 per minute", "TRUSTED_PROXIES": "1"}
    s = Settings.from_env(env=env)
    assert (s.intake_limit_per_user, s.intake_limit_per_address, s.trusted_proxies) == \
        ("10 per minute", "600 per 10 minutes", 1)
    with pytest.raises(ValueError, match="LOGIN_LIMIT_PER_ACCOUNT"):
        Settings.from_env(env={"INSTANCE_DIR": str(tmp_path), "LOGIN_LIMIT_PER_ACCOUNT": "five"})


def test_token_days_and_public_url_are_checked_when_read(tmp_path):
    env = {"INSTANCE_DIR": str(tmp_path)}
    s = Settings.from_env(env=env)
    assert (s.token_days, s.public_url, s.https) == (30, None, False)
    s = Settings.from_env(env={**env, "TOKEN_DAYS": "7", "PUBLIC_URL": "https://snap.example.cn/"})
    assert (s.token_days, s.public_url, s.https) == (7, "https://snap.example.cn", True)
    assert not Settings.from_env(env={**env, "PUBLIC_URL": "http://10.0.0.5:8000"}).https
    for bad in ("snap.example.cn", "ftp://snap.example.cn", "https://", "https://snap.example.cn/app?x=1"):
        with pytest.raises(ValueError, match="PUBLIC_URL"):
            Settings.from_env(env={**env, "PUBLIC_URL": bad})
    with pytest.raises(ValueError, match="TOKEN_DAYS"):
        Settings.from_env(env={**env, "TOKEN_DAYS": "0"})


def test_a_weak_or_placeholder_metrics_token_is_refused_at_start_up(tmp_path):
    env = {"INSTANCE_DIR": str(tmp_path)}
    assert Settings.from_env(env=env).metrics_token is None  # unset: metrics off
    strong = "f3a9c1d2e4b5a6978877665544332211"
    assert Settings.from_env(env={**env, "METRICS_TOKEN": strong}).metrics_token == strong
    example = (ROOT / "config" / "systemd" / "suishoupai.env.example").read_text()
    placeholder = next(line.split("=", 1)[1] for line in example.splitlines() if line.startswith("METRICS_TOKEN="))
    for weak in ("CHANGE-ME", placeholder, "change-me-to-a-random-token-please", "scrape-token", "x" * 23):
        with pytest.raises(ValueError, match="METRICS_TOKEN"):
            Settings.from_env(env={**env, "METRICS_TOKEN": weak})


def tiles_of(tmp_path, **env):
    return Settings.from_env(env={"INSTANCE_DIR": str(tmp_path), **env}).tiles


def test_no_map_tiles_is_no_tiles_at_all(tmp_path):
    assert tiles_of(tmp_path) is None  # a closed network: the grids alone draw the map


@pytest.mark.parametrize("preset, crs, host, layers, tms", [
    ("tianditu", "wgs84", "https://t{s}.tianditu.gov.cn/", 2, False),  # vec_w under cva_w
    ("osm", "wgs84", "https://tile.openstreetmap.org/", 1, False),
    ("amap", "gcj02", "https://webrd0{s}.is.autonavi.com/", 1, False),
    ("tencent", "gcj02", "https://rt{s}.map.gtimg.com/", 1, True),  # its rows count from the south
])
def test_each_preset_has_its_servers_and_its_coordinate_system(tmp_path, preset, crs, host, layers, tms):
    tiles = tiles_of(tmp_path, MAP_TILES=preset, MAP_TILES_KEY="secret-tk")
    assert (tiles.preset, tiles.crs, len(tiles.urls), tiles.tms) == (preset, crs, layers, tms)
    assert all(url.startswith(host) and "{z}" in url and "{x}" in url and "{y}" in url for url in tiles.urls)
    assert tiles.attribution and 18 <= tiles.max_zoom <= 19


def test_tianditu_needs_its_key_and_puts_it_in_both_layers(tmp_path):
    with pytest.raises(ValueError, match="MAP_TILES_KEY"):
        tiles_of(tmp_path, MAP_TILES="tianditu")
    tiles = tiles_of(tmp_path, MAP_TILES="tianditu", MAP_TILES_KEY="abc123")
    assert ["vec_w/wmts" in tiles.urls[0], "cva_w/wmts" in tiles.urls[1]] == [True, True]
    assert all(url.endswith("&tk=abc123") and "LAYER=" + url.split("_w/")[0][-3:] in url for url in tiles.urls)
    assert tiles.subdomains == "01234567"


def test_an_unknown_preset_or_a_contradicting_crs_is_refused_at_start_up(tmp_path):
    with pytest.raises(ValueError, match="MAP_TILES must be one of tianditu, osm, amap, tencent, custom"):
        tiles_of(tmp_path, MAP_TILES="baidu")
    with pytest.raises(ValueError, match="MAP_TILES_CRS=wgs84 contradicts MAP_TILES=amap"):
        tiles_of(tmp_path, MAP_TILES="amap", MAP_TILES_CRS="wgs84")
    with pytest.raises(ValueError, match="MAP_TILES_CRS must be wgs84 or gcj02"):
        tiles_of(tmp_path, MAP_TILES="custom", MAP_TILES_URL="https://t.example/{z}/{x}/{y}.png", MAP_TILES_CRS="bd09")
    with pytest.raises(ValueError, match="MAP_TILES=custom needs MAP_TILES_URL"):
        tiles_of(tmp_path, MAP_TILES="custom")


def test_map_tiles_url_alone_is_still_custom_wgs84_and_with_a_preset_replaces_its_servers(tmp_path):
    alone = tiles_of(tmp_path, MAP_TILES_URL="https://tiles.example.cn/{z}/{x}/{y}.png")
    assert (alone.preset, alone.crs, alone.urls) == ("custom", "wgs84", ("https://tiles.example.cn/{z}/{x}/{y}.png",))
    gcj = tiles_of(tmp_path, MAP_TILES="custom", MAP_TILES_URL="https://t.example/{z}/{x}/{y}.png",
                   MAP_TILES_CRS="GCJ02")
    assert gcj.crs == "gcj02"
    # a mirror (or a test's loopback server) of a preset: its template, the preset's system, layers and y axis
    mirror = tiles_of(tmp_path, MAP_TILES="tencent", MAP_TILES_URL="http://127.0.0.1:8123/{z}/{x}/{y}.png")
    assert (mirror.urls, mirror.crs, mirror.tms) == (("http://127.0.0.1:8123/{z}/{x}/{y}.png",), "gcj02", True)
    proxy = tiles_of(tmp_path, MAP_TILES="tianditu", MAP_TILES_KEY="k", MAP_TILES_URL="http://p.lan/{layer}/{z}/{x}/{y}")
    assert proxy.urls == ("http://p.lan/vec/{z}/{x}/{y}", "http://p.lan/cva/{z}/{x}/{y}")
