"""The whole service as production runs it, on loopback, for the load harness: a PostgreSQL cluster and a Redis
server of its own (so they can be restarted without touching the machine's), nginx with the shipped config in front
of gunicorn, RQ workers and the scheduler.

The stack also plays the process manager: a process that dies is started again, as systemd or a Procfile runner
would, and each restart is counted.
"""
from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from bench.nginx import Nginx
from bench.object_store import SeaweedS3
from config import Settings
from service.db import Database, upgrade_schema
from service.district import load_district, load_users
from service.runtime.embedded_redis import EmbeddedRedis, free_port
from service.runtime.runner import signal_group, stop_processes, wait_healthy

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PASSWORD = "load-pass-123"


def _postgres_bin() -> Path:
    """The folder of the newest PostgreSQL server binaries on this machine."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name))
    if not found:
        raise SystemExit("load: PostgreSQL server binaries not found under /usr/lib/postgresql "
                         "(apt-get install postgresql)")
    return found[-1].parent


class PrivatePostgres:
    """A PostgreSQL cluster in a folder of its own, on its own port; run as the postgres user when we are root."""

    def __init__(self, folder: Path, cpus: set[int]):
        self.folder = folder
        self.cpus = cpus
        self.port = free_port()
        self.bin = _postgres_bin()
        self.as_postgres = os.geteuid() == 0

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self.as_postgres else []
        done = subprocess.run(prefix + list(args), capture_output=True, text=True, timeout=120,
                              preexec_fn=lambda: os.sched_setaffinity(0, self.cpus))
        if done.returncode:
            raise RuntimeError(f"{' '.join(args[:1])} failed ({done.returncode}): {done.stdout}{done.stderr}")

    def create(self) -> PrivatePostgres:
        self.folder.mkdir(parents=True)
        if self.as_postgres:
            self.folder.parent.chmod(0o755)  # the postgres user must reach its folder
            user = pwd.getpwnam("postgres")
            os.chown(self.folder, user.pw_uid, user.pw_gid)
        self._run(str(self.bin / "initdb"), "-D", str(self.folder / "data"), "-A", "trust", "-U", "postgres",
                  "-E", "UTF8", "--locale", "C.UTF-8", "--no-sync")
        return self.start()

    def start(self) -> PrivatePostgres:
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} -c max_connections=300 "
                   "-c shared_buffers=256MB")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "-l", str(self.folder / "server.log"),
                  "-o", options, "-w", "start")
        return self

    def stop(self, mode: str = "fast") -> None:
        """Stop the server; mode "immediate" is a crash: no checkpoint, recovery on the next start."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "-m", mode, "-w", "stop")

    def restart_after_crash(self) -> float:
        """Stop as a crash would, start again; returns the seconds the database was away."""
        started = time.monotonic()
        self.stop("immediate")
        self.start()
        return time.monotonic() - started


def machine_busy_s() -> float:
    """CPU seconds every core has spent busy since boot, counting time the hypervisor stole."""
    t = psutil.cpu_times()
    return t.user + t.nice + t.system + t.irq + t.softirq + getattr(t, "steal", 0.0)


