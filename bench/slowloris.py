"""The slowloris phase of `make load`: connections that trickle a request's headers, a line every few seconds, never
finishing, while people read `/healthz` and their report. nginx bounds the time a request's headers may take and
holds such a connection for a kilobyte; gunicorn alone gives each one a thread until it finishes, which it never does.
"""
from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from bench.riders import percentile, reading


@dataclass
class Tally:
    """What the trickling connections met: how many were opened, how many the server let go, and after how long."""

    opened: int = 0
    refused: int = 0  # connections the server would not even accept
    held_s: list[float] = field(default_factory=list)  # for each connection the server closed: how long it lasted


async def trickle(host: str, port: int, line_every_s: float, until: float, rng: random.Random, tally: Tally) -> None:
    """One attacker: a request line, then a header line every line_every_s (or so) until `until`; when the server
    closes the connection (or answers, 408 or 400), it opens another at once, as a real slowloris does."""
    while time.monotonic() < until:
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            tally.refused += 1
            await asyncio.sleep(line_every_s)
            continue
        tally.opened += 1
        opened, lines = time.monotonic(), 0
        try:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: slowloris\r\nUser-Agent: slowloris\r\n")
            await writer.drain()
            while (left := until - time.monotonic()) > 0:
                try:
                    await asyncio.wait_for(reader.read(4096), timeout=min(left, rng.uniform(0.8, 1.2) * line_every_s))
                except TimeoutError:
                    lines += 1
                    writer.write(f"X-Trickle-{lines}: {rng.randrange(10 ** 6)}\r\n".encode())
                    await writer.drain()
                    continue
                tally.held_s.append(time.monotonic() - opened)  # an answer or the end: the server let go
                break
        except (ConnectionError, OSError):
            tally.held_s.append(time.monotonic() - opened)
        finally:
            writer.close()


async def slowloris(harness, http) -> dict:
    """Readers with nothing else going on, then the same readers while plan.slowloris_connections trickle headers;
    every GET is judged, /healthz and the case alike."""
    plan, base = harness.plan, urlsplit(harness.stack.base)
    pairs = [(r, ["/healthz", f"/api/v1/reports/{case_no}"]) for r, case_no in await harness.readers(http)]
    idle, idle_errors = await reading(pairs, plan.slowloris_idle_s, plan.reader_pause_s)

    tally, rng = Tally(), random.Random(13)
    until = time.monotonic() + plan.slowloris_line_every_s + plan.slowloris_s
    attack = asyncio.gather(*(trickle(base.hostname, base.port, plan.slowloris_line_every_s, until, rng, tally)
                              for _ in range(plan.slowloris_connections)))
    await asyncio.sleep(plan.slowloris_line_every_s)  # every connection is open and trickling by now
    busy, busy_errors = await reading(pairs, plan.slowloris_s, plan.reader_pause_s)
    await attack
    held = tally.held_s
    result = {
        "connections": plan.slowloris_connections, "line_every_s": plan.slowloris_line_every_s,
        "readers": len(pairs), "through": harness.stack.proxy,
        "idle_gets": len(idle), "idle_p50_ms": round(percentile(idle, 50) * 1000, 2),
        "idle_p99_ms": round(percentile(idle, 99) * 1000, 2),
        "busy_gets": len(busy), "busy_p50_ms": round(percentile(busy, 50) * 1000, 2),
        "busy_p99_ms": round(percentile(busy, 99) * 1000, 2),
        "attack_connections_opened": tally.opened, "attack_connections_refused": tally.refused,
        "attack_connections_let_go": len(held),
        "attack_held_p50_s": round(percentile(held, 50), 1) if held else None,
        "errors": len(idle_errors) + len(busy_errors),
        "error_details": (idle_errors + busy_errors)[:20],
    }
    result["p99_vs_idle"] = round(result["busy_p99_ms"] / result["idle_p99_ms"], 2) if busy else None
    print(f"load: slowloris: GET p50/p99 {result['idle_p50_ms']}/{result['idle_p99_ms']} ms idle, "
          f"{result['busy_p50_ms']}/{result['busy_p99_ms']} ms with {plan.slowloris_connections} connections "
          f"trickling headers through {result['through']} ({tally.opened} opened, {len(held)} let go by the server "
          f"after {result['attack_held_p50_s']} s at the median); errors {result['errors']}", flush=True)
    return result
