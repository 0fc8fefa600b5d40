"""`make fuzz` (the API half): Schemathesis, every check on, against /api/v1/openapi.json of a real `make run`.

It runs once for each role — a reporter (rider1), a grid worker (gw01) and staff (staff1), each with the bearer token
of a real login — for a share of the time budget, on a service holding a few real cases (their numbers are fed to
the fuzzer, so it gets past 404 to the code behind). Every answer the server gave 5xx is counted from its access
log, and each unhandled error's traceback is shown:

    figure: fuzz_api_server_errors = N (target = 0) ok|short
    figure: fuzz_api_check_failures = N (target = 0) ok|short   (Schemathesis' other checks: schema, status, ...)

Exits non-zero when the server answered any 5xx. Options: --seconds (the whole budget), --seed, --keep.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from bench.figures import figure
from bench.fuzz_stack import HQ01, FuzzStack, http

ROLES = ("rider1", "gw01", "staff1")
KNOWN_PARAMETERS = {"case_no": ("path",), "category": ("body", "query"), "lat": ("body", "query"),
                    "lon": ("body", "query")}
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
ACCESS_LINE = re.compile(r'^\S+ \S+ \S+ \[[^\]]*\] "(?P<request>.*)" (?P<status>\d{3}) ')
# Statuses that say "taken" for a schema-valid request. 422 is a refusal on meaning no schema can carry (a category
# that is not this community's, a point outside its service area, a note an action needs); 400 stays a finding.
POSITIVE_STATUSES = ["2xx", "3xx", 401, 403, 404, 409, 422, 429]
# Statuses that say "refused" for a schema-violating one: the defaults, and 413 for too many or too large photos.
NEGATIVE_STATUSES = [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429]
# Multipart forms carry text: a number sent where the document says string is still a good string ("-269" is a fine
# client_report_id), yet Schemathesis counts it as schema-violating. Its negative check misreads these two.
FORM_OPERATIONS = ("POST /api/v1/reports", "POST /api/v1/cases/{case_no}/photos")
# Logging out ends every session of the role's user, its bearer token included: fuzzed, it would leave the rest of
# the run answering 401. tests/test_sessions.py and the authorisation matrix test it.
SKIPPED_OPERATIONS = ("POST /api/v1/auth/logout",)


def known_values(stack: FuzzStack) -> dict[str, list]:
    """The real values the fuzzer starts from: the seeded cases, the community's categories, points in grids."""
    categories = http("GET", f"{stack.base}/api/v1/categories").json()["categories"]
    return {"case_no": stack.case_nos, "category": [c["code"] for c in categories],
            "lat": [float(HQ01[0]), 32.015, 32.0205], "lon": [float(HQ01[1]), 120.855, 120.8612]}


