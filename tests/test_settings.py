"""Settings from the environment: defaults, overrides, and secrets generated once and kept."""
from __future__ import annotations

import pytest

from config import Settings


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
