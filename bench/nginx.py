"""nginx in front of gunicorn as production runs it, for the load harness and the tests: the shipped
config/nginx.conf with only the arguments of its `# EDIT` lines replaced (a loopback port, the upstream, and a pid,
logs and temporary folders of its own), run in the foreground by Debian's nginx."""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

CONFIG = Path(__file__).resolve().parent.parent / "config" / "nginx.conf"
TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
# a directive on a line of its own, ending in `# EDIT...`: group 1 the indent and name, 2 its arguments, 3 the rest
_EDITABLE = re.compile(r"^(\s*(\w+)\s+)([^;#]*?)(;\s*# EDIT\b.*)$")


def nginx_binary() -> str | None:
    """Debian's nginx (/usr/sbin is not on every user's PATH), or None when it is not installed."""
    return shutil.which("nginx", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))


def edited(text: str, values: dict[str, str]) -> str:
    """The config with the arguments of each `# EDIT` directive named in `values` replaced by its value.

    Every name must mark exactly one line, so a config that drifts from the harness fails here, not silently.
    """
    found: dict[str, int] = {}

    def replace(line: str) -> str:
        match = _EDITABLE.match(line)
        if not match or match.group(2) not in values:
            return line
        found[match.group(2)] = found.get(match.group(2), 0) + 1
        return f"{match.group(1)}{values[match.group(2)]}{match.group(4)}"

    out = "\n".join(replace(line) for line in text.split("\n"))
    wrong = {name: found.get(name, 0) for name in values if found.get(name, 0) != 1}
    if wrong:
        raise ValueError(f"{CONFIG.name}: these `# EDIT` directives are not each on exactly one line: {wrong}")
    return out


class Nginx:
    """The shipped config in front of `upstream` ("127.0.0.1:port"), on a free loopback port, files in `folder`."""

    def __init__(self, upstream: str, port: int, folder: Path | None = None):
        self.upstream, self.port = upstream, port
        # its own folder, readable by the workers' user (www-data) when the master runs as root
        self.folder = Path(folder or tempfile.mkdtemp(prefix="snap-nginx-"))
        self.folder.mkdir(parents=True, exist_ok=True)
        self.folder.chmod(0o755)
        self.conf = self.folder / "nginx.conf"
        self.process: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write_config(self) -> Path:
        """The shipped config with this instance's port, upstream and paths."""
        values = {"pid": str(self.folder / "nginx.pid"), "error_log": f"{self.folder / 'error.log'} error",
                  "access_log": "off", "server": self.upstream, "listen": f"127.0.0.1:{self.port}"}
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
        """Wait until the port takes connections, or fail with nginx's own words if it exits first."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
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
