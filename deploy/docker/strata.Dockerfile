# syntax=docker/dockerfile:1
# Strata CLI image; by default it runs `strata up`, every service in one process,
# on in-process Kafka, Redis and SQLite with the development keys. STRATA_KAFKA_BROKERS,
# STRATA_REDIS_ADDR and STRATA_POSTGRES_URL select the real ones; with real Kafka,
# STRATA_INGEST_WRITE_KEYS and STRATA_GATEWAY_ADMIN_KEYS are required.
# Build from the repository root:
#   docker build -f deploy/docker/strata.Dockerfile -t strata/strata .
#   docker run --rm -p 8080:8080 -p 9090:9090 strata/strata
# `up` links every service's Run function, so besides proto/ and pkg/ this build
# copies each service module (reached through replace directives in
# services/strata/go.mod); go.work is off.

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
ENV GOWORK=off \
    CGO_ENABLED=0
WORKDIR /src/services/strata

# Module files first so the download layer is reused until a go.mod/go.sum changes.
COPY proto/go.mod proto/go.sum* /src/proto/
COPY pkg/go.mod pkg/go.sum* /src/pkg/
COPY services/ingest/go.mod services/ingest/go.sum* /src/services/ingest/
COPY services/profile/go.mod services/profile/go.sum* /src/services/profile/
COPY services/prediction/go.mod services/prediction/go.sum* /src/services/prediction/
COPY services/recommendation/go.mod services/recommendation/go.sum* /src/services/recommendation/
COPY services/crm/go.mod services/crm/go.sum* /src/services/crm/
COPY services/gateway/go.mod services/gateway/go.sum* /src/services/gateway/
COPY services/strata/go.mod services/strata/go.sum* /src/services/strata/
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download

COPY proto/ /src/proto/
COPY pkg/ /src/pkg/
COPY services/ingest/ /src/services/ingest/
COPY services/profile/ /src/services/profile/
COPY services/prediction/ /src/services/prediction/
COPY services/recommendation/ /src/services/recommendation/
COPY services/crm/ /src/services/crm/
COPY services/gateway/ /src/services/gateway/
COPY services/strata/ /src/services/strata/
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags="-s -w" -o /out/strata ./cmd/strata

FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.title="strata-cli" \
      org.opencontainers.image.source="https://github.com/stratahq/strata"
COPY --from=build /out/strata /usr/local/bin/strata
# The gateway of `strata up` listens on all interfaces inside the container (the
# binary defaults to loopback); the other services stay on loopback ports.
ENV STRATA_HTTP_ADDR=0.0.0.0:8080 \
    STRATA_GRPC_ADDR=0.0.0.0:9090
# distroless "nonroot" (65532), numeric so Kubernetes runAsNonRoot can verify it.
USER 65532:65532
EXPOSE 8080 9090
ENTRYPOINT ["/usr/local/bin/strata"]
CMD ["up"]
