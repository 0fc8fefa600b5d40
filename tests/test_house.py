"""The rules of the house that a grep can check: the core imports no Flask, RQ or workers, and no state name is
typed outside service/states.py (Python, templates and page scripts alike)."""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

from service.states import CaseState

ROOT = Path(__file__).resolve().parent.parent
SERVICE = ROOT / "service"
STATE_NAMES = {s.value for s in CaseState}
# a line may use one of these words in another sense (an indicator named "closed"), if it says so
NOT_A_STATE = "not a state"


def _python_files(*folders: Path) -> list[Path]:
    return sorted(p for folder in folders for p in folder.rglob("*.py"))


def _imported_modules(path: Path) -> set[str]:
    """Every module the file imports, at the top or inside a function."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


# Flask and its extensions; werkzeug too, but for its password hashing, which the core's auth uses
FLASK = ("flask", "flask_wtf", "flask_limiter", "flask_compress", "flask_talisman", "werkzeug")


def _flask_imports(path: Path) -> set[str]:
    return {m for m in _imported_modules(path) if m.split(".")[0] in FLASK and m != "werkzeug.security"}


def _imports_of(path: Path, root: str) -> set[str]:
    return {m for m in _imported_modules(path) if m.split(".")[0] == root}


def test_the_core_imports_no_flask_and_only_the_runtime_imports_rq():
    files = {path.relative_to(ROOT).as_posix(): path for path in _python_files(SERVICE)}
    assert "service/runtime/jobqueue.py" in files and "service/web/__init__.py" in files
    assert [f for f, p in files.items() if not f.startswith("service/web/") and _flask_imports(p)] == []
    assert [f for f, p in files.items() if not f.startswith("service/runtime/") and _imports_of(p, "rq")] == []
    assert [f for f, p in files.items() if _imports_of(p, "workers")] == []


def test_the_queue_door_does_not_pull_in_intake():
    """The web's door to the queue needs a case number's shape, not intake with its photos and maps."""
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, service.runtime.jobqueue; print(' '.join(sorted(sys.modules)))"],
        cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    assert "service.runtime.jobqueue" in loaded and "service.case_numbers" in loaded
    assert "service.cases" not in loaded and "PIL" not in loaded


def _string_literals(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every string constant in a Python file, docstrings included."""
    return [(node.lineno, node.value) for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)]


def _marked(path: Path, line: int) -> bool:
    return NOT_A_STATE in path.read_text(encoding="utf-8").splitlines()[line - 1]


def test_no_state_name_is_typed_outside_the_states_module_in_python():
    found = [f"{p.relative_to(ROOT)}:{line} {text!r}"
             for p in _python_files(SERVICE, ROOT / "workers") if p != SERVICE / "states.py"
             for line, text in _string_literals(p) if text in STATE_NAMES and not _marked(p, line)]
    assert found == []


# a quoted word in a script or template ("closed", 'closed'), or a state's class name (state-closed, s-closed)
QUOTED = re.compile(r"""(["'])([a-z_]+)\1""")
STATE_CLASS = re.compile(r"\b(?:state|s)-([a-z_]+)")


def _state_words(text: str) -> list[str]:
    words = {m.group(2) for m in QUOTED.finditer(text)} | set(STATE_CLASS.findall(text))
    return sorted(words & STATE_NAMES)


def page_sources() -> list[Path]:
    """Templates, and our own scripts and style sheets (not the vendored ones)."""
    static = SERVICE / "web" / "static"
    return sorted([p for p in (SERVICE / "web" / "templates").rglob("*") if p.is_file()] +
                  [p for p in static.rglob("*") if p.suffix in (".js", ".css") and "vendor" not in p.parts])


def test_no_state_name_is_typed_in_a_template_or_page_script():
    found = [f"{path.relative_to(ROOT)}:{number} {_state_words(text)}"
             for path in page_sources()
             for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if _state_words(text) and NOT_A_STATE not in text]
    assert found == []
