# The two commands: `make demo` (set up + run the demo) and `make test` (set up + lint + every test).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ROWS ?= 2000000

.PHONY: demo test lint bench setup setup-dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

setup: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .

setup-dev: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'

demo: setup
	$(BIN)/vaultline demo

lint: setup-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

test: setup-dev lint
	$(BIN)/pytest

bench: setup-dev
	$(BIN)/python bench/bench_pipeline.py --rows $(ROWS)

clean:
	rm -rf $(VENV) vaultline-demo .vaultline bench/out
