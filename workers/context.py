"""What jobs need from their process: settings, a database made in this process (never across a fork),
the photo store, the pipeline's rules, and the grid index, built once and rebuilt only when the grids change."""
from __future__ import annotations

import os
from functools import cache

from config import Settings
from service.db import Database
from service.dispatch import fresh_grid_index
from service.grids import GridIndex
from service.photos import PhotoStore
from service.pipeline import PipelineRules

_databases: dict[int, Database] = {}
_grid_index: list[GridIndex] = []


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


def photo_store() -> PhotoStore:
    return PhotoStore(settings().media_dir)


@cache
def pipeline_rules() -> PipelineRules:
    """The pipeline's thresholds, from the settings."""
    return PipelineRules.from_settings(settings())


def grid_index(session) -> GridIndex:
    """The grid index, rebuilt only when the grids in the database have changed since it was built."""
    current = _grid_index[0] if _grid_index else None
    fresh = fresh_grid_index(session, current, settings().grid_snap_m)
    if fresh is not current:
        _grid_index[:] = [fresh]
    return fresh


def reset() -> None:
    """Forget everything read from the environment (tests point the workers at another database)."""
    settings.cache_clear()
    pipeline_rules.cache_clear()
    _grid_index.clear()
    for db in _databases.values():
        db.dispose()
    _databases.clear()
