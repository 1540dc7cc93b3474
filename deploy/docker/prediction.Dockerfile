# syntax=docker/dockerfile:1
# Strata prediction service image.
# Build from the repository root:
#   docker build -f deploy/docker/prediction.Dockerfile -t strata/prediction .
# Only proto/, pkg/ and services/prediction/ enter the build: the service module
# reaches pkg and proto through its go.mod replace directives, so go.work is off.

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
ENV GOWORK=off \
    CGO_ENABLED=0
WORKDIR /src/services/prediction

# Module files first so the download layer is reused until a go.mod/go.sum changes.
COPY proto/go.mod proto/go.sum* /src/proto/
COPY pkg/go.mod pkg/go.sum* /src/pkg/
COPY services/prediction/go.mod services/prediction/go.sum* /src/services/prediction/
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download

COPY proto/ /src/proto/
COPY pkg/ /src/pkg/
COPY services/prediction/ /src/services/prediction/
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags="-s -w" -o /out/prediction ./cmd/prediction
# An empty model directory for the runtime stage (distroless has no shell to mkdir).
RUN mkdir -p /out/models

FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.title="strata-prediction" \
      org.opencontainers.image.source="https://github.com/stratahq/strata"
COPY --from=build /out/prediction /usr/local/bin/prediction
# The model registry's directory, owned by the runtime user so that a volume mounted
# on it (compose's prediction-models) starts writable.
COPY --from=build --chown=65532:65532 /out/models /var/lib/strata/models
# Listen on all interfaces inside the container (the binaries default to loopback).
ENV STRATA_HTTP_ADDR=0.0.0.0:8103 \
    STRATA_GRPC_ADDR=0.0.0.0:9103
# distroless "nonroot" (65532), numeric so Kubernetes runAsNonRoot can verify it.
USER 65532:65532
EXPOSE 8103 9103
ENTRYPOINT ["/usr/local/bin/prediction"]
