# Build: the release binary carries its templates, static files and migrations.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin berth

# Run: a slim image with the binary, as a non-root user.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin berth
COPY --from=build /src/target/release/berth /usr/local/bin/berth
USER berth
ENV BERTH_LISTEN=0.0.0.0:8080 \
    RUST_LOG=info
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/berth"]
CMD ["serve"]
