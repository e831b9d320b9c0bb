# syntax=docker/dockerfile:1
# Chokepoint images, from one multi-stage build:
#   runtime        (default target) the proxy, as the non-root user "chokepoint" (uid 10001), on a
#                  read-only root filesystem (docker-compose.yml sets read_only: true; nothing here writes
#                  outside /tmp or the state volume)
#   iptables-init  the same program plus iptables, run once as root with NET_ADMIN to install the
#                  transparent redirection in a shared network namespace, then exit

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
# Runtime dependencies only. Install scripts stay off: koffi ships its prebuilt native module inside the
# package, and ssh2 falls back to its pure-JavaScript crypto when its optional native build is skipped.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /src/dist ./dist
COPY rules ./rules
# A dedicated user: the iptables rules of the transparent deployment exempt exactly this user's traffic
# (`--proxy-user chokepoint`), so the uid must be fixed and must not be shared with anything else.
RUN groupadd --system --gid 10001 chokepoint \
 && useradd --system --uid 10001 --gid chokepoint --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin chokepoint \
 && mkdir -p /var/lib/chokepoint && chown chokepoint:chokepoint /var/lib/chokepoint
USER chokepoint
EXPOSE 3128 1080 5353/udp 5353/tcp
ENTRYPOINT ["node", "dist/src/cli.js"]
CMD ["run", "--config", "/etc/chokepoint/config.yaml"]

FROM runtime AS iptables-init
USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends iptables \
 && rm -rf /var/lib/apt/lists/*
# Runs once and exits; the rules stay in the shared network namespace.
CMD ["iptables", "install", "--mode", "sidecar", "--proxy-user", "chokepoint"]

# The default target (`docker build .`) is the proxy.
FROM runtime
