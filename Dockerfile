# syntax=docker/dockerfile:1
# Doztra Auth: a two-stage image, the release binary on Debian slim, run as a non-root user.
#   docker build -t doztra-auth .
#   docker run --rm -e JWT_SECRET=... -e APP_BASE_URL=https://app.example.com -p 8000:8000 doztra-auth
# The image is not built by this repository's CI (no Docker engine there); hadolint checks this
# file (scripts/lint-deploy.sh) and crates/server/tests/deployment.rs tests what it relies on:
# HOST=0.0.0.0, `doztra-auth healthcheck`, and `doztra-auth migrate` as a separate step.
# docs/DEPLOYMENT.md explains every setting below.

# The toolchain this repository is built and tested with (1.95), on the Debian release of the
# runtime stage (and of the CI machine), so the binary's glibc matches.
FROM rust:1.95-slim-bookworm AS builder
WORKDIR /build
COPY . .
# Caches keep the crate registry and the build between image builds (BuildKit).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/build/target \
    cargo build --release --locked -p doztra-server --bin doztra-auth \
    && install -m 0755 target/release/doztra-auth /usr/local/bin/doztra-auth

FROM debian:bookworm-slim
# TLS to Stripe and SMTP uses the roots compiled into the binary (webpki-roots): no
# ca-certificates package, no curl (the health check is the binary itself).
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/doztra-auth --create-home \
        --shell /usr/sbin/nologin doztra
COPY --from=builder /usr/local/bin/doztra-auth /usr/local/bin/doztra-auth
USER 10001:10001
WORKDIR /var/lib/doztra-auth
# HOST=0.0.0.0: a loopback HOST would be unreachable from outside the container.
# Production refuses to start without JWT_SECRET (32+ bytes): pass it at run time.
# The SQLite default suits one container with this volume; set DATABASE_URL=postgres://... for
# anything more (compose.yaml).
ENV APP_ENV=production \
    HOST=0.0.0.0 \
    PORT=8000 \
    DATABASE_URL=sqlite:///var/lib/doztra-auth/doztra.db?mode=rwc \
    EMAIL_OUTBOX_DIR=/var/lib/doztra-auth/outbox
VOLUME ["/var/lib/doztra-auth"]
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
    CMD ["doztra-auth", "healthcheck"]
# SIGTERM drains in-flight requests (SHUTDOWN_TIMEOUT, default 30 s), then exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["doztra-auth"]
CMD ["serve"]
