"""The folder backups are kept in: each backup's own folder (made as .partial, renamed when whole), the newest
complete one, pruning the oldest beyond --keep, and last_success.json, which the metrics collector reads."""
from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

MANIFEST = "manifest.json"
PHOTOS = "photos"
PARTIAL = ".partial"
LAST_SUCCESS = "last_success.json"
STAMP = "%Y%m%dT%H%M%SZ"
BACKUP_NAME = re.compile(r"(?P<stamp>\d{8}T\d{6}Z)(?:-(?P<n>\d+))?")  # <UTC time>[-n]: nothing else is pruned
ABANDONED_AFTER_S = 24 * 3600  # a .partial this old is no backup in progress: a run that died


class BackupFailed(Exception):
    """A backup or a restore that could not be done, or was refused; the message says why and what to do."""


def write_durably(path: Path, data: bytes) -> None:
    """Write a small file and fsync it."""
    with open(path, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


def fsync_dir(path: Path) -> None:
    """Make a rename (or a new entry) in this folder durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def new_folder(parent: Path, now: datetime) -> tuple[Path, Path]:
    """The backup's final folder name, free, and the .partial folder it is made in."""
    parent.mkdir(parents=True, exist_ok=True)
    stamp = now.strftime(STAMP)
    final, n = parent / stamp, 1
    while final.exists() or final.with_name(final.name + PARTIAL).exists():
        n += 1
        final = parent / f"{stamp}-{n}"
    partial = final.with_name(final.name + PARTIAL)
    partial.mkdir()
    return final, partial


def finish(partial: Path, final: Path) -> None:
    """Rename the whole backup to its final name, durably."""
    os.replace(partial, final)
    fsync_dir(final.parent)


def _order(folder: Path) -> tuple[str, int]:
    """Oldest first: by time, then by the -n of backups made in the same second."""
    match = BACKUP_NAME.fullmatch(folder.name.removesuffix(PARTIAL))
    return match["stamp"], int(match["n"] or 1)


def complete_backups(parent: Path) -> list[Path]:
    """The whole backups in parent (named by their time, with a manifest), oldest first."""
    if not parent.is_dir():
        return []
    found = [p for p in parent.iterdir() if BACKUP_NAME.fullmatch(p.name) and not p.is_symlink()
             and (p / MANIFEST).is_file()]
    return sorted(found, key=_order)


def prune(parent: Path, keep: int, made: Path, now: float | None = None) -> list[Path]:
    """Remove the oldest whole backups beyond the newest `keep` (never the one just made), and .partial folders
    left by runs that died more than a day ago (a younger one may be a run in progress); the folders removed."""
    now = time.time() if now is None else now
    whole = [p for p in complete_backups(parent) if p != made]
    doomed = whole[:max(0, len(whole) - (keep - 1))]
    doomed += [p for p in parent.iterdir() if p.name.endswith(PARTIAL) and not p.is_symlink()
               and BACKUP_NAME.fullmatch(p.name.removesuffix(PARTIAL))
               and now - p.lstat().st_mtime > ABANDONED_AFTER_S]
    for folder in doomed:
        shutil.rmtree(folder)
    if doomed:
        fsync_dir(parent)
    return doomed


@dataclass(frozen=True)
class LastSuccess:
    """The last backup that succeeded in a folder of backups, for the metrics collector and the operator."""

    at: str  # ISO 8601, UTC: when it finished
    timestamp: float  # the same, in seconds since the epoch
    backup: str  # its folder's name
    cases: int
    photos: int
    photo_files: int
    photo_bytes: int
    linked_files: int  # photo files hard-linked from the backup before it rather than copied

    def write(self, parent: Path) -> None:
        """Replace parent/last_success.json, whole or not at all."""
        temporary = parent / (LAST_SUCCESS + ".tmp")
        write_durably(temporary, json.dumps(asdict(self), indent=2).encode() + b"\n")
        os.replace(temporary, parent / LAST_SUCCESS)
        fsync_dir(parent)

    @classmethod
    def read(cls, parent: Path) -> LastSuccess | None:
        """The last success noted in parent; None when no backup has succeeded there."""
        try:
            raw = json.loads((parent / LAST_SUCCESS).read_text())
        except FileNotFoundError:
            return None
        return cls(**{name: raw[name] for name in cls.__dataclass_fields__})
