"""What jobs need from their process: settings, a database made in this process (never across a fork), the photo
store, the pipeline's and the desk's rules, the photo limits, and the grid index, built once and rebuilt only when
the grids change."""
from __future__ import annotations

import os
from functools import cache

from config import Settings
from service.actions import DeskRules
from service.cases import IntakeLimits
from service.db import Database
from service.dispatch import KeptIndex
from service.district import district_name
from service.grids import DistrictIndex
from service.photo_store import PhotoStore, photo_store_for
from service.pipeline import PipelineRules

_databases: dict[int, Database] = {}


@cache
def settings() -> Settings:
    """The settings, read from the environment once per process."""
    return Settings.from_env()


def database() -> Database:
    """This process's database; a forked work horse makes its own rather than share its parent's pool."""
    pid = os.getpid()
    if pid not in _databases:
        _databases[pid] = Database(settings().database_url)
    return _databases[pid]


@cache
def photo_store() -> PhotoStore:
    """The photo store the settings name (a folder, or a bucket with its client made once per process)."""
    return photo_store_for(settings())


@cache
def desk_rules() -> DeskRules:
    """The desk's rules and the points scheme, from the district's files and the settings."""
    return DeskRules.from_settings(settings())


@cache
def pipeline_rules() -> PipelineRules:
    """The pipeline's thresholds, from the settings."""
    return PipelineRules.from_settings(settings())


def intake_limits() -> IntakeLimits:
    """How big and how many photos may be (an Open311 link's photo, a platform's after photo), from the settings."""
    config = settings()
    return IntakeLimits(config.max_photos, config.max_photo_bytes, config.max_photo_pixels)


@cache
def _kept_index() -> KeptIndex:
    return KeptIndex(settings().grid_snap_m, district_name(settings().district_dir))


def district_index(session) -> DistrictIndex:
    """The district index, rebuilt only when the grids or boundaries in the database have changed."""
    return _kept_index().fresh(session)


def reset() -> None:
    """Forget everything read from the environment (tests point the workers at another database)."""
    settings.cache_clear()
    photo_store.cache_clear()
    pipeline_rules.cache_clear()
    desk_rules.cache_clear()
    _kept_index.cache_clear()
    for db in _databases.values():
        db.dispose()
    _databases.clear()
