"""What a load run's logs hold: every line our processes wrote is one JSON object, and no secret the harness knows
(passwords, tokens, phone numbers, the secret key, photo bytes) is in any line of any process's log."""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

OUR_PROCESSES = ("web", "worker", "scheduler")  # nginx's error log is nginx's own text
JPEG_BYTES = (b"\xff\xd8\xff", b"\\xff\\xd8\\xff")  # a photo's first bytes, raw or as Python prints them


def _is_json_object(line: bytes) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def scan(folder: Path, secrets: dict[str, Iterable[str]]) -> dict:
    """Read every `*.log` in the run's folder: lines, lines of ours that are not JSON, and how many lines hold
    each kind of secret (`secrets` maps a kind, such as "token", to its values)."""
    needles = [(kind, value.encode()) for kind, values in secrets.items() for value in values if value]
    needles += [("photo bytes", marker) for marker in JPEG_BYTES]
    lines, not_json, found = 0, 0, Counter()
    for path in sorted(folder.glob("*.log")):
        ours = path.stem.startswith(OUR_PROCESSES)
        with path.open("rb") as log:
            for line in log:
                lines += 1
                if ours and line.strip() and not _is_json_object(line):
                    not_json += 1
                found.update({kind for kind, needle in needles if needle in line})
    return {"lines": lines, "lines_not_json": not_json, "secrets_found": sum(found.values()),
            "secrets_by_kind": dict(found)}
