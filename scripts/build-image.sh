#!/usr/bin/env bash
# Build an image without any container registry: debootstrap a Debian rootfs from this
# machine's own apt mirror, install wheels downloaded on the host, and `docker import`
# it. The tag is a hash of the inputs, so an unchanged build is skipped.
#
# Usage: scripts/build-image.sh [singleuser|hub-base]   prints the image reference on stdout
#   singleuser  JupyterHub's single-user server and JupyterLab with this repo's lab
#               extension (labextension/, its wheel built by `make labextension`), user jovyan (uid 1000)
#   hub-base    JupyterHub and configurable-http-proxy, with an offline wheelhouse
#               (/opt/wheels, pip's only index) so that a Dockerfile FROM it can
#               `pip install` this package without a network: the base for compose.
# Env:   HUB_VERSION   jupyterhub version inside the image (default: the host's)
#        PYTHON        host python used for `pip download` (default: python3)
#        LABEXT_WHEEL  the lab extension's wheel (default: built by `make labextension`
#                      when the image must be built)
set -euo pipefail

kind=${1:-singleuser}
python=${PYTHON:-python3}
hub_version=${HUB_VERSION:-$("$python" -c 'import jupyterhub; print(jupyterhub.__version__)')}
suite=bookworm

case "$kind" in
  singleuser)
    extra_debs=""
    wheels_for="jupyterhub==${hub_version} jupyterlab"
    install="jupyterhub jupyterlab"
    ;;
  hub-base)
    extra_debs="node-configurable-http-proxy"
    # Build backend and runtime dependencies of resettable-spawner, so its install
    # inside `docker build` needs no index.
    wheels_for="jupyterhub==${hub_version} dockerspawner docker jupyterhub-nativeauthenticator hatchling"
    install="jupyterhub"
    ;;
  *) echo "usage: $0 [singleuser|hub-base]" >&2; exit 2 ;;
esac

repo=resettable-spawner/$kind
debs=python3,python3-venv,ca-certificates,tini
src=$(cd "$(dirname "$0")/.." && pwd)
# The lab extension's wheel is not byte-reproducible; its inputs are, so they go into
# the tag instead (the sources, the lockfile and the build configuration).
labext_inputs() {
  [ "$kind" = singleuser ] || return 0
  # Every file of labextension/ that is not build output (git's view: tracked, or new
  # and not ignored), contents in a fixed order.
  (cd "$src" && { git ls-files -co --exclude-standard -- labextension 2>/dev/null \
      || find labextension -path '*/node_modules' -prune -o -type f -print; } \
    | LC_ALL=C sort | while read -r f; do [ -f "$f" ] && { echo "$f"; cat "$f"; }; done)
}
tag=$( (cat "$0"; echo "$suite $debs $extra_debs $wheels_for"; labext_inputs) | sha256sum | cut -c1-12)
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
debootstrap --variant=minbase --include="$debs" "$suite" "$root" "$mirror" \
  >"$work/debootstrap.log" 2>&1 || { tail -n 20 "$work/debootstrap.log" >&2; exit 1; }

if [ -n "$extra_debs" ]; then
  # Through apt inside the rootfs rather than debootstrap --include, whose minimal
  # configuration order fails on some of node's packages.
  log "installing $extra_debs inside the rootfs"
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  # shellcheck disable=SC2086
  chroot "$root" sh -ec "apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $extra_debs" \
    >"$work/apt.log" 2>&1 || { tail -n 20 "$work/apt.log" >&2; exit 1; }
fi

labext_wheel=""
if [ "$kind" = singleuser ]; then
  labext_wheel=${LABEXT_WHEEL:-}
  if [ -z "$labext_wheel" ]; then
    log "building the lab extension's wheel (make labextension)"
    make -s -C "$src" labextension >&2
    labext_wheel=$(ls -t "$src"/dist/resettable_spawner_labextension-*.whl | head -n 1)
  fi
  [ -f "$labext_wheel" ] || { log "FATAL: no lab extension wheel at '$labext_wheel'"; exit 1; }
fi

pyv=$(chroot "$root" python3 -c 'import platform; print(platform.python_version())')
wheels="$cache/wheels-$kind-py$pyv-hub$hub_version"
log "downloading wheels for Python $pyv into $wheels"
# The rootfs cannot verify this network's TLS, so wheels come from the host, pinned to
# the rootfs's Python (its 3.11.2 rules out some of the newest wheels).
# shellcheck disable=SC2086
"$python" -m pip download -q -d "$wheels" --python-version "$pyv" --only-binary=:all: \
  --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux_2_28_x86_64 $wheels_for 2>"$work/pip.log" \
  || { grep -v '^WARNING: Location' "$work/pip.log" >&2; exit 1; }

mkdir -p "$root/opt/wheels"
cp "$wheels"/* "$root/opt/wheels/"
if [ -n "$labext_wheel" ]; then
  cp "$labext_wheel" "$root/opt/wheels/"
  install="$install /opt/wheels/$(basename "$labext_wheel")"
fi
log "installing into /opt/venv inside the rootfs"
# shellcheck disable=SC2086
chroot "$root" sh -ec "python3 -m venv /opt/venv
  printf '[global]\nno-index = true\nfind-links = /opt/wheels\n' > /etc/pip.conf
  /opt/venv/bin/pip install -q $install
  rm -rf /var/cache/apt/archives/*.deb /var/lib/apt/lists/*"

if [ "$kind" = singleuser ]; then
  # Mount points for nested volumes must exist and belong to jovyan, as in the upstream
  # images; otherwise Docker creates them root-owned.
  chroot "$root" sh -ec "useradd -m -u 1000 -s /bin/bash jovyan
    install -d -o 1000 -g 1000 /home/jovyan/work /home/jovyan/.cache
    rm -rf /opt/wheels /etc/pip.conf"
  changes=(--change 'USER jovyan' --change 'WORKDIR /home/jovyan'
           --change 'CMD ["jupyterhub-singleuser"]')
else
  chroot "$root" mkdir -p /srv/jupyterhub
  changes=(--change 'WORKDIR /srv/jupyterhub' --change 'EXPOSE 8000'
           --change 'CMD ["jupyterhub"]')
fi

log "importing $image"
tar -C "$root" -c . | docker import \
  --change 'ENV PATH=/opt/venv/bin:/usr/local/bin:/usr/bin:/bin' \
  --change 'ENTRYPOINT ["tini", "-g", "--"]' \
  "${changes[@]}" - "$image" >/dev/null
log "built $image"
echo "$image"
