"""Backups of an instance and restoring one: a consistent snapshot of the database first, then every photo of the
store, and a manifest saying what the folder holds; Redis (queues, rate limits) is not kept.

A backup is `<folder>/<UTC time>/`: manifest.json, database.sqlite3 or database.pgdump, photos/<name>. It is written
as `<UTC time>.partial` and renamed only when whole, so a half-made one is never taken for a backup. A restore puts
the photos back first and the database after, so a failure midway leaves the database as it was.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from config.settings import Settings
from service.backup_folders import (
    MANIFEST,
    PARTIAL,
    PHOTOS,
    BackupFailed,
    LastSuccess,
    complete_backups,
    finish,
    new_folder,
    prune,
    write_durably,
)
from service.backup_photos import backed_up_photos, copy_photos_out, put_photos_back
from service.db import utcnow
from service.photo_store import PhotoStore, PhotoStoreUnavailable, sha256_of_stream
from service.snapshots import (
    SNAPSHOT_FILES,
    Figures,
    SnapshotFailed,
    database_kind,
    figures_of,
    put_snapshot_back,
    take_snapshot,
)

__all__ = ["BackupFailed", "LastSuccess", "Manifest", "Restored", "back_up", "restore"]

FORMAT = 1
DEFAULT_KEEP = 7  # a week of nightly backups; hard-linked, each costs little more than that night's new photos


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
        write_durably(folder / MANIFEST, json.dumps(asdict(self), indent=2).encode() + b"\n")

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
    """Where backups go when no folder is named: BACKUP_DIR, else instance/backups."""
    return settings.backup_dir or settings.instance_dir / "backups"


def store_description(settings: Settings) -> str:
    """Where the settings keep photos, for the manifest."""
    bucket = settings.photo_objects
    return f"s3://{bucket.bucket}/{bucket.prefix}".rstrip("/") if bucket else str(settings.media_dir)


def sha256_of(path: Path) -> str:
    """The file's SHA-256, hex."""
    with open(path, "rb") as f:
        return sha256_of_stream(f)[0]


def back_up(settings: Settings, store: PhotoStore, parent: Path, keep: int = DEFAULT_KEEP,
            now: datetime | None = None) -> tuple[Path, Manifest]:
    """Make one backup under parent: the database snapshot FIRST, the photos AFTER (hard-linked from the newest
    whole backup there when it has them). A photo is written before the row naming it is committed, so every photo
    the snapshot names should be in the store by the time the photos are listed; one that is not fails the backup.
    Then note the success in parent/last_success.json and remove the oldest backups beyond `keep`. Returns the
    backup's folder and its manifest."""
    now, parent = now or utcnow(), Path(parent)
    partial = None
    try:
        previous = (complete_backups(parent) or [None])[-1]
        final, partial = new_folder(parent, now)
        kind = database_kind(settings.database_url)
        snapshot = take_snapshot(settings.database_url, partial, settings.pg_dump)
        copied = copy_photos_out(store, partial / PHOTOS, previous, snapshot.photo_names)
        held = snapshot.figures
        manifest = Manifest(FORMAT, now.isoformat(), kind, snapshot.file, sha256_of(partial / snapshot.file),
                            held.revision, held.cases, held.photos, copied.files, copied.bytes,
                            store_description(settings))
        manifest.write(partial)
        finish(partial, final)
    except (BackupFailed, SnapshotFailed, PhotoStoreUnavailable, OSError) as exc:
        where = f"{partial} is incomplete" if partial else f"no backup folder could be made in {parent}"
        raise BackupFailed(f"backup failed, {where}: {exc}") from exc
    done = utcnow()
    try:
        LastSuccess(done.isoformat(), done.timestamp(), final.name, held.cases, held.photos, copied.files,
                    copied.bytes, copied.linked).write(parent)
        prune(parent, keep, final)
    except OSError as exc:
        raise BackupFailed(f"backup {final} is whole, but noting it or removing old ones failed: {exc}") from exc
    return final, manifest


def check_restorable(settings: Settings, folder: Path, force: bool) -> tuple[Manifest, list[tuple[str, int]]]:
    """The backup's manifest and its photo files, once the backup is whole and the target may take it: the same
    kind of database, its snapshot as it was written, every entry under photos/ a photo file and as many as the
    manifest says, and a target that holds no cases (or --force: overwriting live data is deliberate)."""
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
    photos = backed_up_photos(folder)
    files, total = len(photos), sum(size for _, size in photos)
    if (files, total) != (manifest.photo_files, manifest.photo_bytes):
        raise BackupFailed(f"{folder} holds {files} photo files ({total} bytes), its manifest says "
                           f"{manifest.photo_files} ({manifest.photo_bytes} bytes): it is damaged, nothing was changed")
    if now_held.cases and not force:
        raise BackupFailed(f"the database already holds {now_held.cases} cases: nothing was changed. Restoring "
                           "replaces them all; add --force if that is what you mean")
    return manifest, photos


def restore(settings: Settings, store: PhotoStore, folder: Path, force: bool = False) -> Restored:
    """Bring a backup back into the instance the settings name, once every check of check_restorable passes: the
    photos FIRST into the store (a folder or a bucket, whichever the settings name; named by content, so one more
    is harmless), then the database from its snapshot, then check the database against the manifest. A failure
    says what state it left."""
    folder = Path(folder)
    manifest, photos = check_restorable(settings, folder, force)
    try:
        put = put_photos_back(folder, photos, store)
    except (BackupFailed, PhotoStoreUnavailable, OSError) as exc:
        raise BackupFailed(f"restore failed putting the photos back: {exc}. The database was not touched; the photos "
                           "already put back do no harm (each is named by its content). Fix this and run restore "
                           "again") from exc
    try:
        put_snapshot_back(manifest.database, folder / manifest.database_file, settings.database_url,
                          settings.pg_restore)
    except (SnapshotFailed, OSError) as exc:
        raise BackupFailed(f"restore failed writing the database: {exc}. Every photo is back; the database should be "
                           "as it was (its restore is one transaction), but if it now holds cases run restore again "
                           "with --force") from exc
    try:
        held = figures_of(settings.database_url)
    except SnapshotFailed as exc:
        raise BackupFailed(f"the database was replaced and the photos put back, but it cannot be read: {exc}. To "
                           "restore again, add --force") from exc
    expected = Figures(manifest.cases, manifest.photos, manifest.revision)
    if held != expected:
        raise BackupFailed(f"the database was replaced and the photos put back, but it holds {held} and the "
                           f"backup's manifest says {expected}. To restore again, add --force")
    return Restored(manifest, held, put.files, put.bytes)
