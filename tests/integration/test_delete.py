"""delete_forever(): deleting a user, or a named server with remove, and their volumes.

JupyterHub calls Spawner.delete_forever() in both cases; these tests go through the
hub's own REST API (DELETE /users/{name}, DELETE .../servers/{server} with remove).
"""

import json

import pytest

from tests.support.dockerutil import container_of, docker_escape, volume_file, volume_names, write_file
from tests.support.hubproc import PREFIX, quote, running_hub

SHARED = f"{PREFIX}-shared-data"
KINDS = ("home", "workspace", "cache")


def vol(user, server, kind):
    return f"{PREFIX}-{docker_escape(user)}--{docker_escape(server)}-{kind}"


def fill(hub, docker, user, server=""):
    """Start the server, write a marker into each of its volumes and the shared one, stop it."""
    hub.start_server(user, server)
    c = container_of(docker, hub, user, server)
    for path in ("/home/jovyan", "/home/jovyan/work", "/home/jovyan/.cache"):
        write_file(c, f"{path}/marker", f"{user}/{server}")
    c.exec_run(["sh", "-c", f"echo {user} > /home/jovyan/shared/{user}-{server or 'default'}"], user="root")
    hub.stop_server(user, server)


def make_backup(hub, user, server=""):
    """A reset (with its backup) of the home volume, so the server has a backup to remove."""
    base = f"/users/{quote(user)}" + (f"/servers/{quote(server)}" if server else "")
    r = hub.api("DELETE", base + "/reset-home-volume")
    assert r.status_code == 200, r.text
    return [b["id"] for b in r.json()["backups"]]


def events(hub, action):
    path = hub.workdir / "events.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [e for e in map(json.loads, lines) if e.get("action") == action]


@pytest.fixture(scope="module")
def deleting_hub(tmp_path_factory, docker, image):
    with running_hub(
        tmp_path_factory, docker, image, "deleting-hub", remove_volumes_on_delete=1, shared_volume=1
    ) as h:
        yield h


@pytest.fixture(scope="module")
def keeping_hub(tmp_path_factory, docker, image):
    with running_hub(tmp_path_factory, docker, image, "keeping-hub", shared_volume=1) as h:
        yield h


def test_deleting_a_user_removes_their_volumes_and_backups_only(deleting_hub, docker, image, username):
    hub = deleting_hub
    other = username + "-other"
    for user in (username, other):
        hub.create_user(user)
        fill(hub, docker, user)
    backups = make_backup(hub, username)
    assert backups and set(backups) <= volume_names(docker)
    # A reset removed the stopped container; a start and stop leave one again (remove=False).
    hub.start_server(username)
    hub.stop_server(username)
    container_of(docker, hub, username)

    r = hub.api("DELETE", f"/users/{quote(username)}")
    assert r.status_code == 204, r.text

    names = volume_names(docker)
    assert not {vol(username, "", k) for k in KINDS} & names
    assert not set(backups) & names
    assert not docker.containers.list(all=True, filters={"name": f"{PREFIX}-{username}--"})
    # The other user's volumes and the shared volume keep their files.
    for kind in KINDS:
        assert volume_file(docker, image, vol(other, "", kind), "marker") == f"{other}/"
    assert volume_file(docker, image, SHARED, f"{username}-default").strip() == username
    assert volume_file(docker, image, SHARED, f"{other}-default").strip() == other
    [event] = [e for e in events(hub, "delete-forever") if e["username"] == username]
    assert event["outcome"] == "done" and event["actor"] == "hub"


def test_deleting_a_named_server_removes_only_its_volumes(deleting_hub, docker, image, username):
    hub = deleting_hub
    hub.create_user(username)
    fill(hub, docker, username)
    fill(hub, docker, username, "lab")

    r = hub.api("DELETE", f"/users/{quote(username)}/servers/lab", json={"remove": True})
    assert r.status_code == 204, r.text

    names = volume_names(docker)
    assert not {vol(username, "lab", k) for k in KINDS} & names
    for kind in KINDS:
        assert volume_file(docker, image, vol(username, "", kind), "marker") == f"{username}/"
    assert volume_file(docker, image, SHARED, f"{username}-lab").strip() == username
    assert hub.server_model(username) is None  # the default server was never touched


def test_with_the_trait_off_deleting_a_user_removes_nothing(keeping_hub, docker, image, username):
    hub = keeping_hub
    hub.create_user(username)
    fill(hub, docker, username)
    backups = make_backup(hub, username)
    before = volume_names(docker)

    r = hub.api("DELETE", f"/users/{quote(username)}")
    assert r.status_code == 204, r.text

    assert volume_names(docker) == before
    assert set(backups) <= before
    for kind in ("workspace", "cache"):
        assert volume_file(docker, image, vol(username, "", kind), "marker") == f"{username}/"
    kept = [line for line in hub.log().splitlines() if "kept its volumes" in line and username in line]
    assert len(kept) == 1 and vol(username, "", "workspace") in kept[0]
    [event] = [e for e in events(hub, "delete-forever") if e["username"] == username]
    assert event["outcome"] == "done" and event["reason"] == "volumes-kept"
