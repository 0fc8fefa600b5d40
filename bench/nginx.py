"""nginx in front of gunicorn as production runs it, for the load harness and the tests: the shipped
config/nginx.conf with only the arguments of its `# EDIT` lines replaced (loopback ports for the phones and for
Prometheus, the upstream, and a pid, logs and temporary folders of its own), run in the foreground by Debian's
nginx."""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from service.runtime.embedded_redis import free_port

CONFIG = Path(__file__).resolve().parent.parent / "config" / "nginx.conf"
TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
# a directive on a line of its own, ending in `# EDIT...`: group 1 the indent and name, 2 its arguments, 3 the rest
_EDITABLE = re.compile(r"^(\s*(\w+)\s+)([^;#]*?)(;\s*# EDIT\b.*)$")


def nginx_binary() -> str | None:
    """Debian's nginx (/usr/sbin is not on every user's PATH), or None when it is not installed."""
    return shutil.which("nginx", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))


def edited(text: str, values: dict[str, str | tuple[str, ...]]) -> str:
    """The config with the arguments of each `# EDIT` directive named in `values` replaced by its value; a tuple
    gives one value for each line of that directive, in the file's order (`listen`: the phones', then Prometheus's).

    Every name must mark exactly as many lines as it has values, so a config that drifts from the harness fails
    here, not silently.
    """
    wanted = {name: (value,) if isinstance(value, str) else tuple(value) for name, value in values.items()}
    found: dict[str, int] = {}

    def replace(line: str) -> str:
        match = _EDITABLE.match(line)
        if not match or match.group(2) not in wanted:
            return line
        name = match.group(2)
        n = found[name] = found.get(name, 0) + 1
        return f"{match.group(1)}{wanted[name][n - 1]}{match.group(4)}" if n <= len(wanted[name]) else line

    out = "\n".join(replace(line) for line in text.split("\n"))
    wrong = {name: found.get(name, 0) for name in wanted if found.get(name, 0) != len(wanted[name])}
    if wrong:
        raise ValueError(f"{CONFIG.name}: these `# EDIT` directives are not on as many lines as the harness has "
                         f"values for: {wrong}")
    return out


class Nginx:
    """The shipped config in front of `upstream` ("127.0.0.1:port"), on a free loopback port for phones and
    `metrics_port` for Prometheus (which may scrape from 127.0.0.1 only), files in `folder`; with `access_log`, its
    access log at `access_log_path`."""

    def __init__(self, upstream: str, port: int, folder: Path | None = None, metrics_port: int | None = None,
                 access_log: bool = False):
        self.upstream, self.port = upstream, port
        self.metrics_port = metrics_port or free_port()
        # its own folder, readable by the workers' user (www-data) when the master runs as root
        self.folder = Path(folder or tempfile.mkdtemp(prefix="snap-nginx-"))
        self.folder.mkdir(parents=True, exist_ok=True)
        self.folder.chmod(0o755)
        self.conf = self.folder / "nginx.conf"
        self.access_log_path = self.folder / "access.log" if access_log else None
        self.process: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def metrics_base(self) -> str:
        """The private server's address, where Prometheus scrapes gunicorn's /metrics."""
        return f"http://127.0.0.1:{self.metrics_port}"

    def write_config(self) -> Path:
        """The shipped config with this instance's port, upstream and paths."""
        values = {"pid": str(self.folder / "nginx.pid"), "error_log": f"{self.folder / 'error.log'} error",
                  "access_log": f"{self.access_log_path} snap_json" if self.access_log_path else "off",
                  "server": self.upstream, "listen": (f"127.0.0.1:{self.port}", f"127.0.0.1:{self.metrics_port}"),
                  "allow": "127.0.0.1"}
        values.update({f"{name}_temp_path": str(self.folder / "temp" / name) for name in TEMP_PATHS})
        (self.folder / "temp").mkdir(mode=0o755, exist_ok=True)  # nginx makes only the last level
        self.conf.write_text(edited(CONFIG.read_text(encoding="utf-8"), values), encoding="utf-8")
        return self.conf

    def command(self, test: bool = False) -> list[str]:
        """nginx with this config in the foreground (so a process manager, or the harness, owns it); or, with
        `test`, `nginx -t`, which checks the config and exits."""
        binary = nginx_binary()
        if binary is None:
            raise RuntimeError("nginx is not installed: apt-get install -y nginx (.ci/run does)")
        return [binary, "-p", str(self.folder), "-c", str(self.conf), *(["-t"] if test else ["-g", "daemon off;"])]

    def check(self) -> subprocess.CompletedProcess:
        """`nginx -t` on the written config: returncode 0 when nginx accepts it; its verdict is on stderr."""
        return subprocess.run(self.command(test=True), capture_output=True, text=True, timeout=30)

    def wait_listening(self, process: subprocess.Popen, timeout: float = 15) -> None:
        """Wait until both ports take connections, or fail with nginx's own words if it exits first."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                for port in (self.port, self.metrics_port):
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    log = self.folder / "error.log"
                    raise RuntimeError(f"nginx did not start on port {self.port}: "
                                       f"{log.read_text()[-2000:] if log.exists() else ''}") from None
                time.sleep(0.05)

    def start(self) -> Nginx:
        """Write the config and run nginx until stop()."""
        self.write_config()
        self.process = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        self.wait_listening(self.process)
        return self

    def stop(self) -> None:
        """A fast shutdown (SIGTERM): the master stops its workers and exits."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
