# One virtualenv, made by `make venv`; every other target depends on it.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv demo test lint typecheck unit bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## The main job: validate the examples, then a simulated drill of the three-tier example
## (virtual time: an hour of DRS in a second), then the history that recorded it.
demo: venv
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
