#!/usr/bin/env bash
# Build the image of a second Docker Swarm node for the swarm tests (tests/support/swarm.py):
# a Debian rootfs debootstrapped from this machine's own apt mirror, with Debian's
# docker.io inside, imported with `docker import`. No container registry is used.
# The tag is a hash of the inputs, so an unchanged build is skipped.
#
# Usage: scripts/build-swarm-node.sh     prints the image reference on stdout
#
# The container runs dockerd under tini. It cannot run --privileged on a host whose
# dockerd lacks CAP_SYS_RESOURCE; tests/support/swarm.py starts it with
# --cap-add ALL --cap-drop SYS_RESOURCE and seccomp, apparmor and systempaths unconfined.
set -euo pipefail

suite=bookworm
debs=ca-certificates,iproute2,procps,iptables,tini
# Installed with apt inside the rootfs (its dependencies are many, and debootstrap's
# minimal configuration order does not cope with all of them).
apt_debs="docker.io"
repo=resettable-spawner/swarm-node
tag=$( (cat "$0"; echo "$suite $debs $apt_debs") | sha256sum | cut -c1-12)
image="$repo:$tag"

log() { echo "build-swarm-node: $*" >&2; }

if docker image inspect "$image" >/dev/null 2>&1; then
  log "$image exists, skipping the build"
  echo "$image"
  exit 0
fi

# Read the mirror from the machine's apt configuration rather than naming a host here.
mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
[ -n "$mirror" ] || mirror=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
[ -n "$mirror" ] || { log "FATAL: no Debian mirror found in the apt sources"; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/rs-swarm-node.XXXXXX")
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"

log "debootstrap $suite into $root"
debootstrap --variant=minbase --include="$debs" "$suite" "$root" "$mirror" \
  >"$work/debootstrap.log" 2>&1 || { tail -n 20 "$work/debootstrap.log" >&2; exit 1; }

log "installing $apt_debs inside the rootfs"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# No service may start inside the chroot while packages are configured.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod +x "$root/usr/sbin/policy-rc.d"
chroot "$root" sh -ec "apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $apt_debs
  rm -rf /var/cache/apt/archives/*.deb /var/lib/apt/lists/* /usr/sbin/policy-rc.d
  : > /etc/resolv.conf" \
  >"$work/apt.log" 2>&1 || { tail -n 20 "$work/apt.log" >&2; exit 1; }

log "importing $image"
tar -C "$root" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENTRYPOINT ["tini", "-g", "--"]' \
  --change 'CMD ["dockerd"]' \
  - "$image" >/dev/null
log "built $image"
echo "$image"
