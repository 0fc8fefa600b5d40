"""Where photos are kept: a folder on local disk, or an S3-compatible object store every host shares — one interface.

A photo's name is its place in the store, relative to its root: `originals/ab/<sha256>.<ext>` for what a phone sent,
`derived/ab/<sha256>_<variant>.jpg` for the copies the pipeline makes. Names are given by content, so writing the
same bytes twice is harmless and a copy made again on another host lands on the same name.
"""
from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Protocol

from config.settings import ObjectStoreAccess, Settings

EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "HEIF": "heic"}
VARIANTS = ("web", "thumb")  # the copies the pipeline makes of an original
CHUNK = 1024 * 1024
# every name original_name and derived_name can give, and no other: what a backup copies out and a restore puts back
_PHOTO_NAME = re.compile(
    rf"originals/(?P<o>[0-9a-f]{{2}})/(?P=o)[0-9a-f]{{62}}\.(?:{'|'.join(EXTENSIONS.values())})"
    rf"|derived/(?P<d>[0-9a-f]{{2}})/(?P=d)[0-9a-f]{{62}}_(?:{'|'.join(VARIANTS)})\.jpg")


class PhotoStoreUnavailable(Exception):
    """The store could not be reached or did not take a write: nothing was acknowledged, the client may try again."""


class PhotoMissing(FileNotFoundError):
    """No photo is kept under this name (the machine's trouble, not the photo's: a job meeting it is retried)."""


@dataclass(frozen=True)
class StoredOriginal:
    """An original photo in the store, named by its content."""

    sha256: str
    relpath: str  # its name in the store
    size_bytes: int
    newly_written: bool  # False when the same bytes were already stored


def original_name(sha256: str, fmt: str) -> str:
    """The name of an original with this hash and Pillow format."""
    return f"originals/{sha256[:2]}/{sha256}.{EXTENSIONS[fmt]}"


def sha256_of_name(name: str) -> str:
    """The content hash a photo's name carries (originals/ab/<sha256>.jpg, derived/ab/<sha256>_web.jpg)."""
    return name.rsplit("/", 1)[-1].split(".", 1)[0].split("_", 1)[0]


def derived_name(sha256: str, variant: str) -> str:
    """The name of a copy (web, thumb) made from the original with this hash."""
    if variant not in VARIANTS:
        raise ValueError(f"{variant!r} is not one of the copies made of a photo: {VARIANTS}")
    return f"derived/{sha256[:2]}/{sha256}_{variant}.jpg"


def is_photo_name(name: str) -> bool:
    """Whether the name is one original_name or derived_name gives (nothing else belongs in a store)."""
    return _PHOTO_NAME.fullmatch(name) is not None


def digested(stream: BinaryIO, *digests) -> int:
    """Feed what is left in the stream to each hashlib digest, a chunk at a time; how many bytes there were. The one
    loop over a photo's bytes (backups' checks may use it too)."""
    size = 0
    while chunk := stream.read(CHUNK):
        for digest in digests:
            digest.update(chunk)
        size += len(chunk)
    return size


def sha256_of_stream(stream: BinaryIO) -> tuple[str, int]:
    """The SHA-256 (hex) and length of what is left in the stream, read to its end: an original's name, checked."""
    sha = hashlib.sha256()
    size = digested(stream, sha)
    return sha.hexdigest(), size


def _digests(stream: BinaryIO) -> tuple[str, bytes, int]:
    """The stream's SHA-256 (hex), MD5 (raw) and length, read from its start and left rewound."""
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    stream.seek(0)
    size = digested(stream, sha, md5)
    stream.seek(0)
    return sha.hexdigest(), md5.digest(), size


class PhotoStore(Protocol):
    """What intake, the pipeline, the web and backups need of a photo store."""

    def put_original(self, stream: BinaryIO, fmt: str) -> StoredOriginal:
        """Keep an upload whole and durably before anyone is told it was received."""

    def put_derived(self, sha256: str, variant: str, data: bytes) -> str:
        """Keep a copy made from an original; returns its name."""

    def put(self, relpath: str, stream: BinaryIO) -> None:
        """Keep a file under a name it already had (a restore)."""

    def open(self, relpath: str) -> BinaryIO:
        """A readable, seekable file of the photo; raises PhotoMissing."""

    def read_bytes(self, relpath: str) -> bytes:
        """The photo's bytes; raises PhotoMissing."""

    def local_path(self, relpath: str) -> Path | None:
        """The photo's file on this host's disk, when the store is a folder (served without reading it here)."""

    def check(self) -> None:
        """Raise PhotoStoreUnavailable unless the store can be reached now."""

    def names(self) -> Iterator[str]:
        """The name of every file kept, for a backup."""

    def entries(self) -> Iterator[tuple[str, int]]:
        """The name and length of every file kept, for a backup."""

    def originals_written_before(self, cutoff: datetime) -> Iterator[str]:
        """The originals last written before this instant (UTC), for the sweep of those no row names."""

    def discard(self, relpath: str) -> None:
        """Remove a file (an original no row names, found by the daily sweep)."""


