"""Two hubs with the same DockerSpawner.prefix on one engine: each sweeps only what is surely dead.

Hub B sweeps every second. Hub A's copy in progress (held with ``docker pause`` until B
has swept) must survive B's sweeps; after a
SIGKILL of hub A mid-copy, B still leaves A's helper alone (it may be alive, as far as B
can tell), and A, started again with its own cookie secret, removes its own leftovers.
Nothing of B's is touched throughout.
"""

import threading
import time

from tests.support.dockerutil import docker_escape, volume_names
from tests.support.hubproc import PREFIX, cleanup_docker, make_hub, quote
from tests.support.volumes import backups_of, call_surviving, fill, fill_big, helpers, listing


def vol(user):
    return f"{PREFIX}-{docker_escape(user)}---home"


def reset(hub, user):
    return hub.api("DELETE", f"/users/{quote(user)}/reset-home-volume")


def backup_ids(hub, user):
    r = hub.api("GET", f"/users/{quote(user)}/home-volume")
    assert r.status_code == 200, r.text
    return [b["id"] for b in r.json()["backups"]]


def test_two_hubs_on_one_engine_with_one_prefix(tmp_path_factory, docker, image):
    # Copies, not moves: a copy's helper runs long enough to be caught mid-way.
    hub_a = make_hub(tmp_path_factory, image, "hub-a", backup_by_move=0)
    hub_b = make_hub(tmp_path_factory, image, "hub-b", backup_prune_interval=1, backup_by_move=0)
    tag = time.strftime("%H%M%S")
    alice, bob, carol = f"twoa-{tag}", f"twob-{tag}", f"twoc-{tag}"
    try:
        # B's own state: a complete backup, made before A starts copying.
        hub_b.create_user(bob)
        fill(docker, image, vol(bob))
        bob_before = listing(docker, image, vol(bob))
        assert reset(hub_b, bob).status_code == 200
        (bob_backup,) = backups_of(docker, vol(bob))

        # 1. A copies a large volume while B sweeps every second: A's backup completes.
        hub_a.create_user(alice)
        fill_big(docker, image, vol(alice))
        alice_before = listing(docker, image, vol(alice))
        responses = []
        caller = threading.Thread(target=lambda: responses.append(reset(hub_a, alice)))
        caller.start()
        hub_a.wait_for(lambda: helpers(docker), timeout=30, interval=0.02)
        # Freeze A's helper mid-copy (docker pause), so that B's sweeps surely see it.
        (copying,) = helpers(docker)
        docker.api.pause(copying["Id"])
        try:
            hub_b.wait_for(lambda: "helper(s) of another hub with this prefix alone" in hub_b.log(), timeout=15)
        finally:
            docker.api.unpause(copying["Id"])
        caller.join(120)
        (r,) = responses
        assert r.status_code == 200, r.text
        (made,) = r.json()["backups"]
        assert backup_ids(hub_a, alice) == [made["id"]]

        # 2. SIGKILL hub A mid-copy.
        hub_a.create_user(carol)
        fill_big(docker, image, vol(carol))
        responses = []
        caller = threading.Thread(target=lambda: responses.append(call_surviving(lambda: reset(hub_a, carol))))
        caller.start()
        hub_a.wait_for(lambda: helpers(docker) and backups_of(docker, vol(carol)), timeout=30, interval=0.05)
        time.sleep(0.5)
        assert helpers(docker), "the copy finished before the kill; make the volume bigger"
        partial = backups_of(docker, vol(carol))
        hub_a.kill()
        caller.join(30)
        left = {h["Id"] for h in helpers(docker)}

        # B keeps sweeping, and leaves A's helper and partial backup alone.
        time.sleep(3)
        assert {h["Id"] for h in helpers(docker)} >= left
        assert set(partial) <= volume_names(docker)

        # A, started again, removes its own leftovers at start-up.
        hub_a.start()
        hub_a.wait_for(lambda: not helpers(docker) and not backups_of(docker, vol(carol)), timeout=60, interval=0.5)
        assert vol(carol) in volume_names(docker)

        # Nothing of B's was touched; A's completed backup is intact.
        assert backups_of(docker, vol(bob)) == [bob_backup]
        assert backup_ids(hub_b, bob) == [bob_backup]
        assert backup_ids(hub_a, alice) == [made["id"]]
        assert vol(bob) not in volume_names(docker)  # B's reset removed it, nothing recreated it
        r = hub_b.api("POST", f"/users/{quote(bob)}/restore-home-volume", json={"backup": bob_backup})
        assert r.status_code == 200, r.text
        assert listing(docker, image, vol(bob)) == bob_before
        r = hub_a.api("POST", f"/users/{quote(alice)}/restore-home-volume", json={"backup": made["id"]})
        assert r.status_code == 200, r.text
        assert listing(docker, image, vol(alice)) == alice_before
    finally:
        for hub in (hub_a, hub_b):
            try:
                hub.stop()
            except Exception:
                pass
        cleanup_docker(docker)
