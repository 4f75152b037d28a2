# syntax=docker/dockerfile:1
# Build: docker build --build-arg VERSION=1.2.3 --build-arg COMMIT=$(git rev-parse HEAD) \
#          --build-arg CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ) -t copyguard .
# Run:   docker run --rm copyguard demo
#        docker run -v ./policies:/etc/copyguard/policies:ro -e COPYGUARD_NATS_URL=nats://... \
#          -e NATS_USER -e NATS_PASSWORD -e ALIBABA_CLOUD_ACCESS_KEY_ID -e ALIBABA_CLOUD_ACCESS_KEY_SECRET \
#          -p 9090:9090 copyguard
#
# Base images are named by tag. At release, pin each by digest so a
# rebuild cannot pick up a different image: resolve the tag with
#   docker buildx imagetools inspect golang:1.26-bookworm
#   docker buildx imagetools inspect gcr.io/distroless/static-debian12:nonroot
# and write FROM NAME:TAG@sha256:DIGEST (the tag stays for readers; the
# digest wins). Renovate or Dependabot can keep the digests current.
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
ARG VERSION=dev
ARG COMMIT=unknown
ARG CREATED=
LABEL org.opencontainers.image.title="copyguard" \
      org.opencontainers.image.description="Cancels Alibaba Cloud ECS image copies when YAML+CEL policies say so, driven by NATS JetStream" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.documentation="README.md, docs/ and deploy/ in the source tree" \
      org.opencontainers.image.base.name="gcr.io/distroless/static-debian12:nonroot"
COPY --from=build /out/copyguard /usr/local/bin/copyguard
# The embedded NATS store (used only without COPYGUARD_NATS_URL), writable
# by the non-root user; mount a volume here to keep it across restarts.
COPY --from=build --chown=nonroot:nonroot /out/data /var/lib/copyguard
WORKDIR /var/lib/copyguard
USER nonroot:nonroot
# 9090: /metrics, /healthz, /readyz (read-only). No NATS port: the
# default command never serves NATS beyond the container's loopback.
EXPOSE 9090
ENTRYPOINT ["/usr/local/bin/copyguard"]
# Safe by default: with COPYGUARD_NATS_URL set, the worker joins that NATS
# (credentials from NATS_*); without it, it starts an embedded server on
# 127.0.0.1 only, reachable from inside the container and nowhere else.
# Exposing an embedded server takes --nats-host plus authentication
# (--nats-server-config); see docs/security.md.
CMD ["run", "--policy", "/etc/copyguard/policies", "--data-dir", "/var/lib/copyguard", "--http-addr", "0.0.0.0:9090"]
