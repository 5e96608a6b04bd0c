"""Backups by move survive a SIGKILL of the hub between each pair of steps.

A reset by move is: create the move helper, let it rename the volume's data into the
new backup, remove the helper, remove the volume, clear the record. A restore by move
is: the same move of the current content into a new backup, then a restore helper that
renames the chosen backup's data into the volume, then the consumed backup's removal.
The hub is paused between two steps (``RS_PAUSE_AT``, tests/support/hub_config.py),
SIGKILLed there, and started again without the pause. Then:

- each file of the original tree is in exactly one place: the volume, or one complete
  backup (never both, never neither);
- no helper is left once the hub's start-up sweep ran;
- the operation can be retried, and ends as it would have without the crash.
"""

import threading

import pytest

from tests.support.dockerutil import docker_escape, volume_names
from tests.support.hubproc import PREFIX, cleanup_docker, make_hub, quote
from tests.support.volumes import LISTING_SCRIPT, backups_of, call_surviving, fill, helpers, listing, run_in


def vol(user):
    return f"{PREFIX}-{docker_escape(user)}---home"


def data_listing(docker, image, backup):
    """The listing of a backup's data/ and whether its completion marker is there."""
    out = run_in(
        docker, image, backup,
        "if [ -d /v/data ]; then cd /v/data && " + LISTING_SCRIPT.replace("cd /v && ", "") + "; fi;"
        " test -f /v/.resettable-spawner-complete && echo COMPLETE || true",
        read_only=True,
    )
    complete = out.endswith("COMPLETE\n")
    return (out[: -len("COMPLETE\n")] if complete else out), complete


def places_of(docker, image, user, tree):
    """Where the tree is: "volume" and/or the ids of complete backups holding it."""
    places = []
    if vol(user) in volume_names(docker) and listing(docker, image, vol(user)) == tree:
        places.append("volume")
    for b in backups_of(docker, vol(user)):
        content, complete = data_listing(docker, image, b)
        if content == tree:
            assert complete, f"the data sits in {b}, which is not complete"
            places.append(b)
    return places


@pytest.fixture(scope="module")
def crash_hub(tmp_path_factory, docker, image):
    hub = make_hub(tmp_path_factory, image, "move-crash-hub")
    yield hub
    try:
        hub.stop()
    finally:
        cleanup_docker(docker)


def kill_at(hub, docker, point, request):
    """Start request() in a thread, wait for the pause at point, SIGKILL the hub, start it again."""
    hub.proc.terminate()  # restart the hub with the pause armed
    hub.proc.wait()
    hub.env["RS_PAUSE_AT"] = point
    hub.start()
    before = hub.log().count(f"RS-PAUSED {point}")
    caller = threading.Thread(target=lambda: call_surviving(request))
    caller.start()
    hub.wait_for(lambda: hub.log().count(f"RS-PAUSED {point}") > before, timeout=60)
    hub.kill()
    caller.join(30)
    hub.env.pop("RS_PAUSE_AT")
    hub.start()
    hub.wait_for(lambda: not helpers(docker), timeout=60, interval=0.5)


@pytest.mark.parametrize(
    "point",
    ["before-create-move", "after-wait-move", "before-remove-volume", "after-remove-volume"],
)
def test_reset_by_move_killed_between_steps(crash_hub, docker, image, point):
    hub = crash_hub
    user = f"mv{point.replace('-', '')[:14]}"
    hub.create_user(user)
    fill(docker, image, vol(user))
    tree = listing(docker, image, vol(user))

    kill_at(hub, docker, point, lambda: hub.api("DELETE", f"/users/{quote(user)}/reset-home-volume", timeout=30))

    places = places_of(docker, image, user, tree)
    assert len(places) == 1, f"after a kill at {point} the tree is in {places}"
    assert not helpers(docker)
    # Retried, the reset ends as without the crash: no volume, the tree in one complete backup.
    if vol(user) in volume_names(docker):
        r = hub.api("DELETE", f"/users/{quote(user)}/reset-home-volume")
        assert r.status_code == 200, r.text
    places = places_of(docker, image, user, tree)
    assert len(places) == 1 and places[0] != "volume", places
    ids = [b["id"] for b in hub.api("GET", f"/users/{quote(user)}/home-volume").json()["backups"]]
    assert places[0] in ids


@pytest.mark.parametrize(
    "point",
    ["after-wait-move", "before-create-restore", "after-wait-restore", "before-remove-backup"],
)
def test_restore_by_move_killed_between_steps(crash_hub, docker, image, point):
    hub = crash_hub
    user = f"rs{point.replace('-', '')[:14]}"
    hub.create_user(user)
    fill(docker, image, vol(user))
    old = listing(docker, image, vol(user))
    (first,) = hub.api("DELETE", f"/users/{quote(user)}/reset-home-volume").json()["backups"]
    fill(docker, image, vol(user), "echo second > /v/state; chown -R 1000:100 /v")
    current = listing(docker, image, vol(user))

    path = f"/users/{quote(user)}/restore-home-volume"
    kill_at(hub, docker, point, lambda: hub.api("POST", path, json={"backup": first["id"]}, timeout=30))

    # Each tree in exactly one place.
    for tree in (old, current):
        places = places_of(docker, image, user, tree)
        assert len(places) == 1, f"after a kill at {point} a tree is in {places}"
    assert not helpers(docker)

    # A restore the hub did not finish blocks the start until it is retried; retried (or
    # never begun), it ends as without the crash: the old tree in the volume, the current
    # one in a backup, the restored backup consumed.
    recorded = point in ("before-create-restore", "after-wait-restore")
    if recorded:
        r = hub.api("POST", f"/users/{quote(user)}/server")
        assert r.status_code == 409, r.text
    if recorded or places_of(docker, image, user, old) != ["volume"]:
        r = hub.api("POST", path, json={"backup": first["id"]})
        assert r.status_code == 200, r.text
    assert places_of(docker, image, user, old) == ["volume"]
    (holder,) = places_of(docker, image, user, current)
    assert holder != "volume"
    if point == "before-remove-backup":
        # The consumed backup the kill left is refused, and goes.
        r = hub.api("POST", path, json={"backup": first["id"]})
        assert r.status_code == 404, r.text
    assert first["id"] not in volume_names(docker)
    assert places_of(docker, image, user, old) == ["volume"]
    r = hub.api("POST", f"/users/{quote(user)}/server")
    assert r.status_code in (201, 202), r.text
    hub.wait_for(lambda: (hub.server_model(user) or {}).get("ready"), timeout=90)
    hub.stop_server(user)
