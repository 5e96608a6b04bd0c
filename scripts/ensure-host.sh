#!/usr/bin/env bash
# Install and start what the tests and the demo need on a fresh Debian machine:
# a Docker Engine, configurable-http-proxy and Chromium. Idempotent; fails loudly.
set -euo pipefail

need_apt=()
command -v dockerd >/dev/null 2>&1 || need_apt+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need_apt+=(debootstrap)
if [ "${WITH_CHROMIUM:-1}" = 1 ] && ! command -v chromium >/dev/null 2>&1; then
  need_apt+=(chromium)
fi
# Compose: the v2 plugin where it exists, otherwise Debian's docker-compose (v1).
if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null 2>&1; then
  need_apt+=(docker-compose)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "ensure-host: installing ${need_apt[*]} from Debian" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! command -v configurable-http-proxy >/dev/null 2>&1; then
  echo "ensure-host: installing configurable-http-proxy from npm" >&2
  npm install -g --silent configurable-http-proxy >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  echo "ensure-host: starting dockerd (log: /tmp/dockerd.log)" >&2
  nohup dockerd >/tmp/dockerd.log 2>&1 &
  for _ in $(seq 1 120); do
    docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
  if ! docker info >/dev/null 2>&1; then
    echo "ensure-host: FATAL: the Docker Engine did not start; last lines of /tmp/dockerd.log:" >&2
    tail -n 20 /tmp/dockerd.log >&2 || true
    exit 1
  fi
fi
echo "ensure-host: docker $(docker version --format '{{.Server.Version}}') is up" >&2
