# The two commands of a fresh clone (README.md): each sets up what it needs when it is
# missing, and does nothing more when it is there.
#
#   make serve   the Python environment (.venv), then `lvng serve --dev` on the embedded
#                default (SQLite file lvng.sqlite3 here); ARGS="--port 9000" adds options
#   make test    everything the tests use (.venv with the test extras, the three npm
#                packages, Debian's prometheus, nginx and chromium, PostgreSQL and Redis
#                running), the gates (make check), then the whole suite as CI runs it,
#                in two xdist workers (WORKERS=0: in one process)
#                (.ci/run calls this); ARGS="-x tests/unit" narrows the suite
#   make check   the gates alone: ruff check, ruff format --check, mypy (strict, as
#                pyproject.toml's [tool.mypy] says); any finding fails
#
# Set-up steps leave a stamp (.venv/.lvng-installed, node_modules/.package-lock.json) and
# run again only when what they install from changed (pyproject.toml, a package-lock.json).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
NPM_CI := npm ci --no-audit --no-fund --loglevel=error --prefix
ARGS ?=

.PHONY: help serve test check setup setup-test machine
.DEFAULT_GOAL := help

help:
	@echo "make serve   set up .venv if needed, then lvng serve --dev (ARGS=... for more options)"
	@echo "make test    set up everything the tests need if missing, the gates, then the whole suite"
	@echo "make check   the gates alone: ruff check, ruff format --check, mypy"

serve: setup tests/js/node_modules/.package-lock.json
	$(VENV)/bin/lvng serve --dev $(ARGS)

# Two xdist workers, one test file each at a time (module fixtures stay whole);
# WORKERS=0 runs in this process, as a narrowed run (ARGS="-x tests/unit") may want.
WORKERS ?= 2

test: setup-test check
	$(PY) -m pytest -n $(WORKERS) --dist loadfile $(ARGS)

# The gates (issue 22): lint, formatting and types; a finding fails before the tests run.
check: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

setup: $(VENV)/.lvng-installed

setup-test: setup machine tests/js/node_modules/.package-lock.json \
	tests/e2e/node_modules/.package-lock.json bench/node_modules/.package-lock.json

# The server and its test extras, editable: the tests run this tree's code.
$(VENV)/.lvng-installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

# socket.io-client for the JS tests and --dev's example; the e2e suite's client, the
# AsyncAPI schemas and TypeScript; the benchmark's generators.
%/node_modules/.package-lock.json: %/package-lock.json
	$(NPM_CI) $*

# Debian packages the tests use, and the services they talk to (scripts/test-machine.sh).
machine:
	@bash scripts/test-machine.sh
