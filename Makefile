# The two commands: `make demo` (set up + run the demo) and `make test` (set up + lint + every test).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ROWS ?= 2000000

.PHONY: demo test lint bench bench-cpu bench-encryption bench-crash bench-detection setup setup-dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# pycanon pins its dependencies to exact, old versions; its `anonymity` module needs only numpy and
# pandas, which Vaultline requires itself (see pyproject.toml).
PYCANON := pycanon==1.3.6

# An editable install leaves our own modules uncompiled, and where PYTHONDONTWRITEBYTECODE is set
# (as on this project's machines) every process would compile about 150 of them again at start-up.
# Compiling here is what pip does for a regular install; Python still recompiles an edited module.
COMPILE := $(BIN)/python -m compileall -q src/vaultline

setup: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	$(BIN)/python -m pip install --quiet --no-deps '$(PYCANON)'
	$(COMPILE)

setup-dev: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip install --quiet --no-deps '$(PYCANON)'
	$(COMPILE)

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

bench-cpu: setup-dev
	$(BIN)/python bench/cpu_budget.py --rows $(ROWS)

bench-encryption: setup-dev
	$(BIN)/python bench/bench_encryption_overhead.py --rows 1000000

bench-crash: setup-dev
	$(BIN)/python bench/crash_safety.py --rows 200000 --kills 20

bench-detection: setup-dev
	$(BIN)/python bench/detection/harness.py --rows 5000 --seeds 0 1 2
	$(BIN)/python bench/detection/harness.py --speed

clean:
	rm -rf $(VENV) vaultline-demo .vaultline bench/out