class FolderPhotoStore:
    """Photos under a folder of this host's disk, each written whole and fsync'd before anyone is told."""

    def __init__(self, media_dir: Path):
        self.media_dir = Path(media_dir)

    def path(self, relpath: str) -> Path:
        """The absolute path of a stored file."""
        return self.media_dir / relpath

    def local_path(self, relpath: str) -> Path | None:
        return self.path(relpath)

    def check(self) -> None:
        """This host's own disk: always there (a full one shows in the collector's disk figures)."""

    def put_original(self, stream: BinaryIO, fmt: str) -> StoredOriginal:
        """Copy the upload to a temporary file beside its final place, fsync it, then rename it into place."""
        sha, _, size = _digests(stream)
        relpath = original_name(sha, fmt)
        if self.path(relpath).exists():
            return StoredOriginal(sha, relpath, size, newly_written=False)
        self._write(relpath, stream, durable=True)
        return StoredOriginal(sha, relpath, size, newly_written=True)

    def put_derived(self, sha256: str, variant: str, data: bytes) -> str:
        relpath = derived_name(sha256, variant)
        self._write(relpath, io.BytesIO(data), durable=False)  # made again from the original if lost
        return relpath

    def put(self, relpath: str, stream: BinaryIO) -> None:
        self._write(relpath, stream, durable=True)

    def _write(self, relpath: str, stream: BinaryIO, durable: bool) -> None:
        """Write to a temporary file in the final folder and rename it into place: no reader sees half a file."""
        final = self.path(relpath)
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=final.parent, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK):
                    out.write(chunk)
                if durable:
                    out.flush()
                    os.fsync(out.fileno())
            os.replace(tmp_name, final)
            if durable:
                _fsync_dir(final.parent)
        except BaseException:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)
            raise

    def open(self, relpath: str) -> BinaryIO:
        try:
            return open(self.path(relpath), "rb")
        except FileNotFoundError:
            raise PhotoMissing(relpath) from None

    def read_bytes(self, relpath: str) -> bytes:
        with self.open(relpath) as f:
            return f.read()

    def names(self) -> Iterator[str]:
        return (name for name, _ in self.entries())

    def entries(self) -> Iterator[tuple[str, int]]:
        for folder in ("originals", "derived"):
            for path in sorted((self.media_dir / folder).rglob("*")):
                try:
                    if path.is_file() and path.suffix != ".part":
                        yield path.relative_to(self.media_dir).as_posix(), path.stat().st_size
                except FileNotFoundError:  # discarded as we listed: it was no row's photo
                    continue

    def originals_written_before(self, cutoff: datetime) -> Iterator[str]:
        for path in (self.media_dir / "originals").rglob("*"):
            try:
                if path.is_file() and path.suffix != ".part" and path.stat().st_mtime < cutoff.timestamp():
                    yield path.relative_to(self.media_dir).as_posix()
            except FileNotFoundError:  # removed as we listed
                continue

    def discard(self, relpath: str) -> None:
        try:
            self.path(relpath).unlink()
        except FileNotFoundError:
            pass


