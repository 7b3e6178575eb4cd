# U-Compass. `make run` serves in dev mode; `make test` runs the test suite.
SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/bin
TOOLS := $(CURDIR)/.bin
export PATH := $(TOOLS):$(PATH)
export GOBIN := $(TOOLS)

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/ucompass/compass/pkg/version.Version=$(VERSION)
BUILDFLAGS := -trimpath -ldflags '$(LDFLAGS)'

# Pinned tool versions (../shared/notes/tooling.md).
BUF_VERSION := v1.75.0
PROTOC_GEN_GO_VERSION := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2
GRPCURL_VERSION := v1.9.4

FUZZTIME ?= 60s

.PHONY: e2e-adversarial bench-e2e
.PHONY: all build run test e2e fuzz fuzz-short bench lint generate checkgenerate tools clean docker deploy-test deploy-generate

# Every package with a fuzz target.
FUZZ_PKGS = $(sort $(dir $(shell grep -rl --include='*_test.go' '^func Fuzz' pkg)))

all: build

build:
	CGO_ENABLED=0 $(GO) build $(BUILDFLAGS) -o $(BIN)/ ./cmd/...

run: build
	$(BIN)/compassd --dev --listen 127.0.0.1:9000 --admin-listen 127.0.0.1:9001 --http-listen 127.0.0.1:9002

test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 15m ./...
	# Allocation counts are only meaningful without the race detector.
	$(GO) test -count=1 -run 'Allocs' ./pkg/wire

# End-to-end tests of the built binary with real grpcurl and Prometheus
# (installed by `make tools` and .ci/run).
e2e:
	$(GO) test -tags e2e -race -count=1 -timeout 20m -skip TestAdversarial ./cmd/...

# Each fuzz target for FUZZTIME (60s by default; CI runs fuzz-short).
fuzz:
	@set -e; for pkg in $(FUZZ_PKGS); do \
	  for f in $$($(GO) test -list '^Fuzz' ./$$pkg | grep '^Fuzz'); do \
	    echo "== fuzz ./$$pkg $$f ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) ./$$pkg; \
	  done; \
	done

# Attacks the built compassd with real tools (nmap curl wrk openssl
# openssh-client, from Debian) and generated junk; docs/security.md.
e2e-adversarial:
	$(GO) test -tags e2e -race -run TestAdversarial -count=1 -timeout 15m ./cmd/compassd

fuzz-short:
	$(MAKE) fuzz FUZZTIME=10s

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./pkg/...

clean:
	rm -rf $(BIN)

export BUF_CACHE_DIR := $(CURDIR)/.cache/buf

tools:
	$(GO) install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
	$(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	$(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
	$(GO) install github.com/fullstorydev/grpcurl/cmd/grpcurl@$(GRPCURL_VERSION)

generate:
	buf generate

lint:
	buf lint
	buf format --diff --exit-code
	$(GO) vet ./...
	test -z "$$(gofmt -l $$(git ls-files '*.go' | grep -v '^api/'))"

checkgenerate:
	.ci/proto-check.sh

IMAGE ?= compassd

docker:
	docker build --build-arg VERSION=$(VERSION) -t $(IMAGE):$(VERSION) .

# Manifests, Dockerfile and monitoring copies, in their own module
# (kustomize, k8s.io/api and buildkit stay out of the server's go.mod).
deploy-test:
	cd deploy/test && $(GO) vet ./... && $(GO) test -race -count=1 ./...

# Refresh deploy/k8s/components/monitoring/generated from deploy/grafana
# and deploy/prometheus.
deploy-generate:
	cd deploy/test && $(GO) test -count=1 -run '^TestMonitoringGenerated$$' . -update

# Load test of a freshly built compassd on this machine (docs/benchmarks.md):
# a short run of each scenario against its own compassd; --strict fails the
# target on any loss, refusal or session ended early. Reports: bin/bench/.
BENCH_DURATION ?= 5s
BENCH_PORT ?= 29400

bench-e2e: build
	@mkdir -p $(BIN)/bench
	@set -e; p=$(BENCH_PORT); \
	srv="$(BIN)/compassd --dev --listen 127.0.0.1:$$p --admin-listen 127.0.0.1:$$((p+1)) --http-listen 127.0.0.1:$$((p+2)) \
	  --max-conns 20000 --max-conns-per-ip 20000 --max-accept-rate 0"; \
	for s in "idle --sessions 5000" "fanout --groups 200 --members 10 --rate 1" "churn --concurrency 16" \
	         "mixed --sessions 2000 --groups 100 --members 10 --rate 1 --concurrency 4 --churn-rate 500"; do \
	  name=$${s%% *}; echo "== compass-bench $$s"; \
	  $(BIN)/compass-bench $$s --dev --addr 127.0.0.1:$$p --duration $(BENCH_DURATION) --strict --quiet \
	    --server-cmd "$$srv" --server-log $(BIN)/bench/$$name-server.log \
	    --metrics-url http://127.0.0.1:$$((p+2))/metrics --json $(BIN)/bench/$$name.json; \
	done
