"""Jobs that only the tests queue, for a real worker process to run (imported there as tests.fault_jobs)."""
import os
import signal
from pathlib import Path


def stop_redis(pid: int) -> str:
    """Kill the Redis server under the worker that runs this, as the job's last act."""
    os.kill(pid, signal.SIGKILL)
    return "stopped"


def leave_mark(path: str) -> None:
    """Show that a job ran: write a file."""
    Path(path).write_text(str(os.getpid()))


def fail_saying(message: str) -> None:
    """Fail as a send fails, its exception's text the given one (a URL with its key, say)."""
    raise ConnectionError(message)
