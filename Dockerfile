# syntax=docker/dockerfile:1
#
# palmid container image.
#   docker build -t palmid .
#   docker run -p 3000:3000 -e PALMID_MASTER_KEY=$(openssl rand -base64 32) -v palmid-data:/data -v palmid-keys:/keys palmid
# /keys is the key store (README, "Key store, erasure and backups"): its own volume, backed up
# apart from /data.
# Without DATABASE_URL palmid uses embedded PGlite under /data; set DATABASE_URL for PostgreSQL
# (with pgvector), see compose.yaml. Migrations are applied at start-up.

ARG NODE_IMAGE=node:24-bookworm-slim

# ---- base: package manifests + a toolchain for native modules --------------------------
# Native dependencies (argon2, ...) ship prebuilt binaries; node-gyp-build compiles from
# source only if a prebuilt one does not load, which needs python3/make/g++. The toolchain
# stays out of the runtime image.
FROM ${NODE_IMAGE} AS base
WORKDIR /app
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
# .npmrc first: it carries onnxruntime-node-install=skip (no GPU runtime download).
COPY .npmrc package.json package-lock.json ./

# ---- build: all dependencies, prisma generate + tsc --------------------------------------
# --ignore-scripts: package.json's `prepare` runs the build, which needs the sources copied
# below; dependencies' native modules are not needed to build.
FROM base AS build
RUN npm ci --ignore-scripts --no-audit --no-fund \
 || { echo "npm ci failed (lock file out of sync?), falling back to npm install" >&2; \
      npm install --ignore-scripts --no-audit --no-fund; }
COPY . .
# prisma/generate.mjs writes the client to src/generated/prisma (compiled into dist/), then tsc.
RUN mkdir -p models && npm run build

# ---- deps: production dependencies only -------------------------------------------------
# Installed without scripts (the root `prepare` would try to build), then `npm rebuild` runs
# the dependencies' own install scripts (native modules) without the root package's.
FROM base AS deps
RUN { npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
      || { echo "npm ci failed (lock file out of sync?), falling back to npm install" >&2; \
           npm install --omit=dev --ignore-scripts --no-audit --no-fund; }; } \
 && npm rebuild

# ---- runtime ------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    PALMID_DATA_DIR=/data \
    PALMID_KEY_STORE=/keys
WORKDIR /app
COPY --from=deps /app/package.json ./package.json
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
COPY --from=build /app/prisma ./prisma
COPY --from=build /app/views ./views
COPY --from=build /app/models ./models
RUN mkdir -p /data /keys && chown node:node /data /keys && chmod 700 /keys
USER node
VOLUME /data /keys
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "bin/palmid.js", "serve"]
