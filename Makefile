# One virtualenv, .venv, in two layers: `make demo` installs drsorch and its runtime
# dependencies only (RUNTIME_STAMP); `make venv` and every development target add the
# development tools (`.[dev]`: pytest, moto, awscli, mypy, ruff...) to the same .venv.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUNTIME_STAMP := $(VENV)/.installed-runtime

.PHONY: venv demo test lint typecheck unit bench clean

venv: $(STAMP)

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# What drsorch needs to run (pyproject's dependencies), nothing more.
$(RUNTIME_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $(RUNTIME_STAMP)

# The development tools too; they include the runtime, so both stamps are set.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP) $(RUNTIME_STAMP)

## The main job: validate the examples, then a simulated drill of the three-tier example
## (virtual time: an hour of DRS in a second), then the history that recorded it.
demo: $(RUNTIME_STAMP)
	$(BIN)/drsorch validate examples/*.yaml
	$(BIN)/drsorch run examples/three-tier.yaml
	$(BIN)/drsorch history --limit 5

## The whole suite: lint, types, every test layer with coverage.
test: venv lint typecheck
	$(BIN)/pytest -n 2 --cov=drsorch --cov-report=term --cov-fail-under=85 tests

lint: venv
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: venv
	$(BIN)/mypy

unit: venv
	$(BIN)/pytest -m "unit or property" tests

bench: venv
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage
