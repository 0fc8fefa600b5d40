# 随手拍 — `make run` starts everything, `make test` runs the tests, `make lint` checks the style. Needs only Python 3.11+ and make.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench load load-smoke fuzz venv clean

# the pinned requirements, then the project itself, editable (pyproject.toml): its packages import from here
$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

# the static files' fingerprinted, precompressed copies first (service/web/assets.py), then everything
run: $(STAMP)
	$(BIN)/python -m service.web.build_static
	$(BIN)/python -m service.runtime.runner

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# ruff, with the rules in pyproject.toml (`$(BIN)/ruff check --fix .` mends what it can)
lint: $(STAMP)
	$(BIN)/ruff check .

# benchmarks (photo pipeline, grid index, desk queue at 10^6, the generated district; BENCH_CASES shrinks the
# desk queue and the district): `figure: name = value (target op x) ok|short` lines
bench: $(STAMP)
	$(BIN)/python -m bench.photos
	$(BIN)/python -m bench.grids
	$(BIN)/python -m bench.desk_queue
	$(BIN)/python -m bench.weekly
	$(BIN)/python -m bench.district

# the rush-hour harness: the real service on loopback under load and faults (about 6 minutes); see the README
load: $(STAMP)
	$(BIN)/python -m bench.load

# its short version, run by .ci/run: the fault counts only
load-smoke: $(STAMP)
	$(BIN)/python -m bench.load --smoke

# the fuzzers, each against a real `make run` of its own (about 4 minutes): Schemathesis over the API document as a
# rider, a grid worker and staff, then hostile values in every form of every page; 0 server errors is the target.
# FUZZ_ARGS="--seed 7" repeats a run.
fuzz: $(STAMP)
	$(BIN)/python -m bench.fuzz_api $(FUZZ_ARGS)
	$(BIN)/python -m bench.fuzz_pages $(FUZZ_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts service/web/static-build *.egg-info