def process_tree_cpu_s(roots: set[int]) -> float:
    """CPU seconds used by these processes and all their descendants, those reaped included."""
    total = 0.0
    for root in roots:
        try:
            tree = psutil.Process(root)
            tree = [tree, *tree.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for proc in tree:
            try:
                total += sum(proc.cpu_times()[:4])  # user, system, and those of its reaped children
            except psutil.NoSuchProcess:  # gone meanwhile: its parent has it now, or will
                pass
    return total


@dataclass(frozen=True)
class CpuReading:
    """The machine's busy CPU seconds and the stack's own (this process's included), at one instant."""

    at: float
    busy_s: float
    ours_s: float

    def others_since(self, earlier: CpuReading) -> float:
        """How many cores' worth other programs on the machine kept busy between the two readings."""
        others = (self.busy_s - earlier.busy_s) - (self.ours_s - earlier.ours_s)
        return max(0.0, others) / max(self.at - earlier.at, 1e-9)


def split_cpus(workers: int) -> tuple[set[int], set[int]]:
    """The cores of the front (the web server and the phones) and of the back (RQ workers, PostgreSQL, Redis, the
    scheduler): a core for each worker, as two kinds of host would have them; with a single core, both are it."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return set(cpus), set(cpus)
    back = cpus[-min(workers, len(cpus) - 1):]
    return set(cpus) - set(back), set(back)


@dataclass
class Stack:
    """The running service: `base` is its web address (nginx's, or gunicorn's itself when not `proxied`);
    `workers` the number of RQ worker processes.

    The phones (this process), nginx and gunicorn run on the front cores; the workers, with the databases they wait on,
    on the back cores. Phones sending as fast as loopback allows would otherwise starve the database that the
    workers need, which separate hosts never would.
    """

    workers: int
    proxied: bool = True  # nginx (config/nginx.conf) in front of gunicorn, as in production
    web_processes: int = 2
    web_threads: int = 64
    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="snap-load-")))
    restarts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self):
        self.port = free_port()  # gunicorn's
        self.nginx = Nginx(f"127.0.0.1:{self.port}", free_port(), self.folder / "nginx") if self.proxied else None
        self.base = self.nginx.base if self.nginx else f"http://127.0.0.1:{self.port}"
        self.proxy = "nginx" if self.nginx else "none"
        self.front_cpus, self.back_cpus = split_cpus(self.workers)
        os.sched_setaffinity(0, self.front_cpus)  # inherited by every process started from here on
        self.postgres = PrivatePostgres(self.folder / "postgres", self.back_cpus)
        self.redis = EmbeddedRedis(self.folder / "redis", persist=False)  # as the machine's Redis: nothing kept
        self.children: dict[str, subprocess.Popen] = {}
        self.settings: Settings | None = None
        self.object_store: SeaweedS3 | None = None  # photos in its bucket once use_object_store() has run

    # --- starting and stopping -------------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        unlimited = "1000000 per minute"  # every simulated rider comes from 127.0.0.1: the address limits would bite
        return dict(os.environ, DATABASE_URL=self.postgres.url, REDIS_URL=self.redis.url,
                    INSTANCE_DIR=str(self.folder / "instance"), MEDIA_DIR=str(self.folder / "media"),
                    SECRET_KEY="load-secret", DEMO_PASSWORD=PASSWORD, PORT=str(self.port),
                    WEB_CONCURRENCY=str(self.web_processes), WEB_THREADS=str(self.web_threads),
                    STALE_NEW_MINUTES="1", INTAKE_LIMIT_PER_USER=unlimited, INTAKE_LIMIT_PER_ADDRESS=unlimited,
                    TRUSTED_PROXIES="1" if self.nginx else "0", PYTHONUNBUFFERED="1",
                    **(self.object_store.settings_env() if self.object_store else {}))

    def start(self, riders: int) -> Stack:
        """Create the database and Redis, the community and `riders` rider accounts, then every process."""
        self.postgres.create()
        self._start_redis()
        env = self.env()
        self.settings = Settings.from_env(env=env)
        upgrade_schema(self.postgres.url)
        db = Database(self.postgres.url)
        s = self.settings
        with db.session() as session:
            load_district(session, s.district_dir, PASSWORD)
            # each with a phone number, as riders have: the logs are then checked for them (bench/log_check.py)
            load_users(session, [{"username": name, "display_name": f"骑手{n:03d}", "role": "reporter",
                                  "phone": f"139{n:08d}"}
                                 for n, name in enumerate(self.rider_names(riders), start=1)], PASSWORD)
            session.commit()
        db.dispose()
        self._spawn("web")
        self._spawn("scheduler")
        if self.nginx:
            self.folder.chmod(0o755)  # nginx's workers (www-data, when we are root) reach their temp folders
            self.nginx.write_config()
            self._spawn("nginx")
        wait_healthy(self.base, self.children)
        return self

    def use_object_store(self) -> None:
        """From now on keep photos in the bucket of an S3 server on loopback (SeaweedFS, started here on the back
        cores, as another host would be): the web, the workers and the scheduler start again with it."""
        self.object_store = SeaweedS3(self.folder / "s3").start()
        os.sched_setaffinity(self.object_store.proc.pid, self.back_cpus)
        names = [name for name in self.children if name != "nginx"]
        stop_processes({name: self.children.pop(name) for name in names})
        for name in names:
            if not name.startswith("worker"):
                self._spawn(name)
        wait_healthy(self.base, self.children)
        if any(name.startswith("worker") for name in names):
            self.start_workers()

    def restart_object_store(self) -> float:
        """Crash the object store (SIGKILL) and start it again on its data; the seconds it was away."""
        started = time.monotonic()
        self.object_store.restart(signal.SIGKILL)
        os.sched_setaffinity(self.object_store.proc.pid, self.back_cpus)
        return time.monotonic() - started

    def start_workers(self, timeout_s: float = 60) -> None:
        """Start the workers and wait until each is listening on its queues, so that the seconds a process takes
        to start (imports, connections) are not counted as seconds of jobs."""
        for n in range(self.workers):
            self._spawn(f"worker{n + 1}")
        from rq import Worker

        from service.runtime.jobqueue import redis_connection

        connection = redis_connection(self.redis.url)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            mine = {proc.pid for name, proc in self.children.items() if name.startswith("worker")}
            if mine <= {w.pid for w in Worker.all(connection=connection)}:
                return
            self.supervise()
            time.sleep(0.05)
        raise RuntimeError(f"load: the workers were not listening after {timeout_s:.0f} s (see their logs)")

    def stop_workers(self) -> None:
        for name in [n for n in self.children if n.startswith("worker")]:
            stop_processes({name: self.children.pop(name)})

    @contextmanager
    def on_worker_cores(self) -> Iterator[None]:
        """Run the calling thread on the workers' cores meanwhile, beside the databases they share with them."""
        before = os.sched_getaffinity(0)
        os.sched_setaffinity(0, self.back_cpus)
        try:
            yield
        finally:
            os.sched_setaffinity(0, before)

    def cpu_reading(self) -> CpuReading:
        """The machine's busy CPU time now, and the part of it the stack's processes and this one used."""
        roots = {os.getpid()}
        try:  # pg_ctl leaves the server to init: it is no child of ours
            roots.add(int((self.postgres.folder / "data" / "postmaster.pid").read_text().split()[0]))
        except (OSError, ValueError, IndexError):
            pass
        return CpuReading(time.monotonic(), machine_busy_s(), process_tree_cpu_s(roots))

    @staticmethod
    def rider_names(count: int) -> list[str]:
        return [f"load{n:03d}" for n in range(1, count + 1)]

    def _command(self, name: str) -> list[str]:
        if name == "web":
            return [str(BIN / "gunicorn"), "service.web:create_app()", "-c", str(ROOT / "config" / "gunicorn.conf.py"),
                    "--bind", f"127.0.0.1:{self.port}"]
        if name == "nginx":
            return self.nginx.command()
        if name == "scheduler":
            return [sys.executable, "-m", "workers.cron"]
        return [sys.executable, "-m", "workers.run"]

    def _spawn(self, name: str) -> None:
        log = open(self.folder / f"{name}.log", "a")
        cpus = self.front_cpus if name in ("web", "nginx") else self.back_cpus
        self.children[name] = subprocess.Popen(self._command(name), cwd=ROOT, env=self.env(), stdout=log,
                                               stderr=subprocess.STDOUT, start_new_session=True,
                                               preexec_fn=lambda: os.sched_setaffinity(0, cpus))

    def supervise(self) -> None:
        """Start again any process that has exited, as a process manager would."""
        for name, proc in list(self.children.items()):
            if proc.poll() is not None:
                self.restarts[name] = self.restarts.get(name, 0) + 1
                self._spawn(name)

    def stop(self, keep_files: bool = False) -> None:
        stop_processes(self.children)
        if self.object_store:
            self.object_store.stop()
        self.redis.stop()
        try:
            self.postgres.stop()
        except RuntimeError:
            pass
        if not keep_files:
            shutil.rmtree(self.folder, ignore_errors=True)

    # --- faults -----------------------------------------------------------------------------------------------

    def busy_worker(self) -> str | None:
        """A worker process that is running a job right now, as RQ's own registry of workers says."""
        from rq import Worker

        from service.runtime.jobqueue import redis_connection

        busy = {w.pid for w in Worker.all(connection=redis_connection(self.redis.url)) if w.get_current_job_id()}
        for name, proc in self.children.items():
            if name.startswith("worker") and proc.pid in busy:
                return name
        return None

    def kill_worker(self, name: str) -> None:
        """SIGKILL a worker (and its scheduler) mid-job, as a crash or the OOM killer would."""
        signal_group(self.children[name], signal.SIGKILL)
        self.children[name].wait()

    def restart_redis(self) -> float:
        """Stop Redis and start it again empty (no persistence): every queued job is gone."""
        started = time.monotonic()
        self.redis.stop()
        self._start_redis()
        return time.monotonic() - started

    def _start_redis(self) -> None:
        self.redis.start()
        os.sched_setaffinity(self.redis.process.pid, self.back_cpus)
