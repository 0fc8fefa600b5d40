"""Backups of an instance and restoring one: a consistent snapshot of the database first, then every photo of the
store, and a manifest saying what the folder holds; Redis (queues, rate limits) is not kept.

A backup is `<folder>/<UTC time>/`: manifest.json, database.sqlite3 or database.pgdump, photos/<name>. It is written
as `<UTC time>.partial` and renamed only when whole, so a half-made one is never taken for a backup.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from config.settings import Settings
from service.db import utcnow
from service.photo_store import CHUNK, PhotoMissing, PhotoStore, PhotoStoreUnavailable
from service.snapshots import (
    SNAPSHOT_FILES,
    Figures,
    SnapshotFailed,
    database_kind,
    figures_of,
    put_snapshot_back,
    take_snapshot,
)

MANIFEST = "manifest.json"
PHOTOS = "photos"
FORMAT = 1
PARTIAL = ".partial"


class BackupFailed(Exception):
    """A backup or a restore that could not be done, or was refused; the message says why and what to do."""


@dataclass(frozen=True)
class Manifest:
    """What a backup holds, written beside it and checked by a restore."""

    format: int
    made_at: str  # ISO 8601, UTC: when the backup began
    database: str  # sqlite or postgresql
    database_file: str
    database_sha256: str
    revision: str | None  # the schema's migration revision in the snapshot
    cases: int  # rows in the snapshot
    photos: int  # photo rows in the snapshot
    photo_files: int  # files under photos/
    photo_bytes: int
    photo_store: str  # where the photos were copied from

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        """The manifest of the backup in the folder; a folder that is no whole backup is refused."""
        if folder.name.endswith(PARTIAL):
            raise BackupFailed(f"{folder} is a backup that was never finished: take another one")
        try:
            raw = json.loads((folder / MANIFEST).read_text())
        except FileNotFoundError:
            raise BackupFailed(f"{folder} is not a backup (no {MANIFEST}): name one folder <backups>/<time>/") from None
        except ValueError as exc:
            raise BackupFailed(f"{folder / MANIFEST} cannot be read: {exc}") from None
        if raw.get("format") != FORMAT:
            raise BackupFailed(f"{folder} is a backup of format {raw.get('format')}, this version reads {FORMAT}")
        missing = [name for name in cls.__dataclass_fields__ if name not in raw]
        if missing:
            raise BackupFailed(f"{folder / MANIFEST} lacks {', '.join(missing)}: it is damaged")
        return cls(**{name: raw[name] for name in cls.__dataclass_fields__})

    def write(self, folder: Path) -> None:
        """Keep the manifest in the backup's folder."""
        _write_durably(folder / MANIFEST, json.dumps(asdict(self), indent=2).encode() + b"\n")

    def line(self, folder: Path) -> str:
        """The one-line summary an operator (or cron's mail) reads."""
        return (f"backup {folder}: {self.database} at revision {self.revision}, {self.cases} cases, "
                f"{self.photos} photo rows; {self.photo_files} photo files, {self.photo_bytes / 2**20:.1f} MiB")


@dataclass(frozen=True)
class Restored:
    """What a restore brought back, checked against the manifest."""

    manifest: Manifest
    figures: Figures
    photo_files: int
    photo_bytes: int

    def line(self, source: Path) -> str:
        """The one-line summary of the restore."""
        return (f"restored {source} (made {self.manifest.made_at}): {self.figures.cases} cases, "
                f"{self.figures.photos} photo rows at revision {self.figures.revision}; "
                f"{self.photo_files} photo files, {self.photo_bytes / 2**20:.1f} MiB put back")


def default_backup_folder(settings: Settings) -> Path:
    """Where backups go when no folder is named: instance/backups."""
    return settings.instance_dir / "backups"


def store_description(settings: Settings) -> str:
    """Where the settings keep photos, for the manifest."""
    bucket = settings.photo_objects
    return f"s3://{bucket.bucket}/{bucket.prefix}".rstrip("/") if bucket else str(settings.media_dir)


def sha256_of(path: Path) -> str:
    """The file's SHA-256, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _write_durably(path: Path, data: bytes) -> None:
    """Write a small file and fsync it."""
    with open(path, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


def _new_folder(parent: Path, now: datetime) -> tuple[Path, Path]:
    """The backup's final folder name, free, and the .partial folder it is made in."""
    parent.mkdir(parents=True, exist_ok=True)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    final, n = parent / stamp, 1
    while final.exists() or final.with_name(final.name + PARTIAL).exists():
        n += 1
        final = parent / f"{stamp}-{n}"
    partial = final.with_name(final.name + PARTIAL)
    partial.mkdir()
    return final, partial


def _safe_name(name: str) -> PurePosixPath:
    """A photo's name as a relative path that stays inside the folder it is put in."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise BackupFailed(f"the photo store holds {name!r}, which is no photo's name")
    return path


def _check_content(name: str, digest: str, size: int, expected_size: int | None) -> None:
    """An original's bytes must hash to its name; any file must be as long as its store says."""
    if name.startswith("originals/") and PurePosixPath(name).stem != digest:
        raise BackupFailed(f"{name}: its bytes hash to {digest}, not to its name")
    if expected_size is not None and size != expected_size:
        raise BackupFailed(f"{name}: {size} bytes copied, the store holds {expected_size}")


def _copy_out(source: BinaryIO, target: Path) -> tuple[str, int]:
    """Copy a photo into the backup, fsync'd; its SHA-256 and length."""
    digest, size = hashlib.sha256(), 0
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as out:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
            size += len(chunk)
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest(), size


