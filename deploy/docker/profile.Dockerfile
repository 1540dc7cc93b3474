# syntax=docker/dockerfile:1
# Strata profile service image.
# Build from the repository root:
#   docker build -f deploy/docker/profile.Dockerfile -t strata/profile .
# Only proto/, pkg/ and services/profile/ enter the build: the service module
# reaches pkg and proto through its go.mod replace directives, so go.work is off.

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
ENV GOWORK=off \
    CGO_ENABLED=0
WORKDIR /src/services/profile

# Module files first so the download layer is reused until a go.mod/go.sum changes.
COPY proto/go.mod proto/go.sum* /src/proto/
COPY pkg/go.mod pkg/go.sum* /src/pkg/
COPY services/profile/go.mod services/profile/go.sum* /src/services/profile/
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download

COPY proto/ /src/proto/
COPY pkg/ /src/pkg/
COPY services/profile/ /src/services/profile/
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags="-s -w" -o /out/profile ./cmd/profile

FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.title="strata-profile" \
      org.opencontainers.image.source="https://github.com/stratahq/strata"
COPY --from=build /out/profile /usr/local/bin/profile
# Listen on all interfaces inside the container (the binaries default to loopback).
ENV STRATA_HTTP_ADDR=0.0.0.0:8102 \
    STRATA_GRPC_ADDR=0.0.0.0:9102
# distroless "nonroot" (65532), numeric so Kubernetes runAsNonRoot can verify it.
USER 65532:65532
EXPOSE 8102 9102
ENTRYPOINT ["/usr/local/bin/profile"]
