#!/usr/bin/env bash
# Build a single-user image without any container registry: debootstrap a Debian rootfs
# from this machine's own apt mirror, install wheels downloaded on the host, and
# `docker import` it. The tag is a hash of the inputs, so an unchanged build is skipped.
#
# Usage: scripts/build-image.sh [REPOSITORY]      prints the image reference on stdout
# Env:   HUB_VERSION   jupyterhub version inside the image (default: the host's)
#        PYTHON        host python used for `pip download` (default: python3)
set -euo pipefail

repo=${1:-resettable-spawner/singleuser}
python=${PYTHON:-python3}
hub_version=${HUB_VERSION:-$("$python" -c 'import jupyterhub; print(jupyterhub.__version__)')}
suite=bookworm
packages="jupyterhub==${hub_version} jupyterlab"
tag=$( (cat "$0"; echo "$suite $packages") | sha256sum | cut -c1-12)
image="$repo:$tag"

log() { echo "build-image: $*" >&2; }

if docker image inspect "$image" >/dev/null 2>&1; then
  log "$image exists, skipping the build"
  echo "$image"
  exit 0
fi

# Read the mirror from the machine's apt configuration rather than naming a host here.
mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
[ -n "$mirror" ] || mirror=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
[ -n "$mirror" ] || { log "FATAL: no Debian mirror found in the apt sources"; exit 1; }

cache=${XDG_CACHE_HOME:-$HOME/.cache}/resettable-spawner
work=$(mktemp -d "${TMPDIR:-/tmp}/rs-image.XXXXXX")
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"
mkdir -p "$cache"

log "debootstrap $suite into $root"
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates,tini \
  "$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 \
  || { tail -n 20 "$work/debootstrap.log" >&2; exit 1; }

pyv=$(chroot "$root" python3 -c 'import platform; print(platform.python_version())')
wheels="$cache/wheels-py$pyv-hub$hub_version"
log "downloading wheels for Python $pyv into $wheels"
# The rootfs cannot verify this network's TLS, so wheels come from the host, pinned to
# the rootfs's Python (its 3.11.2 rules out some of the newest wheels).
# shellcheck disable=SC2086
"$python" -m pip download -q -d "$wheels" --python-version "$pyv" --only-binary=:all: \
  --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux_2_28_x86_64 $packages 2>"$work/pip.log" \
  || { grep -v '^WARNING: Location' "$work/pip.log" >&2; exit 1; }

mkdir -p "$root/tmp/wheels"
cp "$wheels"/* "$root/tmp/wheels/"
log "installing into /opt/venv inside the rootfs"
# shellcheck disable=SC2086
chroot "$root" sh -ec "python3 -m venv /opt/venv
  /opt/venv/bin/pip install -q --no-index --find-links /tmp/wheels $packages
  useradd -m -u 1000 -s /bin/bash jovyan
  # Mount points for nested volumes must exist and belong to jovyan, as in the upstream
  # images; otherwise Docker creates them root-owned.
  install -d -o 1000 -g 1000 /home/jovyan/work /home/jovyan/.cache
  rm -rf /tmp/wheels /var/cache/apt/archives/*.deb /var/lib/apt/lists/*"

log "importing $image"
tar -C "$root" -c . | docker import \
  --change 'ENV PATH=/opt/venv/bin:/usr/local/bin:/usr/bin:/bin' \
  --change 'USER jovyan' --change 'WORKDIR /home/jovyan' \
  --change 'ENTRYPOINT ["tini", "-g", "--"]' \
  --change 'CMD ["jupyterhub-singleuser"]' \
  - "$image" >/dev/null
log "built $image"
echo "$image"