def copy_photos_out(store: PhotoStore, folder: Path) -> tuple[int, int]:
    """Every photo of the store into folder/<name>, each checked; the files and bytes copied. A name listed but
    gone when read was a photo discarded before any row named it: nothing to keep."""
    files = total = 0
    for name in store.names():
        target = folder / _safe_name(name)
        try:
            with store.open(name) as source:
                digest, size = _copy_out(source, target)
        except PhotoMissing:
            continue
        local = store.local_path(name)
        _check_content(name, digest, size, local.stat().st_size if local else None)
        if target.stat().st_size != size:
            raise BackupFailed(f"{target}: {target.stat().st_size} bytes on the backup's disk, {size} written")
        files, total = files + 1, total + size
    return files, total


def back_up(settings: Settings, store: PhotoStore, parent: Path, now: datetime | None = None) -> tuple[Path, Manifest]:
    """Make one backup under parent: the database snapshot FIRST, the photos AFTER. A photo is written before the
    row naming it is committed and never deleted once named, so every photo the snapshot names is in the store
    by the time the photos are listed. Returns the backup's folder and its manifest."""
    now = now or utcnow()
    final, partial = _new_folder(Path(parent), now)
    try:
        kind = database_kind(settings.database_url)
        db_file, held = take_snapshot(settings.database_url, partial, settings.pg_dump)
        files, total = copy_photos_out(store, partial / PHOTOS)
    except (SnapshotFailed, PhotoStoreUnavailable, OSError) as exc:
        raise BackupFailed(f"backup failed, {partial} is incomplete: {exc}") from exc
    manifest = Manifest(FORMAT, now.isoformat(), kind, db_file, sha256_of(partial / db_file), held.revision,
                        held.cases, held.photos, files, total, store_description(settings))
    manifest.write(partial)
    os.replace(partial, final)
    return final, manifest


def _photo_files(folder: Path) -> list[tuple[str, Path]]:
    """The backup's photo files, each with its name in the store."""
    root = folder / PHOTOS
    return [(p.relative_to(root).as_posix(), p) for p in sorted(root.rglob("*")) if p.is_file()] \
        if root.exists() else []


def put_photos_back(folder: Path, store: PhotoStore) -> tuple[int, int]:
    """Every photo of the backup into the store under its name, an original checked against its name first; the
    files and bytes put back, each then found in the store."""
    files = total = 0
    put: set[str] = set()
    for name, path in _photo_files(folder):
        with open(path, "rb") as source:
            digest, size = _digest(source)
            _check_content(name, digest, size, path.stat().st_size)
            source.seek(0)
            store.put(name, source)
        put.add(name)
        files, total = files + 1, total + size
    missing = put - set(store.names())
    if missing:
        raise BackupFailed(f"{len(missing)} photo(s) put back are not in the store, e.g. {sorted(missing)[0]}")
    return files, total


def _digest(stream: BinaryIO) -> tuple[str, int]:
    """The SHA-256 and length of what is left in the stream."""
    digest, size = hashlib.sha256(), 0
    while chunk := stream.read(CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def check_restorable(settings: Settings, folder: Path, force: bool) -> Manifest:
    """The backup's manifest, once the backup is whole and the target may take it: the same kind of database, its
    snapshot as it was written, and a target that holds no cases (or --force: overwriting live data is deliberate)."""
    manifest = Manifest.read(folder)
    try:
        kind = database_kind(settings.database_url)
        now_held = figures_of(settings.database_url)
    except SnapshotFailed as exc:
        raise BackupFailed(str(exc)) from None
    if kind != manifest.database:
        raise BackupFailed(f"{folder} is a {manifest.database} backup; DATABASE_URL names a {kind} database")
    snapshot = folder / manifest.database_file
    if manifest.database_file != SNAPSHOT_FILES[kind] or not snapshot.exists():
        raise BackupFailed(f"{snapshot} is missing")
    if sha256_of(snapshot) != manifest.database_sha256:
        raise BackupFailed(f"{snapshot} is not the file the backup wrote (its SHA-256 differs): it is damaged")
    if now_held.cases and not force:
        raise BackupFailed(f"the database already holds {now_held.cases} cases: nothing was changed. Restoring "
                           "replaces them all; add --force if that is what you mean")
    return manifest


def restore(settings: Settings, store: PhotoStore, folder: Path, force: bool = False) -> Restored:
    """Bring a backup back into the instance the settings name: the database from its snapshot, then every photo
    into the store (a folder or a bucket, whichever the settings name), then check both against the manifest."""
    folder = Path(folder)
    manifest = check_restorable(settings, folder, force)
    try:
        put_snapshot_back(manifest.database, folder / manifest.database_file, settings.database_url,
                          settings.pg_restore)
        files, total = put_photos_back(folder, store)
        held = figures_of(settings.database_url)
    except (SnapshotFailed, PhotoStoreUnavailable, OSError) as exc:
        raise BackupFailed(f"restore failed: {exc}") from exc
    expected = Figures(manifest.cases, manifest.photos, manifest.revision)
    if held != expected:
        raise BackupFailed(f"the restored database holds {held}, the backup's manifest says {expected}")
    if (files, total) != (manifest.photo_files, manifest.photo_bytes):
        raise BackupFailed(f"{files} photo files ({total} bytes) put back, the manifest says "
                           f"{manifest.photo_files} ({manifest.photo_bytes} bytes): the backup lost some")
    return Restored(manifest, held, files, total)
