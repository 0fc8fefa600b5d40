"""`make load`: the rush-hour harness. Drives the real service (nginx in front of gunicorn, RQ workers, PostgreSQL,
Redis, on loopback) through four phases and prints their headline figures as `figure:` lines, writing all figures to a
JSON file.

1. throughput   riders upload 3-5 MB photos as fast as they can; dispatched per second against the pipeline's own
                single-process rate (measured first, in this run) times the number of worker processes;
2. slow phones  GETs of a report with nothing else going on, then while 50 phones trickle uploads at 2 Mbit/s;
3. slowloris    GETs of /healthz and a report, idle, then while 200 connections trickle headers and never finish
                (bench/slowloris.py);
4. faults       with photos now on an S3 object store (SeaweedFS on loopback), under steady uploads a worker is
                SIGKILLed mid-job, Redis restarts empty, PostgreSQL crashes and restarts, the object store crashes
                and restarts; afterwards every report that got a case number must be processed exactly once, and
                every photo of every case must be in its store.

`--smoke` runs a short version of each, judging only what counts (faults, slowloris errors), not speed (for CI);
`--direct` leaves nginx out, the phones talking to gunicorn itself: what the proxy buys.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import sqlalchemy as sa

from bench import ledger, log_check
from bench.figures import figure
from bench.riders import Outcome, Rider, one_of_a_kind, percentile, phone_photos, reading, spot_in
from bench.slowloris import slowloris
from bench.stack import PASSWORD, Stack
from service.db import Database
from service.models import Case

GRIDS_BOUNDS = (32.001, 120.841, 32.029, 120.879)  # inside the demo grids (south, west, north, east)
CATEGORIES = ("B0101", "B0118", "E0301", "B0203")
OUT = Path(__file__).resolve().parent / "out"
LOGINS_AT_ONCE = 4


@dataclass(frozen=True)
class Plan:
    """How big and how long each phase is."""

    photos: int = 10
    baseline_rounds: int = 2  # the pipeline alone takes each photo this many times, after one warm-up case
    throughput_riders: int = 6
    throughput_s: float = 60
    trickle_phones: int = 50
    trickle_bits_per_s: float = 2_000_000
    readers: int = 20
    reader_pause_s: float = 0.5  # on average: 20 readers make about 40 GETs a second
    idle_s: float = 20
    trickle_s: float = 30
    slowloris_connections: int = 200  # beyond gunicorn's 2 x 64 threads: with fewer, gunicorn alone would cope too
    slowloris_line_every_s: float = 4.0
    slowloris_idle_s: float = 15
    slowloris_s: float = 30  # three of nginx's 10 s header timeouts
    fault_riders: int = 6
    fault_pause_s: float = 0.5
    fault_s: float = 60
    kill_at_s: float = 10
    redis_at_s: float = 25
    postgres_at_s: float = 40
    object_store_at_s: float = 48
    settle_s: float = 240  # how long the sweeper gets to finish what the faults left behind


SMOKE = Plan(photos=3, throughput_riders=2, throughput_s=8, trickle_phones=6, readers=4,
             idle_s=4, trickle_s=8, slowloris_idle_s=4, slowloris_s=12, fault_riders=2, fault_s=20, kill_at_s=4,
             redis_at_s=9, postgres_at_s=14, object_store_at_s=17)


class Harness:
    """The stack, the photos, the riders' phones, and the ledger of every report the service said it took."""

    def __init__(self, stack: Stack, plan: Plan, photos: list[bytes]):
        self.stack, self.plan, self.photos = stack, plan, photos
        self.rng = random.Random(11)
        self.taken: dict[str, Outcome] = {}  # client id -> the 201/200 that took it
        self.refused: list[Outcome] = []
        self.sent = 0
        self._readers: list[tuple[Rider, str]] = []
        self.db = Database(stack.postgres.url)
        self.credentials: set[str] = set()  # every token and session cookie the service gave: never to be logged

    # --- riders -----------------------------------------------------------------------------------------------

    async def readers(self, http: aiohttp.ClientSession) -> list[tuple[Rider, str]]:
        """The people who read their own report now and then, each with its case number (made once, then kept)."""
        if not self._readers:
            riders = await self.riders(http, self.plan.readers, offset=self.plan.throughput_riders)
            own = [await self.send(r) for r in riders]
            self._readers = [(r, o.case_no) for r, o in zip(riders, own)]
            await self.wait_until_processed(60)
        return self._readers

    async def riders(self, http: aiohttp.ClientSession, count: int, offset: int = 0) -> list[Rider]:
        """`count` riders, logged in a few at a time: phones log in once and keep their token, so the phases measure
        reports and reads, not fifty password checks (scrypt, 0.1 s of CPU or more each) landing in one instant."""
        names = self.stack.rider_names(offset + count)[offset:]
        gate = asyncio.Semaphore(LOGINS_AT_ONCE)

        async def login(name: str) -> Rider:
            async with gate:
                return await Rider(http, self.stack.base, name, PASSWORD).login()

        riders = list(await asyncio.gather(*(login(n) for n in names)))
        self.credentials.update(r.headers["Authorization"].removeprefix("Bearer ") for r in riders)
        self.credentials.update(cookie.value for cookie in http.cookie_jar)
        return riders

    async def send(self, rider: Rider, bytes_per_s: float | None = None) -> Outcome:
        """One new report from this rider, with its own photo bytes, somewhere in the grids."""
        self.sent += 1
        client_id = f"{rider.username}-{self.sent:06d}"
        photo = one_of_a_kind(self.photos[self.sent % len(self.photos)], client_id)
        lat, lon = spot_in(GRIDS_BOUNDS, self.rng)
        outcome = await rider.report(photo, lat, lon, CATEGORIES[self.sent % len(CATEGORIES)], client_id,
                                     bytes_per_s=bytes_per_s)
        if outcome.case_no:
            self.taken[client_id] = outcome
        else:
            self.refused.append(outcome)
        return outcome

    async def keep_sending(self, rider: Rider, until: float, pause_s: float = 0.0,
                           bytes_per_s: float | None = None, start_within_s: float = 0.0) -> list[Outcome]:
        """Send reports one after another until `until`, first waiting a random while up to start_within_s."""
        await asyncio.sleep(self.rng.uniform(0, start_within_s))
        outcomes = []
        while time.monotonic() < until:
            outcomes.append(await self.send(rider, bytes_per_s))
            if pause_s:
                await asyncio.sleep(pause_s)
        return outcomes

    # --- what the database says ---------------------------------------------------------------------------------

    async def wait_until_processed(self, timeout_s: float) -> float:
        """Wait until no case is left `new` (restarting crashed processes meanwhile); returns the seconds waited."""
        started = time.monotonic()
        while ledger.unfinished(self.db) and time.monotonic() - started < timeout_s:
            self.stack.supervise()
            await asyncio.sleep(1)
        return time.monotonic() - started


