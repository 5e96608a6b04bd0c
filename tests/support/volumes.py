"""Volumes for assertions: filling them with a tricky tree, listing them exactly, finding backups and helpers."""

import uuid

from tests.support.hubproc import PREFIX

BACKUP_OF = "resettable-spawner.backup-of"


def run_in(docker, image, volume, script, mount="/v", read_only=False):
    """Run a shell script as root in a throwaway container with the volume mounted."""
    c = docker.containers.run(
        image,
        ["/bin/sh", "-c", script],
        entrypoint=[],
        user="root",
        volumes={volume: {"bind": mount, "mode": "ro" if read_only else "rw"}},
        name=f"{PREFIX}-probe-{uuid.uuid4().hex[:8]}",
        network_disabled=True,
        detach=True,
    )
    try:
        status = c.wait(timeout=300)["StatusCode"]
        out = c.logs(stdout=True, stderr=False).decode()
        assert status == 0, c.logs().decode()
    finally:
        c.remove(force=True)
    return out


TREE_SCRIPT = """
set -e
cd /v
mkdir -p notebooks/deep/er emptydir rootdir
printf 'print(1)\\n' > notebooks/a.py
head -c 100000 /dev/urandom > notebooks/deep/er/blob.bin
printf 'secret' > .a
printf 'x' > notebooks/deep/.hidden
ln notebooks/a.py hardlink.py
ln -s notebooks/deep/er/blob.bin link-to-blob
ln -s /nonexistent dangling
chown -R 1000:100 /v
chmod 700 notebooks/deep
chmod 640 .a
chmod 4755 notebooks/a.py
printf 'owned by root' > rootdir/rootfile
chown -R 0:0 rootdir
chmod 600 rootdir/rootfile
touch -d '2020-01-02 03:04:05' notebooks/deep/er/blob.bin
"""

LISTING_SCRIPT = (
    "cd /v && find . -printf '%p|%U|%G|%m|%y|%l|%n|%T@\\n' | sort && "
    "find . -type f -exec sha256sum {} + | sort -k2"
)


def listing(docker, image, volume):
    return run_in(docker, image, volume, LISTING_SCRIPT, read_only=True)


def fill(docker, image, volume, script=TREE_SCRIPT):
    run_in(docker, image, volume, script)


def backups_of(docker, volume):
    return sorted(
        v.name for v in docker.volumes.list(filters={"label": f"{BACKUP_OF}={volume}"})
    )


def helpers(docker):
    """Our helper containers, as the Engine lists them (no per-container inspect, no race)."""
    return [
        c
        for c in docker.api.containers(all=True, filters={"label": "resettable-spawner.helper"})
        if c["Names"][0].lstrip("/").startswith(PREFIX)
    ]


def fill_big(docker, image, volume):
    """768 MiB in 48 files owned by uid 1000: big enough that a copy takes a few seconds here."""
    fill(
        docker,
        image,
        volume,
        "set -e; mkdir /v/big; i=0; while [ $i -lt 48 ]; do head -c 16777216 /dev/urandom > /v/big/f$i; i=$((i+1)); done;"
        " chown -R 1000:100 /v; sync",
    )


def call_surviving(fn):
    """fn(), or the exception it raised: for a request whose hub is killed under it."""
    try:
        return fn()
    except Exception as e:  # the hub died under the request
        return e
