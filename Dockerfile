# syntax=docker/dockerfile:1
#
# boxoffice container image: a release build on the official Rust image, shipped on
# debian:bookworm-slim (same glibc as the builder) as a non-root user.
#
#   docker build -t boxoffice .
#   docker run --rm boxoffice --help
#   docker run --rm -p 8080:8080 -e DATABASE_URL=... -e REDIS_CLUSTER_NODES=... boxoffice
#
# The entrypoint is the `boxoffice` binary and the default command `serve`; the other
# subcommands run the same way (`docker run --rm -e ... boxoffice seed-demo`, `migrate`,
# `admin-token`), and the binary is on PATH for `docker exec <container> boxoffice ...`.
# Configuration is environment only: see src/config.rs (DATABASE_URL, REDIS_CLUSTER_NODES
# or REDIS_URL, BOXOFFICE_ENV, BOXOFFICE_JWT_SECRET, RUST_LOG, BOXOFFICE_LOG_FORMAT, ...).
# docker-compose.yml runs the whole stack.

# The crate needs Rust >= 1.94 (edition 2024); override with --build-arg RUST_VERSION=1.96.
ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

############################################################################################
FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS builder
WORKDIR /build
ENV CARGO_TERM_COLOR=never \
    CARGO_INCREMENTAL=0

# 1. Dependencies only, cached until Cargo.toml or Cargo.lock change. Every target file the
#    manifest names (`path = "....rs"`: the lib, the bin, [[example]]s that may live outside
#    src/, ...) gets an empty stand-in so Cargo can load the manifest, then only the
#    `boxoffice` binary (and so the lib and the dependencies) is built. Afterwards the
#    stand-ins and everything built from them are removed, so the real sources always
#    recompile in step 2 whatever their timestamps.
COPY Cargo.toml Cargo.lock ./
RUN set -eux; \
    { sed -n 's/^[[:space:]]*path[[:space:]]*=[[:space:]]*"\([^"]*\.rs\)".*/\1/p' Cargo.toml; \
      echo src/main.rs; echo src/lib.rs; } | sort -u > /tmp/stubs; \
    while read -r f; do \
        mkdir -p "$(dirname "$f")"; \
        case "$f" in \
            */lib.rs) : > "$f" ;; \
            *) echo 'fn main() {}' > "$f" ;; \
        esac; \
    done < /tmp/stubs; \
    cargo build --release --locked --bin boxoffice; \
    xargs rm -f < /tmp/stubs; \
    rm -rf target/release/boxoffice target/release/boxoffice.d target/release/libboxoffice.* \
           target/release/deps/boxoffice-* target/release/deps/libboxoffice-* \
           target/release/.fingerprint/boxoffice-*

# 2. The real sources. Migrations are embedded by sqlx::migrate!("./migrations") and the
#    Swagger UI by utoipa-swagger-ui's `vendored` feature; the queries are checked against
#    the offline data of .sqlx/ (no database): no network needed at this step.
COPY src ./src
COPY migrations ./migrations
COPY .sqlx ./.sqlx
ENV SQLX_OFFLINE=true
RUN set -eux; \
    find src migrations -type f -exec touch {} +; \
    cargo build --release --locked --bin boxoffice; \
    install -m 0755 target/release/boxoffice /usr/local/bin/boxoffice; \
    /usr/local/bin/boxoffice --version

############################################################################################
FROM debian:${DEBIAN_RELEASE}-slim AS runtime

RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends ca-certificates; \
    rm -rf /var/lib/apt/lists/*; \
    groupadd --system --gid 10001 boxoffice; \
    useradd --system --uid 10001 --gid boxoffice --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin boxoffice

COPY --from=builder /usr/local/bin/boxoffice /usr/local/bin/boxoffice

ENV BOXOFFICE_HTTP_ADDR=0.0.0.0:8080
EXPOSE 8080
# Numeric, so orchestrators can verify runAsNonRoot.
USER 10001:10001

# Liveness without curl: bash (always present on Debian) speaks to GET /healthz over
# /dev/tcp on the port of BOXOFFICE_HTTP_ADDR. The start period covers start-up, which waits
# up to 60 s for Redis and Postgres and applies pending migrations.
HEALTHCHECK --interval=10s --timeout=3s --start-period=90s --retries=3 \
    CMD ["bash", "-c", "port=${BOXOFFICE_HTTP_ADDR##*:}; exec 3<>/dev/tcp/127.0.0.1/${port:-8080} && printf 'GET /healthz HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]

# serve handles SIGTERM gracefully (up to 10 s to finish in-flight requests).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/boxoffice"]
CMD ["serve"]