# --- phase 1: throughput ------------------------------------------------------------------------------------------

def pipeline_rate(harness: Harness, case_nos: list[str]) -> float:
    """Cases per second of the pipeline itself in this one process: the worker's job without RQ or HTTP, on the
    workers' cores (which it shares with PostgreSQL and Redis, as they do)."""
    os.environ.update({k: v for k, v in harness.stack.env().items()
                       if k in ("DATABASE_URL", "REDIS_URL", "INSTANCE_DIR", "MEDIA_DIR", "SECRET_KEY")})
    from service import pipeline
    from workers import context

    context.reset()
    with harness.db.session() as session:
        ids = session.scalars(sa.select(Case.id).where(Case.case_no.in_(case_nos)).order_by(Case.id)).all()
    spent = []
    with harness.stack.on_worker_cores():
        for case_id in ids:
            started = time.perf_counter()
            with context.database().session() as session:
                pipeline.process_case(session, context.photo_store(), context.district_index(session),
                                      context.pipeline_rules(), case_id)
            spent.append(time.perf_counter() - started)
    context.database().dispose()
    warm = spent[1:] or spent  # the first case pays for imports and the grid index
    return 1 / statistics.fmean(warm)


def busy_machine(others_cores: float) -> str:
    """A warning when other programs kept a good part of a core busy: the ratio then compares unlike conditions."""
    return f" (other programs kept {others_cores:.1f} cores busy: not a clean measure)" if others_cores > 0.2 else ""


