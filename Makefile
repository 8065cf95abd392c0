# parexec: `make demo` and `make test` work on a fresh machine; both install first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DATA := ../shared/data
# pytest-xdist processes for the test suite (CI has 2 cores)
TEST_JOBS ?= 2

.PHONY: install demo test conformance bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: install
	$(BIN)/parexec verify $(DATA)/mainnet $(DATA)/mainnet-prague

test: install
	$(BIN)/python -m pytest -n $(TEST_JOBS) -q tests

# The whole shared data set through every strategy (slower than `make test`).
conformance: install
	$(BIN)/parexec verify $(DATA) --strategy serial

bench: install
	$(BIN)/python benchmarks/serial_vs_pyevm.py --repeat 3

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .hypothesis
