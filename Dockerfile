# syntax=docker/dockerfile:1
# Chokepoint image: built in one stage, run from a slim stage as a non-root user on a read-only root
# filesystem (docker-compose.yml sets read_only: true; nothing here writes outside /tmp or a volume).

FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json tsconfig.json ./
# Scripts are skipped here because `prepare` (the TypeScript build) needs the sources copied below.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY src ./src
COPY bench ./bench
RUN npx tsc -p tsconfig.json

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /opt/chokepoint
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /src/dist ./dist
COPY rules ./rules
RUN mkdir -p /var/lib/chokepoint && chown node:node /var/lib/chokepoint
# The image's own user "node" (uid 1000): the proxy needs no privilege to listen on ports above 1024.
USER node
EXPOSE 3128 1080
ENTRYPOINT ["node", "dist/src/cli.js"]
CMD ["run", "--config", "/etc/chokepoint/config.yaml"]