def _fsync_dir(path: Path) -> None:
    """Make a rename in this folder durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Patience:
    """How long a call to the object store may take before the store counts as down: seconds to connect, seconds
    of silence while reading, attempts in all."""

    connect_s: float
    read_s: float
    attempts: int


BACKGROUND = Patience(3, 15, 3)  # a worker's job: retried later anyway, so wait for a slow store
RIDER_WAITING = Patience(2, 5, 2)  # a request: 503 well within nginx's 60 s, before every thread is held waiting
SCRAPE = Patience(1, 2, 1)  # the metrics collector's check: an answer within Prometheus's 10 s scrape timeout


class ObjectPhotoStore:
    """Photos as objects in a private S3 bucket; every host reads and writes the same ones.

    An original is sent with its MD5 (the server refuses bytes that do not match it) and read back by HEAD before
    it counts as kept. Objects are never public: the web serves them itself (service/web/photo_files.py).
    """

    def __init__(self, access: ObjectStoreAccess, patience: Patience | None = None):
        import boto3
        from botocore.config import Config

        patience = patience or BACKGROUND
        self.bucket = access.bucket
        self.prefix = access.prefix.strip("/") + "/" if access.prefix.strip("/") else ""
        self.client = boto3.client(
            "s3", endpoint_url=access.endpoint_url, region_name=access.region,
            aws_access_key_id=access.access_key_id, aws_secret_access_key=access.secret_access_key,
            config=Config(connect_timeout=patience.connect_s, read_timeout=patience.read_s,
                          retries={"max_attempts": patience.attempts, "mode": "standard"},
                          s3={"addressing_style": "path"}, max_pool_connections=64,
                          # botocore's own CRC checksums (since 1.36) turn an upload over https into aws-chunked
                          # with a trailer, which many S3-compatible stores refuse; the MD5 we send and the HEAD
                          # after it are the check
                          request_checksum_calculation="when_required",
                          response_checksum_validation="when_required"))

    def _key(self, relpath: str) -> str:
        return self.prefix + relpath

    def _call(self, name: str, **kwargs):
        """One call to the store; not reaching it, or its refusal, is PhotoStoreUnavailable (a missing key aside)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, name)(Bucket=self.bucket, **kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                raise PhotoMissing(kwargs.get("Key", "")) from None
            raise PhotoStoreUnavailable(f"{name}: {exc}") from exc
        except BotoCoreError as exc:
            raise PhotoStoreUnavailable(f"{name}: {exc}") from exc

    def _size(self, relpath: str) -> int | None:
        """The object's length, or None when there is none."""
        try:
            return self._call("head_object", Key=self._key(relpath))["ContentLength"]
        except PhotoMissing:
            return None

    def put_original(self, stream: BinaryIO, fmt: str) -> StoredOriginal:
        sha, md5, size = _digests(stream)
        relpath = original_name(sha, fmt)
        if self._size(relpath) == size:
            return StoredOriginal(sha, relpath, size, newly_written=False)
        self._send(relpath, stream, md5, size, "image/" + EXTENSIONS[fmt].replace("jpg", "jpeg"))
        return StoredOriginal(sha, relpath, size, newly_written=True)

    def put_derived(self, sha256: str, variant: str, data: bytes) -> str:
        relpath = derived_name(sha256, variant)
        self._send(relpath, io.BytesIO(data), hashlib.md5(data, usedforsecurity=False).digest(), len(data),
                   "image/jpeg")
        return relpath

    def put(self, relpath: str, stream: BinaryIO) -> None:
        _, md5, size = _digests(stream)
        self._send(relpath, stream, md5, size, "application/octet-stream")

    def _send(self, relpath: str, stream: BinaryIO, md5: bytes, size: int, content_type: str) -> None:
        """PUT the bytes with their MD5, then HEAD them: kept only when the store answers with the same length."""
        stream.seek(0)
        self._call("put_object", Key=self._key(relpath), Body=stream, ContentLength=size, ContentType=content_type,
                   ContentMD5=base64.b64encode(md5).decode("ascii"))
        if self._size(relpath) != size:
            raise PhotoStoreUnavailable(f"{relpath}: the store does not hold what was sent")

    def open(self, relpath: str) -> BinaryIO:
        return io.BytesIO(self.read_bytes(relpath))

    def read_bytes(self, relpath: str) -> bytes:
        from botocore.exceptions import BotoCoreError

        body = self._call("get_object", Key=self._key(relpath))["Body"]
        try:
            return body.read()
        except BotoCoreError as exc:
            raise PhotoStoreUnavailable(f"get_object: {exc}") from exc
        finally:
            body.close()

    def local_path(self, relpath: str) -> Path | None:
        return None

    def check(self) -> None:
        """Raise PhotoStoreUnavailable unless the bucket answers (the metrics collector asks at each scrape)."""
        self._call("head_bucket")

    def _listing(self, under: str = "") -> Iterator[dict]:
        """The bucket's objects under our prefix (and `under` within it), page by page."""
        from botocore.exceptions import BotoCoreError, ClientError

        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix + under)
        try:
            for page in pages:
                yield from page.get("Contents", ())
        except (BotoCoreError, ClientError) as exc:  # a backup must say the store is down, not die of a traceback
            raise PhotoStoreUnavailable(f"list_objects_v2: {exc}") from exc

    def names(self) -> Iterator[str]:
        return (name for name, _ in self.entries())

    def entries(self) -> Iterator[tuple[str, int]]:
        for item in self._listing():
            yield item["Key"][len(self.prefix):], item["Size"]

    def originals_written_before(self, cutoff: datetime) -> Iterator[str]:
        for item in self._listing("originals/"):
            if item["LastModified"] < cutoff:
                yield item["Key"][len(self.prefix):]

    def discard(self, relpath: str) -> None:
        try:
            self._call("delete_object", Key=self._key(relpath))
        except PhotoMissing:
            pass


def photo_store_for(settings: Settings, patience: Patience | None = None) -> PhotoStore:
    """The store the settings name: the bucket when PHOTO_STORE names one (its calls as patient as asked), else the
    media folder."""
    if settings.photo_objects:
        return ObjectPhotoStore(settings.photo_objects, patience)
    return FolderPhotoStore(settings.media_dir)
