# kyc-bridge developer entry points. `make run` and `make test` do all setup.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
KAFKACTL := $(BIN)/python deploy/kafka/kafkactl.py
LINT_PATHS := bridge tests bench scripts deploy/kafka

.PHONY: help install kafka-fetch kafka-up kafka-down run test test-fast lint format typecheck check bench schemas-check image clean

help:
	@echo "make run        start a local Kafka broker and the bridge (prints a curl to try);"
	@echo "                with BRIDGE_KAFKA_BOOTSTRAP_SERVERS set, the bridge on your own cluster"
	@echo "make test       install everything and run the whole suite (starts its own brokers)"
	@echo "make check      lint + format check + mypy --strict + tests (exactly what CI runs)"
	@echo "make bench      throughput/latency benchmark against a real broker"
	@echo "make kafka-up / kafka-down   the local dev broker on 127.0.0.1:9092"
	@echo "make image      build the container image (podman or docker; prints size and build time)"

$(STAMP): pyproject.toml
	@echo "installing Python dependencies into $(VENV) (first run, ~30 s)…"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

kafka-fetch: $(STAMP)
	$(KAFKACTL) fetch

kafka-up: kafka-fetch
	$(KAFKACTL) up

kafka-down:
	@test -x $(BIN)/python && $(KAFKACTL) down || true

# No kafka-fetch here: with BRIDGE_KAFKA_BOOTSTRAP_SERVERS set (your own cluster) `make run`
# needs neither Java nor Maven; otherwise scripts/run-dev.sh fetches and starts the broker.
run: $(STAMP)
	@BIN=$(BIN) scripts/run-dev.sh

test: kafka-fetch
	$(BIN)/pytest

test-fast: $(STAMP)
	$(BIN)/pytest -m "not kafka and not slow and not container"

lint: $(STAMP)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)

format: $(STAMP)
	$(BIN)/ruff check --fix $(LINT_PATHS)
	$(BIN)/ruff format $(LINT_PATHS)

typecheck: $(STAMP)
	$(BIN)/mypy

schemas-check: $(STAMP)
	$(BIN)/python scripts/schema_compat.py

check: lint typecheck schemas-check test

bench: kafka-fetch
	$(BIN)/python -m bench.run

# deploy/Dockerfile -> kyc-bridge:local (IMAGE=, BASE_IMAGE=, CA_BUNDLE=, PIP_CONF=: see the
# script). Installs podman first where no engine is there (root + apt-get).
image:
	@scripts/build-image.sh

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
