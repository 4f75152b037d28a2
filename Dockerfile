# syntax=docker/dockerfile:1
# Build: docker build -t copyguard .
# Run:   docker run --rm copyguard demo
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
# Static binary: no cgo, so it runs on a distroless/static base.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
      -o /out/copyguard ./cmd/copyguard && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/copyguard /usr/local/bin/copyguard
# The embedded NATS store, writable by the non-root user; mount a volume
# here to keep it across restarts.
COPY --from=build --chown=nonroot:nonroot /out/data /var/lib/copyguard
WORKDIR /var/lib/copyguard
USER nonroot:nonroot
# 4222: embedded NATS (when --nats-url is empty); 9090: /metrics, /healthz, /readyz.
EXPOSE 4222 9090
ENTRYPOINT ["/usr/local/bin/copyguard"]
CMD ["run", "--policy", "/etc/copyguard/policies", "--data-dir", "/var/lib/copyguard", "--http-addr", ":9090", "--nats-host", "0.0.0.0"]
