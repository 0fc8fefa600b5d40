"""A backup's photo files: copied out of the store (or hard-linked from the backup before, names being content), each
checked, every one the snapshot names accounted for; and put back by a restore, which trusts nothing in the folder:
no symlink, no file that is not a photo's name, nothing opened through a link."""
from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from service.backup_folders import PHOTOS, BackupFailed
from service.photo_store import PhotoMissing, PhotoStore, digested, is_photo_name, sha256_of_name, sha256_of_stream

JPEG_START = b"\xff\xd8"
SHOWN = 5  # bad names quoted in a message; the rest are counted
# os.link cannot join these two places (another file system, too many links): the file is copied instead
CANNOT_LINK = {errno.EXDEV, errno.EMLINK, errno.EPERM, errno.ENOTSUP}


@dataclass(frozen=True)
class Copied:
    """The photo files a backup holds: how many, their bytes, and how many of them were hard-linked."""

    files: int
    bytes: int
    linked: int


def _some(names: Iterable[str]) -> str:
    """A few of the names, for a message."""
    names = sorted(names)
    return ", ".join(names[:SHOWN]) + (f" and {len(names) - SHOWN} more" if len(names) > SHOWN else "")


def check_content(name: str, sha256: str) -> None:
    """An original's bytes must hash to its name."""
    if name.startswith("originals/") and sha256_of_name(name) != sha256:
        raise BackupFailed(f"{name}: its bytes hash to {sha256}, not to its name")


class _Writing:
    """A file taken as one more digest: each chunk fed to the digests is written to it."""

    def __init__(self, out: BinaryIO):
        self.update = out.write


def _copy_out(source: BinaryIO, target: Path) -> tuple[str, int]:
    """Copy a photo into the backup, fsync'd; its SHA-256 and length."""
    sha = hashlib.sha256()
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as out:
        size = digested(source, sha, _Writing(out))
        out.flush()
        os.fsync(out.fileno())
    return sha.hexdigest(), size


def _linked(before: Path, target: Path, size: int) -> bool:
    """Hard-link the previous backup's file of the same name and length to target; False when there is none (or
    it cannot be linked there), and the photo is to be copied."""
    try:
        found = os.lstat(before)
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(found.st_mode) or found.st_size != size:
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(before, target, follow_symlinks=False)
    except OSError as exc:
        if exc.errno in CANNOT_LINK:
            return False
        raise
    return True


def copy_photos_out(store: PhotoStore, folder: Path, previous: Path | None, named: Iterable[str]) -> Copied:
    """Every photo of the store into folder/<name>: hard-linked from the previous backup's photos when it holds the
    same name at the same length, else copied and checked. Then every name the snapshot's rows give must be
    there: a photo lost from the store fails the backup rather than making one that cannot restore it. A name
    listed but gone when read was a photo discarded before any row named it: nothing to keep."""
    files = total = linked = 0
    for name, size in store.entries():
        if not is_photo_name(name):
            raise BackupFailed(f"the photo store holds {name!r}, which is no photo's name: move it out of the store")
        target = folder / name
        if previous is not None and _linked(previous / PHOTOS / name, target, size):
            files, total, linked = files + 1, total + size, linked + 1
            continue
        try:
            with store.open(name) as source:
                sha256, copied = _copy_out(source, target)
        except PhotoMissing:
            continue
        check_content(name, sha256)
        if target.stat().st_size != copied:
            raise BackupFailed(f"{target}: {target.stat().st_size} bytes on the backup's disk, {copied} written")
        files, total = files + 1, total + copied
    missing = [name for name in named if not (folder / name).is_file()]
    if missing:
        raise BackupFailed(f"{len(missing)} photo file(s) the database names are not in the photo store, so not in "
                           f"the backup: {_some(missing)}")
    return Copied(files, total, linked)


def open_inside(root: Path, name: str) -> BinaryIO:
    """The file root/name opened for reading, no part of its path followed through a symlink (each folder is
    opened relative to the one before with O_NOFOLLOW), and refused unless a regular file."""
    *folders, last = PurePosixPath(name).parts
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        for part in folders:
            inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = inner
        file_fd = os.open(last, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=fd)
    finally:
        os.close(fd)
    if not stat.S_ISREG(os.fstat(file_fd).st_mode):
        os.close(file_fd)
        raise BackupFailed(f"{root / name} is not a regular file")
    return os.fdopen(file_fd, "rb")


def _entry_fault(root: Path, path: Path, is_folder: bool) -> str | None:
    """What is wrong with one entry under photos/, or None: only folders and regular files named as photos."""
    mode = os.lstat(path).st_mode
    if stat.S_ISLNK(mode):
        return f"{path} is a symlink"
    if is_folder:
        return None if stat.S_ISDIR(mode) else f"{path} is not a folder"
    name = path.relative_to(root).as_posix()
    if not stat.S_ISREG(mode):
        return f"{path} is not a regular file"
    if not is_photo_name(name):
        return f"{path} is not named as a photo is"
    if name.startswith("derived/"):
        with open_inside(root, name) as f:
            if f.read(len(JPEG_START)) != JPEG_START:
                return f"{path} is not a JPEG"
    return None


def backed_up_photos(folder: Path) -> list[tuple[str, int]]:
    """The backup's photo files, each with its name in the store and its length, after checking every entry under
    photos/ (walked without following links): one symlink, one file that is not a photo's name, or a copy that is
    not a JPEG refuses the whole backup, before anything is written."""
    root = folder / PHOTOS
    if not os.path.lexists(root):
        return []
    if not stat.S_ISDIR(os.lstat(root).st_mode):
        raise BackupFailed(f"{root} is not a folder (a symlink?): this backup is refused, nothing was changed")
    found, faults = [], []

    def walk_failed(exc: OSError) -> None:
        """A folder that cannot be listed stops the restore, as a refusal."""
        raise BackupFailed(f"{folder} cannot be read: {exc}")

    for here, folders, files in os.walk(root, followlinks=False, onerror=walk_failed):
        folders.sort()
        for entry, is_folder in [(f, True) for f in folders] + [(f, False) for f in sorted(files)]:
            path = Path(here) / entry
            fault = _entry_fault(root, path, is_folder)
            if fault:
                faults.append(fault)
            elif not is_folder:
                found.append((path.relative_to(root).as_posix(), os.lstat(path).st_size))
    if faults:
        raise BackupFailed(f"{len(faults)} entr{'y' if len(faults) == 1 else 'ies'} under {root} no backup writes, so "
                           f"this backup is refused and nothing was changed: {'; '.join(faults[:SHOWN])}")
    return found


def put_photos_back(folder: Path, photos: list[tuple[str, int]], store: PhotoStore) -> Copied:
    """Every photo of the backup (as backed_up_photos checked them) into the store under its name, an original
    checked against its name first; each then found in the store."""
    total = 0
    root = folder / PHOTOS
    for name, _ in photos:
        with open_inside(root, name) as source:
            sha256, size = sha256_of_stream(source)
            check_content(name, sha256)
            source.seek(0)
            store.put(name, source)
        total += size
    missing = {name for name, _ in photos} - set(store.names())
    if missing:
        raise BackupFailed(f"{len(missing)} photo(s) put back are not in the store: {_some(missing)}")
    return Copied(len(photos), total, 0)
