#!/usr/bin/env bash
# Remove what this project made: test, demo and compose containers, volumes and
# networks (by their name prefixes), and the locally built single-user images.
set -uo pipefail
docker info >/dev/null 2>&1 || { echo "clean: Docker is not running; nothing to do"; exit 0; }
for prefix in rstest rsbench rsdemo; do
  docker ps -aq --filter "name=^${prefix}" | xargs -r docker rm -f >/dev/null
  docker volume ls -q --filter "name=^${prefix}" | xargs -r docker volume rm -f >/dev/null
done
compose=$(docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)
if command -v ${compose%% *} >/dev/null 2>&1; then
  $compose down -v --remove-orphans >/dev/null 2>&1 || true
fi
docker images -q resettable-spawner/singleuser | sort -u | xargs -r docker rmi -f >/dev/null
echo "clean: removed resettable-spawner containers, volumes and images"
