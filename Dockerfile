# syntax=docker/dockerfile:1
# Multi-stage: build with the Rust toolchain, run from a small Debian image as a non-root user.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY src ./src
# The SQL rules are embedded in the binary (build.rs lists them for include_str!).
COPY sql ./sql
# The charts' font is embedded in the binary too (include_bytes!).
COPY assets ./assets
COPY config ./config
# --no-default-features: the production binary leaves out the sandbox, the demo, the fuzz
# entry points and the client calls that move money (see ARCHITECTURE.md).
RUN cargo build --release --locked --no-default-features && strip target/release/xsolla-recon

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --create-home --home-dir /var/lib/xsolla-recon recon
COPY --from=build /src/target/release/xsolla-recon /usr/local/bin/xsolla-recon
COPY config /usr/share/xsolla-recon/config
COPY sql /usr/share/xsolla-recon/sql
USER recon
WORKDIR /var/lib/xsolla-recon
# Config (read-only) and data (snapshots, state, reports) are mounted volumes.
VOLUME ["/etc/xsolla-recon", "/var/lib/xsolla-recon"]
ENV XSOLLA_RECON_CONFIG=/etc/xsolla-recon/xsolla-recon.toml
ENTRYPOINT ["xsolla-recon"]
# The built-in scheduler runs the [[schedule]] jobs of the mounted config until SIGTERM.
CMD ["schedule"]
