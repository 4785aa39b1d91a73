# Humblytics: `make run` starts the product with demo data, `make test` runs lint and the test suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?= -n 2

.PHONY: run test lint format bench clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# DEBUG is off unless set (production fails closed); a local run turns it on with the development secrets.
run: export DEBUG ?= true
run: $(VENV)/.installed
	$(PY) manage.py migrate --noinput
	$(PY) manage.py sync_schedules
	$(PY) manage.py run_all --host $(HOST) --port $(PORT)

# Style, the one-way import contracts (pyproject.toml), and no module or function too long to read.
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(PY) .ci/check_sizes.py

format: $(VENV)/.installed
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# The ingest chaos tests (tests/test_ingest_chaos.py) stop and break a private PostgreSQL cluster under the
# real server: they run once, alone (never split across xdist workers); CHAOS=0 leaves them out.
CHAOS ?= 1
# MARKERS picks the tests of the main run (.ci/run leaves the browser tests out of its PostgreSQL pass).
MARKERS ?= not chaos
test: lint
	$(VENV)/bin/pytest $(PYTEST_ARGS) -m "$(MARKERS)"
	if [ "$(CHAOS)" = 1 ]; then $(VENV)/bin/pytest -p no:xdist -m chaos; fi

BENCH_PG ?= postgres://postgres@127.0.0.1:5432

# Benchmarks (not tests): each prints its figures beside the targets and merges bench/results.json.
# The benchmarks that set no secrets of their own run with the development ones, as before DEBUG defaulted off.
bench: export DEBUG ?= true
bench: $(VENV)/.installed
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(PY) bench/snippet.py
	$(PY) bench/stripe_sync.py --payments 10000 --database-url $(BENCH_PG)/humblytics_bench_sync
	$(PY) bench/ingest.py
	$(PY) bench/dashboard.py
	$(PY) bench/isolation.py
	$(PY) bench/traffic_sources.py
	$(PY) bench/splittests.py

clean:
	rm -rf $(VENV) staticfiles .run
