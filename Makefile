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

# End-to-end tests of the built binary with real grpcurl and Prometheus
# (installed by `make tools` and .ci/run).
e2e:
	$(GO) test -tags e2e -race -count=1 -timeout 20m ./cmd/...

# Each fuzz target for FUZZTIME (60s by default; CI runs fuzz-short).
fuzz:
	@set -e; for pkg in $(FUZZ_PKGS); do \
	  for f in $$($(GO) test -list '^Fuzz' ./$$pkg | grep '^Fuzz'); do \
	    echo "== fuzz ./$$pkg $$f ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) ./$$pkg; \
	  done; \
	done

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
