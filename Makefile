# launchq — every target installs what it needs first, and only what is missing: each apt
# tool is checked on its own, Python packages come from hash-locked files, and a stamp per
# lock file makes a second run instant.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LOCKS := infra/requirements
SERVER_STAMP := $(VENV)/.server-$(shell cat $(LOCKS)/server.txt pyproject.toml | sha1sum | cut -c1-12)
DEV_STAMP := $(VENV)/.dev-$(shell cat $(LOCKS)/dev.txt pyproject.toml | sha1sum | cut -c1-12)
BENCH_STAMP := $(VENV)/.bench-$(shell cat $(LOCKS)/bench.txt 2>/dev/null | sha1sum | cut -c1-12)
NODE_STAMP := tests/localstack/node_modules/.installed-$(shell cat tests/localstack/package-lock.json | sha1sum | cut -c1-12)
# checkov (the template's security scan in `make test`) lives in a virtualenv of its own:
# its pins (boto3, botocore, packaging, ...) clash with the dev lock's SAM CLI and moto.
CHECKOV_VENV := $(VENV)/checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(shell cat $(LOCKS)/checkov.txt | sha1sum | cut -c1-12)
# launchq's own rule for its data directory (launchq.local.settings): LAUNCHQ_DATA_DIR, else
# .launchq/ here, which an agent or CLI started from this directory then finds by itself.
DATA_DIR ?= $(or $(LAUNCHQ_DATA_DIR),$(CURDIR)/.launchq)
HOST ?= 127.0.0.1
PORT ?= 8080
PYTEST_ARGS ?=

.PHONY: setup setup-server apt-server apt-test apt-bench run test soak lint typecheck unit bench mutation lock deploy clean

# apt, tool by tool: "command:package" pairs. A tool already on PATH is never asked for, so
# apt never touches what the machine already has. Node.js is a special case: Debian's npm
# conflicts with the NodeSource nodejs this project's machines carry, so npm is installed
# from apt only together with Debian's nodejs, when there is no node at all.
APT_SERVER_TOOLS := git:git
# A pair's "command" may instead be an absolute path that the package installs: Debian's Go
# sources of Google's Pub/Sub fake (pstest), which the tests build into build/pstest/.
PSTEST_SOURCES := /usr/share/gocode/src/cloud.google.com/go/pubsub/pstest
APT_TEST_TOOLS := java:openjdk-17-jre-headless buildah:buildah \
	docker-registry:docker-registry skopeo:skopeo busybox:busybox-static \
	go:golang-go $(PSTEST_SOURCES):golang-google-cloud-dev chromium:chromium
# Every apt package this Makefile asks for on a machine that has Node.js (the tests check
# that they resolve together). On a machine with no node at all, Debian's pair below is
# asked for instead of nothing; it is never asked for beside an existing node.
APT_PACKAGES := git openjdk-17-jre-headless buildah docker-registry skopeo busybox-static \
	golang-go golang-google-cloud-dev chromium
APT_NODE_FALLBACK := nodejs npm

