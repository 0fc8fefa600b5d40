"""The table of jobs: every follow-up the core names has a job, and no job is named like a core function."""
from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import service
import workers.jobs
from service import follow_ups
from service.runtime.jobqueue import JOB_SPECS, QUEUES

SERVICE = Path(service.__file__).parent


def _core_function_names() -> set[str]:
    """The names of the functions defined in the core's modules (service/ outside web/ and runtime/)."""
    names = set()
    for found in pkgutil.iter_modules(service.__path__):
        if found.ispkg:
            continue
        module = importlib.import_module(f"service.{found.name}")
        names |= {name for name, value in vars(module).items()
                  if inspect.isfunction(value) and value.__module__ == module.__name__}
    return names


def _follow_up_names() -> set[str]:
    """The job names the core may ask for: the constants of service/follow_ups.py."""
    return {value for name, value in vars(follow_ups).items() if name.isupper() and isinstance(value, str)}


def _literal_follow_ups() -> list[str]:
    """Every FollowUp("<name>", ...) in the core that types the name instead of using follow_ups' constant."""
    found = []
    for path in SERVICE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "FollowUp" \
                    and node.args and isinstance(node.args[0], ast.Constant):
                found.append(f"{path.relative_to(SERVICE)}:{node.lineno}")
    return found


def test_every_follow_up_the_core_names_has_a_job():
    names = _follow_up_names()
    assert {"process_case", "process_photos", "deliver_webhook"} <= names
    assert names <= set(JOB_SPECS)
    assert _literal_follow_ups() == []


def test_each_job_is_a_function_of_workers_jobs_on_a_worked_queue_and_named_unlike_any_core_function():
    core = _core_function_names()
    for name, spec in JOB_SPECS.items():
        module, function = spec.path.rsplit(".", 1)
        assert spec.name == name and module == "workers.jobs" and inspect.isfunction(getattr(workers.jobs, function))
        assert spec.queue in QUEUES and spec.timeout > 0
        assert function not in core, f"{spec.path} has the name of a core function"
