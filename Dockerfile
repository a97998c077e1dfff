# syntax=docker/dockerfile:1
# Rend images: one build, three targets that share the runtime layer.
#   docker build --target rend-api          -t rend-api .
#   docker build --target rend-media-worker -t rend-media-worker .
#   docker build --target rend-edge         -t rend-edge .
# compose.yml builds all three for the local topology (docs/stack.md).

# --- build: the rend binary ----------------------------------------------------------
FROM debian:bookworm AS build
ARG DEBIAN_FRONTEND=noninteractive
# Build dependencies as in scripts/bootstrap.sh, plus the production backends' client
# libraries (libpq, hiredis). GTest is found by CMake even when only `rend` is built.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config \
      libboost1.81-dev libcurl4-openssl-dev libssl-dev libsqlite3-dev \
      libpq-dev libhiredis-dev libjemalloc-dev zlib1g-dev \
      libgtest-dev libgmock-dev ca-certificates \
      python3 python3-yaml \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY cmake ./cmake
COPY config ./config
COPY src ./src
COPY migrations ./migrations
COPY clickhouse ./clickhouse
# Served as JSON at /v1/openapi.json, embedded at build time (python3-yaml).
COPY docs/openapi.yaml ./docs/openapi.yaml
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release \
 && ninja -C /build rend \
 && strip /build/rend

# --- web: hls.js for the watch page, tus-js-client for the upload page (production dependencies only) -------------------
FROM node:20-bookworm-slim AS web
WORKDIR /web
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --loglevel=error

# --- runtime: shared by every role ---------------------------------------------------
FROM debian:bookworm-slim AS runtime
ARG DEBIAN_FRONTEND=noninteractive
# ffmpeg/ffprobe for the media worker; curl for the health checks.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ffmpeg libcurl4 libsqlite3-0 libpq5 libhiredis0.14 libjemalloc2 ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 rend \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/rend --no-create-home \
      --shell /usr/sbin/nologin rend \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/rend /var/lib/rend/telemetry-spool /var/lib/rend/telemetry-journal /var/cache/rend/edge
COPY --from=build /build/rend /usr/local/bin/rend
COPY web /usr/share/rend/web
COPY --from=web /web/node_modules/hls.js/dist /usr/share/rend/hls.js/dist
COPY --from=web /web/node_modules/tus-js-client/dist/tus.min.js /usr/share/rend/tus-js-client/dist/tus.min.js
ENV REND_WEB_DIR=/usr/share/rend/web \
    REND_HLSJS_PATH=/usr/share/rend/hls.js/dist/hls.min.js \
    REND_TUSJS_PATH=/usr/share/rend/tus-js-client/dist/tus.min.js \
    REND_MEDIA_WORK_DIR=/var/lib/rend/work
WORKDIR /var/lib/rend
USER 10001:10001

# --- rend-api: control plane ---------------------------------------------------------
FROM runtime AS rend-api
ENV REND_API_BIND_ADDR=0.0.0.0:4000
# Telemetry batches answered but not yet in ClickHouse (src/telemetry/ingest_buffer.h):
# a volume, so a re-created container still inserts them.
VOLUME ["/var/lib/rend/telemetry-journal"]
EXPOSE 4000
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=6 \
  CMD ["sh", "-c", "curl -fsS -o /dev/null \"http://127.0.0.1:${REND_API_BIND_ADDR##*:}/readyz\""]
CMD ["rend", "api", "--data-dir", "/var/lib/rend"]

# --- rend-media-worker: no listener; healthy while the worker process runs ----------
FROM runtime AS rend-media-worker
HEALTHCHECK --interval=15s --timeout=5s --retries=3 \
  CMD ["sh", "-c", "tr '\\0' ' ' </proc/1/cmdline | grep -q 'rend worker media'"]
CMD ["rend", "worker", "media", "--data-dir", "/var/lib/rend"]

# --- rend-edge: playback edge with node-local cache and telemetry spool --------------
FROM runtime AS rend-edge
ENV REND_EDGE_BIND_ADDR=0.0.0.0:4100 \
    REND_EDGE_CACHE_DIR=/var/cache/rend/edge \
    REND_EDGE_TELEMETRY_SPOOL_DIR=/var/lib/rend/telemetry-spool
VOLUME ["/var/cache/rend/edge", "/var/lib/rend/telemetry-spool"]
EXPOSE 4100
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=6 \
  CMD ["sh", "-c", "curl -fsS -o /dev/null \"http://127.0.0.1:${REND_EDGE_BIND_ADDR##*:}/readyz\""]
CMD ["rend", "edge", "--data-dir", "/var/lib/rend"]
