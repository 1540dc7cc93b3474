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
bench: ## benchmarks (see README for the figures and the machine)
	go test -run '^$$' -bench . -benchmem $(PKGS)

.PHONY: infra-up
infra-up: ## start real Kafka 4 (KRaft), Redis 7 and PostgreSQL 15 on loopback
	scripts/infra up >/dev/null

.PHONY: infra-down
infra-down: ## stop them
	scripts/infra down

.PHONY: test-integration
test-integration: infra-up ## unit and integration tests against real Kafka, Redis and PostgreSQL
	eval "$$(scripts/infra env)" && go test -race -count=1 -tags integration $(PKGS)

.PHONY: deploy-check
deploy-check: ## validate docker-compose.yml, the Dockerfiles and the Kubernetes manifests
	scripts/check-deploy

.PHONY: check
check: ## what CI runs: stale-code check, lint, unit + integration tests on real infrastructure, deploy files
	$(MAKE) infra-up
	$(MAKE) proto-check
	$(MAKE) lint
	$(MAKE) test-integration
	$(MAKE) deploy-check
