# reach as a service: build with dev dependencies, run with production ones only, as a non-root user.
# node:lts-slim follows the current Node.js LTS line (engines: >=20.18); NODE_IMAGE names another base with Node.js,
# npm and a `node` user (scripts/image-smoke.sh builds one without a registry).
# docker build -t reach . && docker run -p 8080:8080 -e REDIS_URL=redis://redis:6379 reach
# Behind a network that re-signs TLS, give npm its CA bundle as a secret, mounted only while `npm ci` runs and never
# stored in a layer: docker build --secret id=npm_ca,src=/etc/ssl/certs/ca-certificates.crt -t reach .
ARG NODE_IMAGE=node:lts-slim

FROM ${NODE_IMAGE} AS build
# npm ignores a cafile that does not exist, so without the secret it trusts its usual CAs.
ENV npm_config_cafile=/run/secrets/npm_ca
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=secret,id=npm_ca npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM ${NODE_IMAGE} AS production-dependencies
ENV npm_config_cafile=/run/secrets/npm_ca
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=secret,id=npm_ca npm ci --omit=dev --ignore-scripts

FROM ${NODE_IMAGE}
# redis-server is only needed when REDIS_URL is unset (`reach serve` then starts a private one);
# it is small and makes the image work on its own.
RUN apt-get update \
  && apt-get install -y --no-install-recommends redis-server tini \
  && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    REDIS_DATA_DIR=/data/redis
WORKDIR /app
COPY --from=production-dependencies /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY docs ./docs
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8080
# tini forwards SIGTERM to node, which drains requests and probes before exiting.
ENTRYPOINT ["/usr/bin/tini", "--", "node", "dist/cli.js"]
CMD ["serve"]
HEALTHCHECK --interval=30s --timeout=3s CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
