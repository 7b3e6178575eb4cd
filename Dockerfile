# check=error=true;experimental=all

# compassd's container image: a static binary on distroless, as non-root.
#
#   docker build --build-arg VERSION=$(git describe --tags --always --dirty) -t compassd .
#
# Base images are pinned by tag: golang by its exact Go release (at least
# go.mod's go line) and Debian release, distroless by Debian release and
# variant (distroless publishes no version tags, only digests). Digests
# could not be resolved where this was written (no registry access); to
# pin them, append @sha256:... from
# `docker buildx imagetools inspect IMAGE`. deploy/test checks the pins,
# the build flags (exactly the Makefile's), the user and the ports.

# build compiles compassd with the Makefile's flags (CGO off, -trimpath, stamped version).
FROM golang:1.26.8-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# VERSION is stamped into the binary (compassd --version); "dev" as in the Makefile.
ARG VERSION=dev
ENV CGO_ENABLED=0
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags "-s -w -X github.com/ucompass/compass/pkg/version.Version=${VERSION}" -o /out/compassd ./cmd/compassd

# runtime is the image that ships: no shell, no package manager, uid 65532.
FROM gcr.io/distroless/static-debian12:nonroot AS runtime
COPY --from=build /out/compassd /usr/local/bin/compassd
USER 65532:65532
# data plane, gRPC control plane, /metrics /healthz /readyz
EXPOSE 9000 9001 9002
ENTRYPOINT ["/usr/local/bin/compassd"]