async def throughput(harness: Harness, http: aiohttp.ClientSession) -> dict:
    plan, stack = harness.plan, harness.stack
    # the baseline: reports taken with no worker running, then processed here in one process; one warm-up case,
    # then every photo as often as the others, as under load (their decoding times differ by a quarter)
    stack.stop_workers()
    rider = (await harness.riders(http, 1))[0]
    baseline = [await harness.send(rider) for _ in range(1 + plan.baseline_rounds * plan.photos)]
    before = stack.cpu_reading()
    rate = pipeline_rate(harness, [o.case_no for o in baseline if o.case_no])
    others_alone = stack.cpu_reading().others_since(before)
    print(f"load: pipeline alone, one process: {rate:.2f} cases/s{busy_machine(others_alone)}", flush=True)
    stack.start_workers()  # and waits until they listen: their start is not the queue's cost

    riders = await harness.riders(http, plan.throughput_riders)
    start_at, before = datetime.now(UTC), stack.cpu_reading()
    until = time.monotonic() + plan.throughput_s
    outcomes = sum(await asyncio.gather(*(harness.keep_sending(r, until) for r in riders)), [])
    end_at, others_loaded = datetime.now(UTC), stack.cpu_reading().others_since(before)
    seconds = (end_at - start_at).total_seconds()
    dispatched = ledger.finished_between(harness.db, start_at, end_at)
    accepted = sum(1 for o in outcomes if o.status == 201)
    drained = await harness.wait_until_processed(plan.settle_s)
    result = {
        "workers": stack.workers, "riders": plan.throughput_riders, "seconds": round(seconds, 1),
        "pipeline_cases_per_s_one_process": round(rate, 3),
        "accepted": accepted, "accepted_per_s": round(accepted / seconds, 2),
        "dispatched": dispatched, "dispatched_per_s": round(dispatched / seconds, 2),
        "upload_p50_s": round(percentile([o.seconds for o in outcomes], 50), 3),
        "backlog_drained_in_s": round(drained, 1),
        "dispatch_vs_pipeline": round(dispatched / seconds / (rate * stack.workers), 3),
        "other_programs_cores_alone": round(others_alone, 2),
        "other_programs_cores_under_load": round(others_loaded, 2),
    }
    print(f"load: throughput: {accepted} accepted ({result['accepted_per_s']}/s), {dispatched} dispatched "
          f"({result['dispatched_per_s']}/s) in {seconds:.0f} s by {stack.workers} worker(s); "
          f"backlog drained in {drained:.0f} s{busy_machine(others_loaded)}", flush=True)
    return result


# --- phase 2: slow phones -------------------------------------------------------------------------------------

async def slow_phones(harness: Harness, http: aiohttp.ClientSession) -> dict:
    plan = harness.plan
    pairs = [(r, [f"/api/v1/reports/{case_no}"]) for r, case_no in await harness.readers(http)]
    idle, idle_errors = await reading(pairs, plan.idle_s, plan.reader_pause_s)

    phones = await harness.riders(http, plan.trickle_phones, offset=plan.throughput_riders + plan.readers)
    # phones start at random moments within one upload's time, as people do, not all in the same instant
    ramp_s = 4.0e6 / (plan.trickle_bits_per_s / 8)
    until = time.monotonic() + ramp_s + plan.trickle_s
    uploads = asyncio.gather(*(harness.keep_sending(p, until, bytes_per_s=plan.trickle_bits_per_s / 8,
                                                    start_within_s=ramp_s) for p in phones))
    await asyncio.sleep(ramp_s)  # every phone is sending by now
    busy, busy_errors = await reading(pairs, plan.trickle_s, plan.reader_pause_s)
    outcomes = sum(await uploads, [])
    upload_errors = [f"upload {o.status} after {o.attempts} attempt(s): {' '.join(o.errors)}"
                     for o in outcomes if o.status != 201 or o.attempts != 1]
    result = {
        "phones": plan.trickle_phones, "readers": plan.readers, "mbit_per_s_each": plan.trickle_bits_per_s / 1e6,
        "idle_gets": len(idle), "idle_p50_ms": round(percentile(idle, 50) * 1000, 2),
        "idle_p99_ms": round(percentile(idle, 99) * 1000, 2),
        "busy_gets": len(busy), "busy_p50_ms": round(percentile(busy, 50) * 1000, 2),
        "busy_p99_ms": round(percentile(busy, 99) * 1000, 2),
        "uploads": len(outcomes), "upload_p50_s": round(percentile([o.seconds for o in outcomes], 50), 1),
        "errors": len(idle_errors) + len(busy_errors) + len(upload_errors),
        "error_details": (idle_errors + busy_errors + upload_errors)[:20],
    }
    result["p99_vs_idle"] = round(result["busy_p99_ms"] / result["idle_p99_ms"], 2)
    print(f"load: slow phones: GET p50/p99 {result['idle_p50_ms']}/{result['idle_p99_ms']} ms idle, "
          f"{result['busy_p50_ms']}/{result['busy_p99_ms']} ms with {plan.trickle_phones} phones trickling "
          f"({len(outcomes)} uploads, p50 {result['upload_p50_s']} s each); errors {result['errors']}", flush=True)
    await harness.wait_until_processed(plan.settle_s)
    return result