def _toml(value) -> str:
    """A value in TOML (strings, numbers, booleans and lists of them are all the config needs)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value)


def config_text(token: str, known: dict[str, list], seconds: int, seed: int, report_dir: Path) -> str:
    """schemathesis.toml for one role's run; `known` holds real values (case numbers, category codes, points in the
    service area), which the fuzzer uses most of the time for the parameters of those names."""
    sections = {
        "": {"seed": seed, "max-time": seconds, "request-timeout": 30, "color": False},
        "generation": {"allow-x00": False},  # the document says NUL is 400 anywhere: not a schema-valid value
        "reports": {"directory": str(report_dir)},
        "reports.junit": {"enabled": True},
        "auth.openapi.bearer": {"bearer": token},
        **{f"dictionaries.{name}": {"values": values} for name, values in known.items()},
        "checks.positive_data_acceptance": {"expected-statuses": POSITIVE_STATUSES},
        "checks.negative_data_rejection": {"expected-statuses": NEGATIVE_STATUSES},
    }
    lines = []
    for section, values in sections.items():
        if section:
            lines.append(f"\n[{section}]")
        lines += [f"{key} = {_toml(value)}" for key, value in values.items()]
    lines.append("\n[parameters]")
    for name in known:
        for where in KNOWN_PARAMETERS[name]:
            lines.append(f'"{where}.{name}" = {{ dictionary = "{name}", probability = 0.8 }}')
    lines.append(f"\n[[operations]]\ninclude-name = {_toml(list(FORM_OPERATIONS))}"
                 "\n[operations.checks.negative_data_rejection]\nenabled = false")
    lines.append(f"\n[[operations]]\ninclude-name = {_toml(list(SKIPPED_OPERATIONS))}\nenabled = false")
    return "\n".join(lines) + "\n"


def run_role(stack: FuzzStack, user: str, known: dict, seconds: int, seed: int,
             extra: tuple[str, ...] = ()) -> tuple[int, str]:
    """One Schemathesis run as this user; (its failures other than server errors, its summary)."""
    folder = stack.folder / f"schemathesis-{user}"
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "schemathesis.toml"
    config.write_text(config_text(stack.tokens[user], known, seconds, seed, folder / "reports"))
    env = dict(os.environ, SCHEMATHESIS_HOOKS="bench.fuzz_hooks")  # importable anywhere: the project is installed
    # every check runs (each is on unless the config turns it off); `--checks all` here would outrank the config
    # and turn the form operations' negative check back on (command-line options come first in Schemathesis)
    done = subprocess.run([str(SCHEMATHESIS), "--config-file", str(config), "run", *extra,
                           f"{stack.base}/api/v1/openapi.json"], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=seconds + 300)
    (folder / "output.txt").write_text(done.stdout + done.stderr)
    return _check_failures(folder / "reports"), _summary(done.stdout + done.stderr)


def _check_failures(report_dir: Path) -> int:
    """Unique failures in the JUnit report, server errors (ST101, with what follows from them) left out: the access
    log counts those."""
    codes = [m for report in report_dir.glob("*.xml")
             for m in re.findall(r'<failure [^>]*message="([^"]*)"', report.read_text(errors="replace"))]
    return sum("ST101" not in found for found in codes)


def _summary(output: str) -> str:
    """Schemathesis' failures and warnings, without the long reproductions."""
    start = output.find("=== FAILURES ===")
    if start < 0:
        start = output.find("=== WARNINGS ===")
    if start < 0:
        start = output.find("=== SUMMARY ===")
    return output[output.rfind("\n", 0, start) + 1:] if start >= 0 else output[-3000:]


def server_errors(log_text: str) -> list[str]:
    """The request lines the server answered with a 5xx, from its access log."""
    errors = []
    for line in log_text.splitlines():
        match = ACCESS_LINE.match(line)
        if match and match["status"].startswith("5"):
            errors.append(f"{match['status']} {match['request']}")
    return errors


def print_server_errors(stack: FuzzStack, errors: list[str]) -> None:
    """Each 5xx answer, and each distinct traceback behind them."""
    for line in errors[:50]:
        print(f"  server error: {line[:300]}")
    stack.print_tracebacks()


def main(argv: list[str] | None = None) -> int:
    """Run Schemathesis as each role against a fresh service; the figures; 1 on any 5xx."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=105, help="the whole time budget, shared by the roles")
    parser.add_argument("--seed", type=int, default=int(time.time()) % 100000)
    parser.add_argument("--keep", action="store_true", help="keep the service's folder (logs, reports)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    print(f"fuzz_api: seed {args.seed}, {args.seconds} s over {', '.join(ROLES)}", flush=True)
    stack = FuzzStack(keep=args.keep).start()
    try:
        stack.seed()
        for user in ROLES:
            stack.login(user)
        checks, known = 0, known_values(stack)
        for user in ROLES:
            failed, summary = run_role(stack, user, known, max(1, args.seconds // len(ROLES)), args.seed)
            checks += failed
            print(f"--- schemathesis as {user}: {failed} check failure(s)\n{summary}", flush=True)
        errors = server_errors(stack.log_text())
        print_server_errors(stack, errors)
        print(f"fuzz_api: {time.monotonic() - started:.0f} s in all; the service's files: {stack.folder}"
              if args.keep else f"fuzz_api: {time.monotonic() - started:.0f} s in all")
        ok = figure("fuzz_api_server_errors", len(errors), "=", 0)
        figure("fuzz_api_check_failures", checks, "=", 0)
        return 0 if ok else 1
    finally:
        stack.stop(keep_files=stack.keep)


if __name__ == "__main__":
    sys.exit(main())
