# The two commands of README.md: `make demo` (the local demo) and `make test` (everything CI runs).
# Each sets up what a fresh machine lacks: the virtualenv, the Go-built control planes, etc.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# pytest-xdist workers for `make test` / `make integration`: the integration tests mostly wait on operator passes
# and control planes, so 4 workers on 2 CPUs still leave about a third of the CPU idle, and `make test` takes
# 10–11 minutes where 3 workers took 12 (docs/development.md).
TEST_WORKERS ?= 4
# Modules go out in collection order, which the integration conftest sorts longest first (LONG_RUNNING_MODULES);
# xdist's default would reorder them by test count.
XDIST := -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder

.PHONY: demo test setup build lint typecheck crds crds-check unit integration clean

$(VENV)/.installed: pyproject.toml
	@echo "[spinop] creating $(VENV) and installing spinop with its test tools"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

setup: $(VENV)/.installed

build: setup
	$(BIN)/spinop dev build

demo: build
	$(BIN)/spinop demo

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: setup
	$(BIN)/mypy

crds: setup
	$(BIN)/spinop crds

crds-check: setup
	$(BIN)/spinop crds --check

unit: setup
	$(BIN)/pytest tests/unit

integration: build
	$(BIN)/pytest $(XDIST) tests/integration

test: build lint typecheck crds-check
	$(BIN)/pytest $(XDIST)

clean:
	rm -rf .build $(VENV)
