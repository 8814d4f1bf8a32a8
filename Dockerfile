# sori: one node on the embedded store. For a cluster, mount a config with
# cluster.redis and a shared DynamoDB/Cassandra store.
# NODE_MAJOR: 24, a supported LTS line, by default: an image shipped to run for
# months must get its runtime's security fixes, and 20 reached its end of life in
# April 2026. `npm test` runs every unit test on 20, 22 and 24. On 24 chat is
# faster. Client TLS on TCP runs on rustls (native/tls, built below), which holds
# the same on every Node; only WebSocket over TLS, BOSH over HTTPS and s2s, on
# Node's OpenSSL, cost ~15-23 KiB more per idle session on 22/24 than on 20
# (docs/performance-log.md, "On Node.js 22 and 24"). The benchmarks measure the
# machine's Node 20.
#   docker build --build-arg NODE_MAJOR=22 .
ARG NODE_MAJOR=24
# Client TLS on rustls (native/tls): built here, so the image carries no Rust toolchain.
FROM rust:1-bookworm AS native
WORKDIR /build
COPY native/tls ./native/tls
RUN cargo build --release --locked --manifest-path native/tls/Cargo.toml \
 && cp native/tls/target/release/libsori_tls.so native/tls/sori_tls.node

FROM node:${NODE_MAJOR}-bookworm-slim
WORKDIR /app
COPY --from=native /build/native/tls/sori_tls.node ./native/tls/sori_tls.node
COPY scripts/build-native.sh ./scripts/
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts=false
COPY tsconfig.json ./
COPY config ./config
COPY src ./src
ENV SORI__server__bind='"0.0.0.0"' SORI__server__dataDir='"/data"'
# Owned by the user sori runs as: a volume starts with the ownership of the image's directory, and one the image lacks is root's.
RUN mkdir -p /data && chown node:node /data
VOLUME ["/data"]
EXPOSE 5222 5223 5269 5280 5443
USER node
# Liveness, not readiness: Swarm, ECS and other orchestrators that read Docker's health replace an
# unhealthy container, which mends a hung process but not a store or Redis outage, and would end a drain.
# /live answers 200 for as long as the process serves HTTP; /health (503 during outages and from SIGTERM
# on) is for load balancers and readiness probes. node:*-slim has no curl.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:5280/live').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "--max-semi-space-size=64", "--import", "tsx", "src/main.ts"]
