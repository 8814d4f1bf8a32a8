# sori: one node on the embedded store. For a cluster, mount a config with
# cluster.redis and a shared DynamoDB/Cassandra store.
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts=false
COPY tsconfig.json ./
COPY config ./config
COPY src ./src
ENV SORI__server__bind='"0.0.0.0"' SORI__server__dataDir='"/data"'
VOLUME ["/data"]
EXPOSE 5222 5223 5269 5280 5443
USER node
CMD ["node", "--max-semi-space-size=64", "--import", "tsx", "src/main.ts"]