# $(call apt_install,PAIRS,EXTRA): apt-get install the package of each missing tool, plus EXTRA.
define apt_install
missing="$(2)"; for pair in $(1); do tool=$${pair%%:*}; pkg=$${pair#*:}; \
  case $$tool in /*) [ -e $$tool ];; *) command -v $$tool >/dev/null;; esac || missing="$$missing $$pkg"; done; \
if [ -n "$${missing// /}" ]; then echo "apt: installing$$missing"; \
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi
endef

apt-server:
	@$(call apt_install,$(APT_SERVER_TOOLS),)

apt-test: apt-server
	@if ! command -v node >/dev/null; then extra="$(APT_NODE_FALLBACK)"; \
	elif ! command -v npm >/dev/null; then echo "node is here without npm: install npm from node's own source" >&2; exit 2; fi; \
	$(call apt_install,$(APT_TEST_TOOLS),$$extra)

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# The server alone: launchq's runtime dependencies from the lock, nothing the tests need.
$(SERVER_STAMP): $(LOCKS)/server.txt pyproject.toml | $(VENV)/bin/python
	@if [ -e $(DEV_STAMP) ]; then touch $@; exit 0; fi; \
	$(BIN)/python -m pip install -q --require-hashes -r $(LOCKS)/server.txt && \
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e . && \
	touch $@

# Everything the tests, linters and `sam build` use, from the dev lock.
$(DEV_STAMP): $(LOCKS)/dev.txt pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install -q --require-hashes -r $(LOCKS)/dev.txt
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	@rm -f $(VENV)/.dev-* && touch $@

$(CHECKOV_STAMP): $(LOCKS)/checkov.txt | $(VENV)/bin/python
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install -q --require-hashes -r $(LOCKS)/checkov.txt
	@rm -f $(CHECKOV_VENV)/.installed-* && touch $@

$(NODE_STAMP): tests/localstack/package-lock.json | apt-test
	cd tests/localstack && npm ci --no-audit --no-fund --loglevel=error
	@rm -f tests/localstack/node_modules/.installed-*
	@touch $@

setup-server: apt-server $(SERVER_STAMP)

setup: apt-test $(DEV_STAMP) $(NODE_STAMP) $(CHECKOV_STAMP)

## The local server with a default queue (SQLite + local processes), on http://$(HOST):$(PORT)
run: setup-server
	$(BIN)/launchq serve --host $(HOST) --port $(PORT) --data-dir $(DATA_DIR)

## Lint, type-check and the whole test suite
test: lint
	$(BIN)/python -m pytest -m "not soak" $(PYTEST_ARGS)

## The fault-injection test at full size (not part of `make test`): 10,000 runs, four dispatcher
## processes SIGKILLed at random and restarted, on SQLite and on DynamoDB Local (hours on two cores)
soak: setup
	$(BIN)/python -m pytest -m soak -s tests/functional/test_fault_injection.py $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check shared functions tests
	$(BIN)/ruff format --check shared functions tests
	$(BIN)/mypy

unit: setup
	$(BIN)/python -m pytest tests/unit tests/contract -q $(PYTEST_ARGS)

## Benchmarks (not part of `make test`): the harness's smoke and the claim benchmark, then every
## group of tests/perf/ (http, store, dynamodb, peers), written to bench/results/ (BENCH_ARGS=
## e.g. "--quick --only http,peers"). The peers' servers are Debian's postgresql and
## redis-server; Debian keeps initdb off PATH, in /usr/lib/postgresql/<version>/bin.
APT_BENCH_TOOLS := redis-server:redis-server
BENCH_ARGS ?=
apt-bench:
	@extra=""; command -v initdb >/dev/null || compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null \
	  || extra=postgresql; $(call apt_install,$(APT_BENCH_TOOLS),$$extra)

$(BENCH_STAMP): $(LOCKS)/bench.txt | $(DEV_STAMP)
	$(BIN)/python -m pip install -q --require-hashes -r $(LOCKS)/bench.txt
	@rm -f $(VENV)/.bench-* && touch $@

bench: setup apt-bench $(BENCH_STAMP)
	$(BIN)/python -m pytest tests/perf -q --benchmark-columns=min,median,mean,ops,rounds $(PYTEST_ARGS)
	$(BIN)/python -m tests.perf.bench $(BENCH_ARGS)

## Mutation testing of the core rules (not part of `make test`): mutmut mutates the modules in
## [tool.mutmut] of pyproject.toml, runs the unit and contract tests against each mutant and
## prints the score per module (tests/mutation/report.py; judged-equivalent mutants are listed
## with their reasons in tests/mutation/equivalent.toml). It works in build/mutation/, where
## `src` links to shared/ because mutmut names modules after their path. MUTATION_JOBS=N caps
## the parallel test runs (default: one per core).
MUTATION_DIR := build/mutation
MUTATION_JOBS ?=
mutation: setup
	@rm -rf $(MUTATION_DIR) && mkdir -p $(MUTATION_DIR)
	@for link in shared:src shared:shared tests:tests functions:functions pyproject.toml:pyproject.toml; do \
	  ln -s $(CURDIR)/$${link%%:*} $(MUTATION_DIR)/$${link#*:}; done
	@echo "mutmut: running (progress in $(MUTATION_DIR)/mutmut.log)"
	@cd $(MUTATION_DIR) && $(CURDIR)/$(BIN)/mutmut run $(if $(MUTATION_JOBS),--max-children $(MUTATION_JOBS)) \
	  > mutmut.log 2>&1 || { tail -n 40 mutmut.log; exit 1; }
	@cd $(MUTATION_DIR) && $(CURDIR)/$(BIN)/python -m tests.mutation.report

## Re-resolve the locks (with hashes) after changing pyproject.toml or shared/requirements.in;
## pins already in a lock are kept unless `make lock UPGRADE=1`.
## The server and Lambda-layer locks are constrained to the dev lock, so the tests run the
## very versions that `make run` and `sam build` install.
UV_COMPILE := $(BIN)/uv pip compile -q --generate-hashes --python-version 3.11 --no-header $(if $(UPGRADE),--upgrade)
lock: setup
	# --no-strip-extras: pip's --require-hashes refuses a requirement with an extra (google-cloud-*
	# ask for google-api-core[grpc]) unless the pin names that extra too
	$(UV_COMPILE) --no-strip-extras --extra dev pyproject.toml $(LOCKS)/build.in -o $(LOCKS)/dev.txt
	$(UV_COMPILE) --extra kubernetes pyproject.toml $(LOCKS)/build.in -c $(LOCKS)/dev.txt -o $(LOCKS)/server.txt
	$(UV_COMPILE) shared/requirements.in -c $(LOCKS)/dev.txt -o shared/requirements.txt
	$(UV_COMPILE) $(LOCKS)/bench.in -c $(LOCKS)/dev.txt -o $(LOCKS)/bench.txt
	$(UV_COMPILE) $(LOCKS)/checkov.in -o $(LOCKS)/checkov.txt  # its own venv: not constrained

deploy: setup
	$(BIN)/sam build && $(BIN)/sam deploy --guided

clean:
	rm -rf $(VENV) .launchq .pytest_cache .mypy_cache .ruff_cache
