"""The deployment that can be copied: the example systemd units (config/systemd/) check with systemd's own verifier,
run what the Procfile runs, and each unit's command starts."""
from __future__ import annotations

import configparser
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from browser_support import in_ci

ROOT = Path(__file__).resolve().parent.parent
UNITS = ROOT / "config" / "systemd"
INSTALLED_AT = "/opt/suishoupai"


def _unit(name: str) -> configparser.ConfigParser:
    """A unit file read as sections of keys (a key given twice, as ExecStart may be, keeps its last value)."""
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read(UNITS / name, encoding="utf-8")
    return parser


def _exec_lines(name: str) -> list[list[str]]:
    """Every ExecStart= line of a unit, split as a shell would."""
    return [shlex.split(line.split("=", 1)[1]) for line in (UNITS / name).read_text(encoding="utf-8").splitlines()
            if line.startswith("ExecStart=")]


def _env_assignments(parts: list[str]) -> dict[str, str]:
    """The NAME=value words a leading `/usr/bin/env` sets before its command (none without it)."""
    assigned = {}
    for part in parts[1:] if parts[0] == "/usr/bin/env" else []:
        name, equals, value = part.partition("=")
        if not (equals and name.isidentifier()):
            break
        assigned[name] = value
    return assigned


def _exec_starts(name: str) -> list[list[str]]:
    """Every ExecStart= line's command, a leading `/usr/bin/env NAME=value ...` left out, the install folder made
    relative."""
    commands = []
    for parts in _exec_lines(name):
        assigned = _env_assignments(parts)
        command = parts[1 + len(assigned):] if assigned else parts
        commands.append([part.replace(f"{INSTALLED_AT}/.venv/bin/", "") for part in command])
    return commands


def _exec_environment(name: str) -> dict[str, str]:
    """What the unit's first ExecStart= sets through `/usr/bin/env`, which no EnvironmentFile= can override."""
    return _env_assignments(_exec_lines(name)[0])


def _procfile() -> dict[str, list[str]]:
    """The Procfile's process types and their commands (a release's `&&` steps split apart)."""
    kinds = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if ":" in line and not line.startswith("#"):
            kind, command = line.split(":", 1)
            kinds[kind.strip()] = command.strip()
    return kinds


def test_every_process_of_the_procfile_has_a_unit_running_the_same_command():
    units = {"release": "suishoupai-release.service", "web": "suishoupai-web.service",
             "worker": "suishoupai-worker@.service", "scheduler": "suishoupai-scheduler.service",
             "metrics": "suishoupai-metrics.service"}
    procfile = _procfile()
    assert set(procfile) == set(units), "a Procfile process without its unit, or a unit the Procfile lacks"
    for kind, command in procfile.items():
        steps = [shlex.split(step) for step in command.split("&&")]
        in_unit = _exec_starts(units[kind])
        assert [step[:3] for step in in_unit] == [step[:3] for step in steps], kind
        if kind == "web":  # the unit binds to loopback, for nginx in front
            assert in_unit[0][:4] == steps[0][:4] and "127.0.0.1:${PORT}" in in_unit[0]


def test_every_unit_reads_the_settings_file_and_runs_as_the_service_user():
    for path in UNITS.glob("*.service"):
        service = _unit(path.name)["Service"]
        assert service["EnvironmentFile"] == "/etc/suishoupai/env", path.name
        assert service["User"] == service["Group"] == "suishoupai", path.name
        assert service["WorkingDirectory"] == INSTALLED_AT, path.name


def test_workers_scheduler_and_collector_share_one_metrics_folder_and_the_web_has_its_own():
    folders = {name: _exec_environment(name).get("PROMETHEUS_MULTIPROC_DIR")
               for name in ("suishoupai-worker@.service", "suishoupai-scheduler.service",
                            "suishoupai-metrics.service", "suishoupai-web.service")}
    shared = {value for name, value in folders.items() if name != "suishoupai-web.service"}
    assert shared == {"/run/suishoupai-workers"}
    assert folders["suishoupai-web.service"] == "/run/suishoupai-web"
    for name, folder in folders.items():  # the folder systemd makes (and a reboot empties) is the one named
        assert f"/run/{_unit(name)['Service']['RuntimeDirectory']}" == folder, name


