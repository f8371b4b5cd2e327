# The README's two commands: `make demo` and `make test`. Both install into .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: demo test install install-test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

## Install, then start the gateway in demo mode (sandbox providers, embedded SQLite).
demo: install
	$(BIN)/imagegate demo

## Install, then run the whole test suite in parallel.
test: install-test
	$(BIN)/pytest -n 2 -q $(PYTEST_ARGS)

## Gateway overhead benchmark (prints added latency, throughput ratio, peak RSS).
bench: install-test
	$(BIN)/python bench/gateway_overhead.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
