"""What riders' phones send, for the load harness and the tests that talk to a real server: multipart bodies,
phone-sized photos, an asyncio client that uploads at full speed or trickles at a phone's rate, and people reading
their reports now and then, whose latencies the harness judges."""
from __future__ import annotations

import asyncio
import io
import random
import struct
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import numpy as np

RETRY_STATUSES = {408, 429, 500, 502, 503, 504}  # what a phone's outbox sends again, with the same client id
RETRY_PAUSE_S = 1.0  # the harness waits this long between attempts (a phone backs off longer)
READ_GIVE_UP_S = 10.0  # a person reading their report gives up after this long (an error, not a latency)
TRICKLE_CHUNK = 16 * 1024


def multipart_body(fields: dict, files: dict) -> tuple[bytes, str]:
    """Encode fields and files ({name: (filename, bytes)}) as multipart/form-data, the way curl -F does.

    Returns the body and its Content-Type (with the boundary).
    """
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, (filename, content) in files.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                     f"Content-Type: image/jpeg\r\n\r\n".encode() + content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def phone_photos(count: int, seed: int = 7) -> list[bytes]:
    """`count` different 12 MP phone JPEGs of 3-5 MB, with a phone's EXIF (the photo benchmark's recipe)."""
    from bench.photos import FILE_MB, phone_exif, photo_pixels

    rng = np.random.default_rng(seed)
    photos = []
    for n in range(count):
        buf = io.BytesIO()
        photo_pixels(rng, 8.0 + n % 3).save(buf, "JPEG", quality=90, exif=phone_exif((1, 6)[n % 2], 1 + n % 28))
        assert FILE_MB[0] <= buf.tell() / 1e6 <= FILE_MB[1], f"photo {n} is {buf.tell() / 1e6:.2f} MB"
        photos.append(buf.getvalue())
    return photos


def one_of_a_kind(photo: bytes, tag: str) -> bytes:
    """The photo with a JPEG comment naming this upload, so no two uploads share their bytes (or SHA-256)."""
    comment = tag.encode()
    return photo[:2] + b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment + photo[2:]


@dataclass
class Outcome:
    """How one report went: its final status, case number, attempts, and seconds from first try to answer."""

    client_id: str
    status: int | None
    case_no: str | None
    attempts: int
    seconds: float
    errors: list[str]


async def _paced(body: bytes, bytes_per_s: float) -> AsyncIterator[bytes]:
    """The body in small pieces, no faster than a phone's uplink."""
    start = time.monotonic()
    for offset in range(0, len(body), TRICKLE_CHUNK):
        due = start + offset / bytes_per_s
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        yield body[offset:offset + TRICKLE_CHUNK]


class Rider:
    """One rider's phone: logs in once, then sends reports (retrying as its outbox would) and reads them back."""

    def __init__(self, http: aiohttp.ClientSession, base: str, username: str, password: str):
        self.http, self.base, self.username, self.password = http, base, username, password
        self.headers: dict[str, str] = {}

    async def login(self) -> Rider:
        async with self.http.post(f"{self.base}/api/v1/auth/login",
                                  json={"username": self.username, "password": self.password}) as response:
            body = await response.json()
            if response.status != 200:
                raise RuntimeError(f"login {self.username}: {response.status} {body}")
        self.headers = {"Authorization": f"Bearer {body['token']}"}
        return self

    async def report(self, photo: bytes, lat: float, lon: float, category: str, client_id: str,
                     bytes_per_s: float | None = None, give_up_after_s: float = 120) -> Outcome:
        """Send one report until it is taken (201, or 200 for a retry of one already taken) or refused."""
        fields = {"lat": f"{lat:.6f}", "lon": f"{lon:.6f}", "category": category, "client_report_id": client_id,
                  "coord_system": "wgs84"}
        body, content_type = multipart_body(fields, {"photo": ("IMG.jpg", photo)})
        headers = {**self.headers, "Content-Type": content_type, "Content-Length": str(len(body))}
        started, attempts, errors = time.monotonic(), 0, []
        while True:
            attempts += 1
            status, answer = None, {}
            try:
                data = _paced(body, bytes_per_s) if bytes_per_s else body
                async with self.http.post(f"{self.base}/api/v1/reports", data=data, headers=headers) as response:
                    status = response.status
                    answer = await response.json(content_type=None)
            except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
                errors.append(type(exc).__name__)
            if status in (200, 201):
                return Outcome(client_id, status, answer["case_no"], attempts, time.monotonic() - started, errors)
            if status is not None:
                errors.append(str(status))
                if status not in RETRY_STATUSES:
                    return Outcome(client_id, status, None, attempts, time.monotonic() - started, errors)
            if time.monotonic() - started > give_up_after_s:
                return Outcome(client_id, status, None, attempts, time.monotonic() - started, errors)
            await asyncio.sleep(RETRY_PAUSE_S)

    async def get(self, path: str) -> tuple[int | str, float]:
        """GET a path as this rider; returns the status (or what went wrong with the connection) and the seconds
        it took. An answer slower than READ_GIVE_UP_S is no answer: the person has given up."""
        started = time.perf_counter()
        try:
            async with self.http.get(f"{self.base}{path}", headers=self.headers,
                                     timeout=aiohttp.ClientTimeout(total=READ_GIVE_UP_S)) as response:
                await response.read()
                return response.status, time.perf_counter() - started
        except (TimeoutError, aiohttp.ClientError) as exc:
            return type(exc).__name__, time.perf_counter() - started


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of the values; NaN for none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def read_loop(reader: Rider, paths: list[str], until: float, pause_s: float,
                    rng: random.Random) -> tuple[list[float], list]:
    """One person reading now and then (the paths in turn): pauses vary around pause_s, so readers never march in
    step. Returns the seconds of each 200 and a note for each answer that was not one."""
    latencies, errors = [], []
    await asyncio.sleep(rng.uniform(0, pause_s))
    turn = 0
    while time.monotonic() < until:
        path = paths[turn % len(paths)]
        turn += 1
        status, seconds = await reader.get(path)
        if status == 200:
            latencies.append(seconds)
        else:
            errors.append(f"GET {path} {status}")
        await asyncio.sleep(rng.uniform(0.5, 1.5) * pause_s)
    return latencies, errors


async def reading(readers: list[tuple[Rider, list[str]]], seconds: float, pause_s: float) -> tuple[list[float], list]:
    """Every reader reading its paths for `seconds`: all the latencies, and all the errors."""
    until = time.monotonic() + seconds
    rng = random.Random(5)
    results = await asyncio.gather(*(read_loop(r, paths, until, pause_s, rng) for r, paths in readers))
    return sum((r[0] for r in results), []), sum((r[1] for r in results), [])


def spot_in(bounds: tuple[float, float, float, float], rng: random.Random) -> tuple[float, float]:
    """A random point in (south, west, north, east)."""
    south, west, north, east = bounds
    return rng.uniform(south, north), rng.uniform(west, east)
