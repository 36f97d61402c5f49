# syntax=docker/dockerfile:1
#
# eventide in a container: a build stage (TypeScript -> dist/) and a slim
# runtime stage with production dependencies only, running as the unprivileged
# `node` user, data in the /data volume. docs/deploy.md explains every choice.
# Not built on the machines this was written on (no Docker daemon or registry
# there); test/deploy.test.ts checks what can be checked without one.

ARG NODE_VERSION=20

FROM node:${NODE_VERSION}-slim AS build
WORKDIR /app
# Dependencies first, so editing the sources does not re-run npm ci.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY config ./config
COPY src ./src
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM node:${NODE_VERSION}-slim
LABEL org.opencontainers.image.title="eventide" \
      org.opencontainers.image.description="Actor-style stream processor: ingest over HTTP and gRPC, live metrics over WebSocket" \
      org.opencontainers.image.licenses="MIT"
ENV NODE_ENV=production \
    EVENTIDE_HOST=0.0.0.0 \
    EVENTIDE_HTTP_PORT=8080 \
    EVENTIDE_GRPC_PORT=50051 \
    EVENTIDE_DATA_DIR=/data
WORKDIR /app
# Root-owned and read-only for the process: it writes only to /data.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/dist/config ./dist/config
COPY proto ./proto
RUN printf '#!/bin/sh\nexec node --initial-old-space-size=128 /app/dist/src/cli.js "$@"\n' > /usr/local/bin/eventide \
 && chmod 755 /usr/local/bin/eventide \
 && mkdir -p /data && chown node:node /data
USER node
# The LMDB store, the write-ahead log and the server secret (keys are hashed with it: keep it).
VOLUME ["/data"]
# HTTP + ws + dashboard + /docs, and gRPC.
EXPOSE 8080 50051
# Liveness only (the process answers); /readyz is for load balancers, which should stop
# sending while the event store is down, not restart the container.
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.EVENTIDE_HTTP_PORT || 8080) + '/livez').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM drains (503 EVT_DRAINING), flushes, snapshots and exits within 30 s: give it 35 (docker stop -t 35).
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "--initial-old-space-size=128", "/app/dist/src/cli.js"]
CMD ["start"]
