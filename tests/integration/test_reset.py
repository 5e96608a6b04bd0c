"""reset_home_volume() against the real engine, driven through a real hub."""

import pytest

from tests.support.dockerutil import container_of, docker_escape, home_mount, volume_file, volume_names, write_file
from tests.support.hubproc import PREFIX, quote, running_hub


def vol(user, server, kind):
    return f"{PREFIX}-{docker_escape(user)}--{docker_escape(server)}-{kind}"


def fill_volumes(docker, hub, user, server=""):
    """Start the server and write a marker into home, workspace and cache."""
    hub.start_server(user, server)
    c = container_of(docker, hub, user, server)
    write_file(c, "/home/jovyan/marker", f"home of {user}")
    write_file(c, "/home/jovyan/work/marker", f"work of {user}")
    write_file(c, "/home/jovyan/.cache/marker", f"cache of {user}")
    return c


def reset(hub, user, server="", token=None):
    path = f"/users/{quote(user)}/servers/{quote(server)}" if server else f"/users/{quote(user)}"
    return hub.api("DELETE", path + "/reset-home-volume", token=token)


def assert_only_home_gone(docker, image, user, server=""):
    names = volume_names(docker)
    assert vol(user, server, "home") not in names
    assert volume_file(docker, image, vol(user, server, "workspace"), "marker") == f"work of {user}"
    assert volume_file(docker, image, vol(user, server, "cache"), "marker") == f"cache of {user}"


def test_reset_removes_exactly_the_home_volume(hub, docker, image, username):
    other = username + "x"
    for u in (username, other):
        hub.create_user(u)
        fill_volumes(docker, hub, u)
        hub.stop_server(u)
    # remove=False: the stopped container still exists and holds the volume.
    container_of(docker, hub, username)

    r = reset(hub, username)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["volume"] == vol(username, "", "home")
    assert body["removed_container"] == f"{PREFIX}-{username}--"
    assert body["action"] == "reset"

    assert_only_home_gone(docker, image, username)
    assert volume_file(docker, image, vol(other, "", "home"), "marker") == f"home of {other}"
    assert not docker.containers.list(all=True, filters={"name": f"{PREFIX}-{username}--"})

    # The next start gets a fresh home, and the workspace kept its files.
    hub.start_server(username)
    c = container_of(docker, hub, username)
    assert c.exec_run(["test", "-e", "/home/jovyan/marker"]).exit_code == 1
    assert c.exec_run(["cat", "/home/jovyan/work/marker"]).output.decode() == f"work of {username}"
    hub.stop_server(username)


def test_reset_of_missing_volume_is_not_found_and_changes_nothing(hub, docker, image, username):
    hub.create_user(username)
    fill_volumes(docker, hub, username)
    hub.stop_server(username)
    assert reset(hub, username).status_code == 200
    before = volume_names(docker)

    r = reset(hub, username)
    assert r.status_code == 404
    assert r.json()["message"] == f"The home volume {vol(username, '', 'home')} does not exist."
    assert volume_names(docker) == before


def test_reset_refused_while_running(hub, docker, image, username):
    hub.create_user(username)
    c = fill_volumes(docker, hub, username)
    r = reset(hub, username)
    assert r.status_code == 409
    assert "stop it" in r.json()["message"]
    c.reload()
    assert c.status == "running"
    assert volume_file(docker, image, vol(username, "", "home"), "marker") == f"home of {username}"
    hub.stop_server(username)


@pytest.mark.parametrize(
    "name",
    ["dot.user@example.com", "jürgen-Ünïcode", "dot-2euser-40example-2ecom"],
    ids=["email", "non-ascii", "escaped-form"],
)
def test_names_that_need_escaping(hub, docker, image, name):
    hub.create_user(name)
    c = fill_volumes(docker, hub, name)
    # The name the API reports is the volume Docker really mounted as home.
    r = hub.api("GET", f"/users/{quote(name)}/home-volume")
    assert r.status_code == 200, r.text
    assert r.json()["volume"]["name"] == home_mount(c) == vol(name, "", "home")
    hub.stop_server(name)


def test_escaped_form_collision_is_isolated(hub, docker, image):
    """A user named like another's escaped form gets different volumes; reset hits one only."""
    first, second = "dot.user@example.com", "dot-2euser-40example-2ecom"
    for u in (first, second):
        hub.create_user(u)
        fill_volumes(docker, hub, u)
        hub.stop_server(u)
    assert vol(first, "", "home") != vol(second, "", "home")
    assert reset(hub, second).status_code == 200
    assert_only_home_gone(docker, image, second)
    assert volume_file(docker, image, vol(first, "", "home"), "marker") == f"home of {first}"


def test_named_server_reset_leaves_default_server(hub, docker, image, username):
    hub.create_user(username)
    for server in ("", "lab"):
        fill_volumes(docker, hub, username, server)
        hub.stop_server(username, server)
    r = reset(hub, username, "lab")
    assert r.status_code == 200, r.text
    assert r.json()["volume"] == vol(username, "lab", "home")
    assert_only_home_gone(docker, image, username, "lab")
    assert volume_file(docker, image, vol(username, "", "home"), "marker") == f"home of {username}"


@pytest.fixture(scope="module")
def removing_hub(tmp_path_factory, docker, image):
    with running_hub(tmp_path_factory, docker, image, "removing-hub", remove=1) as h:
        yield h


def test_reset_with_remove_true(removing_hub, docker, image, username):
    hub = removing_hub
    hub.create_user(username)
    fill_volumes(docker, hub, username)
    hub.stop_server(username)
    assert not docker.containers.list(all=True, filters={"name": f"{PREFIX}-{username}--"})
    r = reset(hub, username)
    assert r.status_code == 200, r.text
    assert r.json()["removed_container"] is None
    assert_only_home_gone(docker, image, username)
