# The README's two commands: `make demo` and `make test`. Both install into .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: demo test check install install-test bench clean

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

## The house's gates: lint, format, types (mypy, [tool.mypy]) and layers (import-linter, [tool.importlinter]).
## Every step runs; the target fails if any failed and names which.
check: install-test
	@failed=""; \
	$(BIN)/ruff check src tests bench || failed="$$failed ruff-check"; \
	$(BIN)/ruff format --check src tests bench || failed="$$failed ruff-format"; \
	$(BIN)/mypy || failed="$$failed mypy"; \
	$(BIN)/lint-imports || failed="$$failed lint-imports"; \
	if [ -n "$$failed" ]; then echo "make check: FAILED:$$failed"; exit 1; fi; \
	echo "make check: all gates passed"

## Benchmarks: the wrk harness (direct vs imagegate at HEAD; bench/wrk/README.md), the project's own
## client (added latency, throughput ratio, RSS), and memory under 4K generations and large edits.
## BENCH_TARGETS=direct,litellm,portkey,imagegate adds the peers (installed by bench/wrk/setup.sh).
BENCH_TARGETS ?= direct,imagegate
BENCH_CELLS ?= big:200:1,big:200:32,tiny:0:32
## Each run starts from a fresh BENCH_OUT: the harness keeps the gateway's SQLite file (and its key) there.
BENCH_OUT ?= /tmp/imagegate-bench
bench: install-test
	rm -rf $(BENCH_OUT)
	bash bench/wrk/run.sh --targets $(BENCH_TARGETS) --cells $(BENCH_CELLS) --rounds 3 --duration 10 \
	  --warmup 2 --model gpt-image-2 --imagegate-proj . --out $(BENCH_OUT)
	cat $(BENCH_OUT)/table.md
	$(BIN)/python bench/gateway_overhead.py
	$(BIN)/python bench/memory.py
	PYTHONPATH=. $(BIN)/python bench/ledger_throughput.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
