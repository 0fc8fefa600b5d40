"""Originals no row names — left by a request that failed after its photo was stored — removed a day later.

A request never removes what it stored: the same bytes may be on their way into another report at that moment
(names are given by content, and a second upload of them finds the first one's file), and a report answered 201
must keep its photo. A day on, no request that could still name the file is in flight.
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import islice

import sqlalchemy as sa
from sqlalchemy.orm import Session

from service.models import GoodDeed, Photo
from service.photo_store import PhotoStore, derived_name, sha256_of_name

GRACE = timedelta(days=1)
BATCH = 1000  # names looked up in one query


def _batches(names: Iterator[str]) -> Iterator[list[str]]:
    while batch := list(islice(names, BATCH)):
        yield batch


def remove_orphaned_originals(session: Session, store: PhotoStore, now: datetime, grace: timedelta = GRACE) -> int:
    """Remove each original written before now - grace that no photo row and no good deed's copy names; how many."""
    removed = 0
    for batch in _batches(store.originals_written_before(now - grace)):
        shas = {sha256_of_name(name): name for name in batch}
        named = set(session.scalars(sa.select(Photo.sha256).where(Photo.sha256.in_(shas))))
        deed_copies = {derived_name(sha, "web"): sha for sha in shas}
        named |= {deed_copies[path] for path in session.scalars(
            sa.select(GoodDeed.photo_path).where(GoodDeed.photo_path.in_(deed_copies)))}
        for sha, name in shas.items():
            if sha not in named:
                store.discard(name)
                removed += 1
    return removed
