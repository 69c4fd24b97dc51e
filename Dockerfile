# qrelay's image: built with the dev dependencies, run with the production ones only, as the
# unprivileged `node` user. test/ops/image.test.ts builds this file set the way this file does
# (it reads the COPY lines below) and starts the service from it, so a missing COPY or a dev-only
# import fails the suite; see docs/operations.md#deploy.
#
# Signals: node runs as PID 1 and src/main.ts handles SIGTERM and SIGINT itself (a handler, not the
# default action a PID 1 ignores), draining held polls over DRAIN_MS before it exits; it starts no
# child processes, so there are no zombies to reap and no init (tini, --init) is needed.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY scripts ./scripts
RUN npm run build

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# The demo's pages, served only with DEMO=1.
COPY public ./public
USER node
# Browsers on 11000; app backends, peers and monitoring on 11001 (PRIVATE_HOST is 127.0.0.1 unless
# set: a cluster sets it, with INTERNAL_TOKEN and CLUSTER_TOKEN).
ENV PUBLIC_HOST=0.0.0.0 PUBLIC_PORT=11000 PRIVATE_PORT=11001
EXPOSE 11000 11001
# No curl in slim images: node's fetch asks the private listener's liveness route.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PRIVATE_PORT || 11001}/healthz`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
STOPSIGNAL SIGTERM
CMD ["node", "dist/main.js"]