# --- phase 3: slowloris is in bench/slowloris.py; phase 4: faults --------------------------------------------

async def faults(harness: Harness, http: aiohttp.ClientSession) -> dict:
    plan, stack = harness.plan, harness.stack
    offset = plan.throughput_riders + plan.readers + plan.trickle_phones
    riders = await harness.riders(http, plan.fault_riders, offset=offset)
    await asyncio.to_thread(stack.use_object_store)
    print(f"load: faults: photos now in an S3 bucket ({stack.object_store.endpoint_url}, SeaweedFS)", flush=True)
    started = time.monotonic()
    until = started + plan.fault_s
    sending = asyncio.gather(*(harness.keep_sending(r, until, pause_s=plan.fault_pause_s) for r in riders))
    log: dict[str, float] = {}

    async def at(second: float) -> None:
        await asyncio.sleep(max(0.0, started + second - time.monotonic()))

    await at(plan.kill_at_s)
    victim = None
    while victim is None and time.monotonic() < until:
        victim = stack.busy_worker()
        if victim is None:
            await asyncio.sleep(0.05)
    if victim:
        stack.kill_worker(victim)
        log["worker_killed_at_s"] = round(time.monotonic() - started, 1)
        print(f"load: faults: SIGKILL {victim} mid-job", flush=True)
        stack.supervise()
    await at(plan.redis_at_s)
    log["redis_down_s"] = round(await asyncio.to_thread(stack.restart_redis), 2)
    print(f"load: faults: Redis restarted empty ({log['redis_down_s']} s away)", flush=True)
    await at(plan.postgres_at_s)
    log["postgres_down_s"] = round(await asyncio.to_thread(stack.postgres.restart_after_crash), 2)
    print(f"load: faults: PostgreSQL crashed and restarted ({log['postgres_down_s']} s away)", flush=True)
    await at(plan.object_store_at_s)
    log["object_store_down_s"] = round(await asyncio.to_thread(stack.restart_object_store), 2)
    print(f"load: faults: the object store crashed and restarted ({log['object_store_down_s']} s away)", flush=True)
    outcomes = sum(await sending, [])
    stack.supervise()
    settled = await harness.wait_until_processed(plan.settle_s)
    check = {**ledger.ledger_check(harness.db, harness.taken, harness.refused),
             "photos_missing": ledger.photos_missing(harness.db, stack)}
    result = {**log, "reports_sent": len(outcomes), "retried": sum(1 for o in outcomes if o.attempts > 1),
              "settled_in_s": round(settled, 1), "restarts": dict(stack.restarts), **check}
    print(f"load: faults: {check['reports_taken']} reports taken ({check['answered_201']} answered 201, "
          f"{check['answered_200_retry']} answered 200 to a retry), {check['cases']} cases; by state "
          f"{check['cases_by_state']}; processed once {check['processed_once']}, more than once "
          f"{check['processed_more_than_once']}; lost {check['lost']}; settled {settled:.0f} s after the load",
          flush=True)
    return result


# --- the run --------------------------------------------------------------------------------------------------

PHASES = {"throughput": throughput, "slow_phones": slow_phones, "slowloris": slowloris, "faults": faults}


async def run(harness: Harness, phases: list[str]) -> dict:
    stack = harness.stack
    if "throughput" not in phases:
        stack.start_workers()  # the throughput phase starts them after measuring the pipeline alone
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=60)
    # an idle connection is dropped before gunicorn's keepalive (5 s) would close it under a request being sent
    connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=4)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as http:
        return {name: await PHASES[name](harness, http) for name in phases}


