# Strata — see README.md. `make run` starts the suite; `make check` is what CI runs.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

BUF          := go run github.com/bufbuild/buf/cmd/buf@v1.75.0
STATICCHECK  := go run honnef.co/go/tools/cmd/staticcheck@v0.8.2
# Every module of the workspace, as package patterns (go.work ties them together).
PKGS          = $(shell go list -m -f '{{.Path}}/...')
GOFILES       = $(shell git ls-files --cached --others --exclude-standard '*.go' | grep -v -E '\.pb(\.gw)?\.go$$')
RUN_ARGS     ?=
BENCH        ?= .

.PHONY: help
help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

.PHONY: run
run: ## run the whole suite in one process on the embedded stack (gateway on :8080/:9090), seeded with the default world (RUN_ARGS=--seed=false: empty)
	go run ./services/strata/cmd/strata up $(RUN_ARGS)

.PHONY: build
build: ## build every binary into bin/
	@mkdir -p bin
	for s in ingest profile prediction recommendation crm gateway strata; do \
	  go build -trimpath -o bin/$$s ./services/$$s/cmd/$$s; done

.PHONY: proto
proto: ## regenerate Go code and the OpenAPI document from proto/ (pinned generators)
	cd proto && $(BUF) format -w --path strata && $(BUF) lint && $(BUF) generate

.PHONY: proto-check
proto-check: proto ## fail if the committed generated code is stale
	@if [ -n "$$(git status --porcelain -- proto)" ]; then \
	  echo "generated code in proto/ is stale: run make proto and commit"; git status --short -- proto; exit 1; fi

.PHONY: console
console: ## build the web console into services/gateway/console/dist (npm ci + esbuild; the build is committed)
	cd services/gateway/console/web && npm ci --ignore-scripts --no-audit --no-fund && node build.mjs

.PHONY: console-check
console-check: ## fail if services/gateway/console/dist is not what make console builds from the sources
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	cd services/gateway/console/web && npm ci --ignore-scripts --no-audit --no-fund >/dev/null && node build.mjs "$$tmp" && \
	if ! diff -r "$$tmp" ../dist >/dev/null; then \
	  echo "the console build in services/gateway/console/dist is stale: run make console and commit"; \
	  diff -rq "$$tmp" ../dist; exit 1; fi

.PHONY: browser
browser: ## install headless Chromium (Debian's chromium) for the console's browser tests, unless it is there
	scripts/browser install >/dev/null

.PHONY: test-browser
test-browser: browser ## the console's end-to-end browser test alone (screenshots under STRATA_ARTIFACTS, else a temporary folder)
	eval "$$(scripts/browser env)" && go test -race -count=1 -tags integration -run TestConsole -v ./services/strata/consoletest/

.PHONY: fmt
fmt: ## format the Go sources
	gofmt -w $(GOFILES)

.PHONY: lint
lint: ## gofmt, go vet and staticcheck over every module
	@bad=$$(gofmt -l $(GOFILES)); if [ -n "$$bad" ]; then echo "gofmt would change:"; echo "$$bad"; exit 1; fi
	go vet $(PKGS)
	go vet -tags integration $(PKGS)
	$(STATICCHECK) -tags integration $(PKGS)

.PHONY: test
test: ## fast unit tests (embedded Kafka, Redis and SQLite), with the race detector
	go test -race -count=1 $(PKGS)

.PHONY: bench
bench: infra-up ## benchmarks, those on real Kafka, Redis and PostgreSQL included (README "Performance": figures, machine, commands; BENCH=regexp narrows)
	eval "$$(scripts/infra env)" && go test -run '^$$' -bench '$(BENCH)' -benchmem -tags integration $(PKGS)

.PHONY: infra-up
infra-up: ## start real Kafka 4 (KRaft), Redis 7 and PostgreSQL 15 on loopback
	scripts/infra up >/dev/null

.PHONY: infra-down
infra-down: ## stop them
	scripts/infra down

.PHONY: test-integration
test-integration: infra-up browser ## unit and integration tests against real Kafka, Redis and PostgreSQL (and the console in headless Chromium)
	eval "$$(scripts/infra env)" && eval "$$(scripts/browser env)" && go test -race -count=1 -tags integration $(PKGS)

.PHONY: deploy-check
deploy-check: ## validate docker-compose.yml, the Dockerfiles and the Kubernetes manifests
	scripts/check-deploy

.PHONY: check
check: ## what CI runs: stale-code check, lint, unit + integration tests on real infrastructure, deploy files
	$(MAKE) infra-up
	$(MAKE) proto-check
	$(MAKE) console-check
	$(MAKE) lint
	$(MAKE) test-integration
	$(MAKE) deploy-check
