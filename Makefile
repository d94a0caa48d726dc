# openkvs — `make run` serves, `make test` checks everything. `make help` lists targets.

GO       ?= go
BIN      := bin/openkvs
FUZZTIME ?= 2000x
PKGS     := ./...

.PHONY: help run build test deps vet fmt-check unit cluster-deps fuzz e2e bench lint clean

help: ## list targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

run: build ## run the server with embedded storage under ./openkvs-data
	./$(BIN) serve

build: ## build bin/openkvs
	$(GO) build -o $(BIN) ./cmd/openkvs

.PHONY: install
install: ## install openkvs on your PATH ($$GOBIN, default ~/go/bin)
	$(GO) install ./cmd/openkvs

test: deps fmt-check vet build unit fuzz e2e ## everything CI runs: deps, gofmt, vet, race tests, brief fuzzing, end-to-end suite

deps: ## install what the tests need (Debian packages, npm packages) when missing; SeaweedFS builds meanwhile
	./scripts/seaweedfs.sh --background
	./scripts/deps.sh

fmt-check: ## fail if gofmt would change a file
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet: ## go vet
	$(GO) vet $(PKGS)

unit: cluster-deps ## Go tests with the race detector (the cluster tests' servers required, not skipped)
	OPENKVS_WEED=$$(./scripts/seaweedfs.sh) OPENKVS_REQUIRE_CLUSTER_DEPS=1 $(GO) test -race -count=1 -timeout 10m $(PKGS)

# scripts/cluster.sh: PostgreSQL, NATS, SeaweedFS and three nodes on
# 127.0.0.1-3, state in ./openkvs-cluster; Ctrl-C stops everything.
.PHONY: cluster
cluster: build cluster-deps ## run a 3-node cluster on this machine (PostgreSQL, NATS, SeaweedFS; README "Running a cluster")
	OPENKVS_BIN=$(CURDIR)/$(BIN) ./scripts/cluster.sh

cluster-deps: ## build and cache SeaweedFS' weed for the cluster tests (once, several minutes; scripts/seaweedfs.sh)
	./scripts/seaweedfs.sh >/dev/null

fuzz: ## run every Go fuzz target briefly (FUZZTIME executions each; a count, not a duration, see scripts/fuzz.sh)
	./scripts/fuzz.sh $(FUZZTIME)

# e2e/run.sh runs `npm ci`, then the tests: as root, inside a network
# namespace holding only loopback (unshare -n), so the WebRTC tests cannot
# touch another network; without root or unshare, directly on loopback.
e2e: build cluster-deps ## end-to-end suite with the official JavaScript SDKs and Chromium (loopback-only netns when root)
	OPENKVS_BIN=$(CURDIR)/$(BIN) OPENKVS_WEED=$$(./scripts/seaweedfs.sh) OPENKVS_REQUIRE_CLUSTER_DEPS=1 ./e2e/run.sh

bench: ## Go benchmarks (see BENCHMARKS.md for the recorded figures)
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

lint: fmt-check vet ## gofmt, vet and staticcheck
	$(GO) run honnef.co/go/tools/cmd/staticcheck@latest $(PKGS)

clean: ## remove build output
	rm -rf bin