def headline(figures: dict, smoke: bool) -> bool:
    """Print the `figure:` lines of the phases that ran; True when every target holds (in a smoke run only the
    fault counts and the slowloris errors count: its phases are too short to judge speed)."""
    correct, speed = [], []
    if "faults" in figures:
        f = figures["faults"]
        correct += [
            figure("faults_reports_lost", f["lost"], "<=", 0),
            figure("faults_reports_not_finished", f["not_finished"], "<=", 0),
            figure("faults_reports_processed_twice", f["processed_more_than_once"], "<=", 0),
            figure("faults_cases_minus_reports_taken", f["cases"] - f["reports_taken"], "<=", 0),
            figure("reports_refused", f["refused"], "<=", 0),
            figure("faults_photos_missing", f["photos_missing"], "<=", 0),
        ]
    if "logs" in figures:
        correct += [figure("log_secrets_found", figures["logs"]["secrets_found"], "=", 0),
                    figure("log_lines_not_json", figures["logs"]["lines_not_json"], "=", 0)]
    if "throughput" in figures:
        speed.append(figure("dispatch_vs_pipeline", figures["throughput"]["dispatch_vs_pipeline"], ">=", 0.7))
    if "slow_phones" in figures:
        speed.append(figure("slow_phones_get_p99_vs_idle", figures["slow_phones"]["p99_vs_idle"], "<=", 3))
        speed.append(figure("slow_phones_errors", figures["slow_phones"]["errors"], "<=", 0))
    if "slowloris" in figures:
        speed.append(figure("slowloris_get_p99_vs_idle", figures["slowloris"]["p99_vs_idle"], "<=", 3))
        correct.append(figure("slowloris_errors", figures["slowloris"]["errors"], "<=", 0))
    return all(correct) and (smoke or all(speed))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a short run for CI: fault and error counts only")
    parser.add_argument("--direct", action="store_true",
                        help="no nginx in front: the phones talk to gunicorn itself (to see what the proxy buys)")
    parser.add_argument("--workers", type=int, default=max(1, len(os.sched_getaffinity(0)) // 2),
                        help="RQ worker processes, each on a core of its own (default: half the cores)")
    parser.add_argument("--json", type=Path, default=None, help="where to write the figures")
    parser.add_argument("--keep", action="store_true", help="keep the stack's folder (logs, database) afterwards")
    parser.add_argument("--only", choices=list(PHASES), action="append",
                        help="run only this phase (may be given more than once); its figures alone are judged")
    args = parser.parse_args()
    plan = SMOKE if args.smoke else Plan()
    began = time.monotonic()
    print(f"load: making {plan.photos} phone photos (12 MP, 3-5 MB)", flush=True)
    photos = phone_photos(plan.photos)
    riders = plan.throughput_riders + plan.readers + plan.trickle_phones + plan.fault_riders
    stack = Stack(workers=args.workers, proxied=not args.direct).start(riders)
    print(f"load: service up at {stack.base} ({stack.proxy} in front): gunicorn and the phones on cores "
          f"{sorted(stack.front_cpus)}, "
          f"{stack.workers} worker(s) with PostgreSQL and Redis on {sorted(stack.back_cpus)}; files in {stack.folder}",
          flush=True)
    harness = Harness(stack, plan, photos)
    try:
        figures = asyncio.run(run(harness, args.only or list(PHASES)))
        secrets = ledger.secrets(harness.db, stack, harness.credentials)
        stack.stop(keep_files=True)  # every process stopped, its last line written: then its log is read
        figures["logs"] = log_check.scan(stack.folder, secrets)
    finally:
        stack.stop(keep_files=args.keep)
    figures["run"] = {"smoke": args.smoke, "proxy": stack.proxy, "seconds": round(time.monotonic() - began),
                      "cpus": os.cpu_count(),
                      "front_cpus": sorted(stack.front_cpus), "back_cpus": sorted(stack.back_cpus),
                      "at": datetime.now(UTC).isoformat(timespec="seconds"), "plan": plan.__dict__}
    path = args.json or OUT / ("load-smoke.json" if args.smoke else "load.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    ok = headline(figures, args.smoke)
    print(f"load: {'all targets met' if ok else 'TARGETS MISSED'} in {figures['run']['seconds']} s; figures in {path}",
          flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
