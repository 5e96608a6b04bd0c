"""The hub dies: a real SIGKILL of a real hub process, then a new hub on the same database.

Run on one JupyterHub version only (this venv's): each test kills and restarts a hub.
"""

import threading
import time

import httpx
import pytest

from tests.support.dockerutil import container_of, read_file, write_file
from tests.support.hubproc import PREFIX, quote, running_hub


def restart_in_background(hub, user, server=""):
    """POST restart-server from a thread; the hub may die before it answers."""
    path = f"/users/{quote(user)}" + (f"/servers/{quote(server)}" if server else "")

    def call():
        try:
            hub.api("POST", path + "/restart-server", timeout=60)
        except httpx.HTTPError:
            pass  # the hub was killed under the request

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    return thread


def host_port(container):
    container.reload()
    ports = container.attrs["NetworkSettings"]["Ports"] or {}
    bindings = ports.get("8888/tcp") or []
    return bindings[0]["HostPort"] if bindings else None


def state_of(hub, user):
    r = hub.api("GET", f"/users/{quote(user)}/home-volume")
    return r.json().get("state") if r.status_code == 200 else None


@pytest.fixture(scope="module")
def crash_hub(tmp_path_factory, docker, image):
    # The settings of the measured report: poll every second, restart_timeout 6 s,
    # and http_timeout 30 s (the new hub gives up on a server after that long).
    with running_hub(
        tmp_path_factory, docker, image, "crash-hub", restart_timeout=6, http_timeout=30
    ) as h:
        yield h


def assert_server_kept(hub, docker, user, container, started_at, started):
    """Same container, restarted, still the hub's server, reachable through the proxy."""
    hub.wait_for(lambda: hub.route_status(user) == 200, 90, interval=0.5)
    container.reload()
    assert container.status == "running"
    assert docker.containers.get(container.id).id == container.id
    assert container.attrs["State"]["StartedAt"] != started_at, "the container was not restarted"
    assert read_file(container, "/tmp/layer-marker") == "layer"
    model = hub.server_model(user)
    assert model and model["ready"]
    assert model["started"] == started["started"], "the hub respawned the server"
    # Still watched: a few polls later it is still there.
    time.sleep(3)
    assert hub.server_model(user)["ready"] and hub.route_status(user) == 200


def running_server_with_marker(hub, docker, user):
    """Start a server with a file in its container's own layer; (model, container, StartedAt)."""
    hub.create_user(user)
    started = hub.start_server(user)
    c = container_of(docker, hub, user)
    write_file(c, "/tmp/layer-marker", "layer")
    return started, c, c.attrs["State"]["StartedAt"]


def test_hub_killed_in_the_stop_phase_of_a_restart(crash_hub, docker, username):
    hub = crash_hub
    started, c, started_at = running_server_with_marker(hub, docker, username)
    c.kill(signal="SIGSTOP")  # ignores SIGTERM: the restart waits out restart_timeout

    restart_in_background(hub, username)
    hub.wait_for(lambda: state_of(hub, username) == "restarting", 10)
    time.sleep(1)
    hub.kill()
    # Back within restart_timeout: Docker is still in the stop phase.
    hub.start()

    assert_server_kept(hub, docker, username, c, started_at, started)
    assert "finishing a restart interrupted in its stopping phase" in hub.log()
    hub.stop_server(username)


def test_hub_killed_right_after_the_address_changed(crash_hub, docker, username):
    hub = crash_hub
    started, c, started_at = running_server_with_marker(hub, docker, username)
    port_before = host_port(c)

    restart_in_background(hub, username)
    hub.wait_for(lambda: host_port(c) not in (None, port_before), 30, interval=0.02)
    hub.kill()
    port_after = host_port(c)
    hub.start()

    assert_server_kept(hub, docker, username, c, started_at, started)
    assert host_port(c) == port_after
    hub.stop_server(username)


@pytest.fixture(scope="module")
def removing_crash_hub(tmp_path_factory, docker, image):
    with running_hub(tmp_path_factory, docker, image, "removing-crash-hub", remove=1) as h:
        yield h


def containers_named(docker, user):
    return docker.containers.list(all=True, filters={"name": f"{PREFIX}-{user}--"})


def test_remove_true_creates_containers_without_auto_remove(removing_crash_hub, docker, username):
    hub = removing_crash_hub
    hub.create_user(username)
    hub.start_server(username)
    c = container_of(docker, hub, username)
    assert c.attrs["HostConfig"]["AutoRemove"] is False
    # remove=True still means no container after a stop.
    hub.stop_server(username)
    assert not containers_named(docker, username)


def test_remove_true_container_that_dies_is_removed_by_the_poll(removing_crash_hub, docker, username):
    hub = removing_crash_hub
    hub.create_user(username)
    hub.start_server(username)
    container_of(docker, hub, username).kill()
    hub.wait_for(lambda: hub.server_model(username) is None, 30)
    hub.wait_for(lambda: not containers_named(docker, username), 30)


def test_remove_true_container_that_died_while_the_hub_was_down(removing_crash_hub, docker, username):
    hub = removing_crash_hub
    hub.create_user(username)
    hub.start_server(username)
    c = container_of(docker, hub, username)
    hub.kill()
    c.kill()
    c.reload()
    assert c.status == "exited"  # no auto-remove: Docker kept it, the hub must remove it
    hub.start()
    hub.wait_for(lambda: hub.server_model(username) is None, 60)
    hub.wait_for(lambda: not containers_named(docker, username), 30)


def test_restart_refuses_a_container_with_auto_remove(removing_crash_hub, docker, username):
    """Containers created before auto-remove was turned off: a stop would remove them."""
    hub = removing_crash_hub
    user = "legacy-" + username
    hub.create_user(user)
    hub.start_server(user)
    c = container_of(docker, hub, user)
    assert c.attrs["HostConfig"]["AutoRemove"] is True
    started_at = c.attrs["State"]["StartedAt"]

    r = hub.api("POST", f"/users/{user}/restart-server")

    assert r.status_code == 409, r.text
    assert "Stop and start the server once" in r.json()["message"]
    c.reload()
    assert c.status == "running" and c.attrs["State"]["StartedAt"] == started_at
    assert hub.route_status(user) == 200
    hub.stop_server(user)
