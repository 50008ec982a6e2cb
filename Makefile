# Two commands on a fresh machine with Python 3.11+: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-fast gates lint install clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/spillway demo

gates: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy --strict libs/spillway services bench tests
	$(BIN)/lint-imports

# Two workers: most end-to-end time is waiting on other processes, so two share the 2 cores well.
test: gates
	$(BIN)/python -m pytest -q -n 2

# Local loop: skip slow end-to-end and chaos tests.
test-fast: gates
	$(BIN)/python -m pytest -q -n 2 -m 'not slow and not chaos'

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
