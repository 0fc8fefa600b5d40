"""What a job needs from its process: the settings, and a database made in this process (never across a fork)."""
from __future__ import annotations

import os
from functools import cache

from config import Settings
from service.db import Database

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