def test_no_unit_or_the_settings_file_sets_the_metrics_folder_where_the_settings_file_could_merge_them():
    # EnvironmentFile= overrides Environment=: a folder set either way would be the same for the web and workers
    for path in UNITS.glob("*.service"):
        assert "PROMETHEUS_MULTIPROC_DIR" not in _unit(path.name)["Service"].get("Environment", ""), path.name
    example = [line for line in (UNITS / "suishoupai.env.example").read_text().splitlines()
               if line and not line.startswith("#")]
    assert not [line for line in example if line.startswith("PROMETHEUS_MULTIPROC_DIR")]


def test_every_unit_that_may_open_a_sqlite_database_may_write_beside_it():
    # a WAL database is written to (its -shm file) even by a reader such as the collector
    for name in ("suishoupai-web.service", "suishoupai-worker@.service", "suishoupai-scheduler.service",
                 "suishoupai-metrics.service"):
        service = _unit(name)["Service"]
        if service.get("ProtectSystem") == "strict":
            assert "/var/lib/suishoupai" in service.get("ReadWritePaths", "").split(), name


def test_the_example_settings_name_what_production_needs():
    example = dict(line.split("=", 1) for line in (UNITS / "suishoupai.env.example").read_text().splitlines()
                   if line and not line.startswith("#"))
    for needed in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "PHOTO_STORE", "S3_ENDPOINT_URL", "S3_ACCESS_KEY_ID",
                   "S3_SECRET_ACCESS_KEY", "METRICS_TOKEN", "TRUSTED_PROXIES"):
        assert needed in example, needed


def test_the_backup_unit_makes_its_folder_for_the_service_user_and_keeps_a_week():
    unit = (UNITS / "suishoupai-backup.service").read_text()
    # /var/backups is root's: the service user could not make its folder there itself
    assert "ExecStartPre=+/usr/bin/install -d -o suishoupai -g suishoupai -m 0750 ${BACKUP_DIR}" in unit
    assert "User=suishoupai" in unit
    assert re.search(r"^ExecStart=.* backup --to \$\{BACKUP_DIR\} --keep \d+$", unit, re.M)


def test_systemd_accepts_the_units(tmp_path):
    verifier = shutil.which("systemd-analyze")
    if verifier is None:
        if in_ci():
            pytest.fail("systemd-analyze is missing (Debian's systemd package; .ci/run installs it)")
        pytest.skip("systemd-analyze is not installed")
    # the units as installed in this checkout: its venv's programs, a settings file of the example's
    (tmp_path / "env").write_text((UNITS / "suishoupai.env.example").read_text())
    venv = Path(sys.executable).parent.parent
    for path in UNITS.iterdir():
        if path.suffix in (".service", ".timer", ".target"):
            text = path.read_text(encoding="utf-8").replace(f"{INSTALLED_AT}/.venv", str(venv))
            text = text.replace(INSTALLED_AT, str(ROOT)).replace("/etc/suishoupai/env", str(tmp_path / "env"))
            (tmp_path / path.name.replace("@.", "@1.")).write_text(text, encoding="utf-8")
    names = sorted(p.name for p in tmp_path.iterdir() if p.suffix in (".service", ".timer", ".target"))
    checked = subprocess.run([verifier, "verify", "--man=no", *(f"./{n}" for n in names)], cwd=tmp_path,
                             capture_output=True, text=True, env={**os.environ, "SYSTEMD_LOG_LEVEL": "notice"})
    assert checked.returncode == 0 and not checked.stderr.strip(), checked.stderr


@pytest.mark.parametrize("unit", ["suishoupai-worker@.service", "suishoupai-scheduler.service",
                                  "suishoupai-metrics.service"])
def test_each_long_running_units_program_is_one_this_checkout_has(unit):
    command = _exec_starts(unit)[0]
    assert command[0] == "python" and command[1] == "-m"
    module = ROOT.joinpath(*command[2].split(".")).with_suffix(".py")
    assert module.is_file(), f"{unit} runs {command[2]}, which does not exist"
