"""native_restart() against the real engine, a real hub and the real proxy."""

import threading
import time

import pytest

from tests.support.dockerutil import container_of, read_file, write_file
from tests.support.hubproc import quote, running_hub


def restart(hub, user, server="", token=None):
    path = f"/users/{quote(user)}/servers/{quote(server)}" if server else f"/users/{quote(user)}"
    return hub.api("POST", path + "/restart-server", token=token)


def host_port(container):
    container.reload()
    return container.ports["8888/tcp"][0]["HostPort"]


def test_restart_keeps_container_files_and_route(hub, docker, username):
    hub.create_user(username)
    started = hub.start_server(username)
    c = container_of(docker, hub, username)
    write_file(c, "/home/jovyan/marker", "home")
    write_file(c, "/tmp/layer-marker", "layer")  # in the container's own writable layer
    port_before = host_port(c)

    r = restart(hub, username)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["container_id"] == c.id

    c.reload()
    assert c.id == body["container_id"] and c.status == "running"
    assert read_file(c, "/home/jovyan/marker") == "home"
    assert read_file(c, "/tmp/layer-marker") == "layer"
    # Docker gives a restarted container the next free host port (every restart measured
    # here moved); the hub's record and the route must follow it.
    port_after = host_port(c)
    assert port_after != port_before
    assert body["route_updated"] is True
    assert body["old_url"].endswith(f":{port_before}")
    assert body["new_url"].endswith(f":{port_after}")
    assert hub.route_status(username) == 200
    model = hub.server_model(username)
    assert model["ready"] and model["started"] == started["started"]
    hub.stop_server(username)


def test_restart_of_named_server(hub, docker, username):
    hub.create_user(username)
    hub.start_server(username, "lab")
    c = container_of(docker, hub, username, "lab")
    r = restart(hub, username, "lab")
    assert r.status_code == 200, r.text
    assert r.json()["container_id"] == c.id
    assert hub.route_status(username, "lab") == 200
    hub.stop_server(username, "lab")


def test_restart_refused_when_stopped(hub, username):
    hub.create_user(username)
    r = restart(hub, username)
    assert r.status_code == 409
    assert r.json()["message"] == "The server is not running; start it instead."


def test_ten_restarts_under_poll_interval_one(hub, docker, username):
    """The hub polls every second (tests/support/hub_config.py); no restart may look like a crash."""
    hub.create_user(username)
    started = hub.start_server(username)
    c = container_of(docker, hub, username)
    for i in range(10):
        r = restart(hub, username)
        assert r.status_code == 200, f"restart {i}: {r.text}"
        assert r.json()["container_id"] == c.id
        time.sleep(1.5)  # let at least one poll run against the restarted container
        model = hub.server_model(username)
        assert model and model["ready"], f"server dropped after restart {i}"
        assert model["started"] == started["started"], f"server respawned after restart {i}"
        assert hub.route_status(username) == 200, f"route broken after restart {i}"
    hub.stop_server(username)


def test_slow_restart_does_not_stall_other_users(hub, docker, username):
    """A restart waiting out its stop timeout must not hold DockerSpawner's shared thread."""
    slow, quick = username + "-slow", username + "-quick"
    hub.create_user(slow)
    hub.create_user(quick)
    hub.start_server(slow)
    c = container_of(docker, hub, slow)
    # A stopped process ignores SIGTERM, so the restart waits out restart_timeout (10 s).
    c.kill(signal="SIGSTOP")

    done = {}

    def do_restart():
        done["response"] = restart(hub, slow)
        done["at"] = time.monotonic()

    t = threading.Thread(target=do_restart)
    t.start()
    hub.wait_for(
        lambda: hub.api("GET", f"/users/{slow}/home-volume").json()["state"] == "restarting", 10
    )
    tic = time.monotonic()
    hub.start_server(quick)
    quick_ready = time.monotonic()
    t.join(60)

    assert done["response"].status_code == 200, done["response"].text
    assert done["response"].json()["container_id"] == c.id
    # The other user's spawn finished while the slow restart was still waiting.
    assert quick_ready < done["at"], (
        f"spawn took {quick_ready - tic:.1f}s and ended after the restart returned"
    )
    print(f"quick spawn during slow restart: {quick_ready - tic:.2f}s; restart ended {done['at'] - tic:.2f}s after spawn began")
    hub.stop_server(slow)
    hub.stop_server(quick)


def test_concurrent_operations_on_one_server(hub, docker, username):
    hub.create_user(username)
    hub.start_server(username)
    c = container_of(docker, hub, username)
    c.kill(signal="SIGSTOP")  # keep the first restart in progress for its full timeout
    responses = {}

    def call(key, fn):
        responses[key] = fn()

    first = threading.Thread(target=call, args=("first", lambda: restart(hub, username)))
    first.start()
    hub.wait_for(
        lambda: hub.api("GET", f"/users/{username}/home-volume").json()["state"] == "restarting", 10
    )
    second = restart(hub, username)
    reset = hub.api("DELETE", f"/users/{username}/reset-home-volume")
    first.join(60)

    assert responses["first"].status_code == 200
    assert second.status_code == 409
    assert second.json()["message"].startswith("A restart of this server is already in progress")
    assert reset.status_code == 409
    c.reload()
    assert c.status == "running"
    hub.stop_server(username)


@pytest.fixture(scope="module")
def debug_hub(tmp_path_factory, docker, image):
    with running_hub(tmp_path_factory, docker, image, "debug-hub", debug=1) as h:
        yield h


def polls_after(hub, container_id, since):
    """Lines where DockerSpawner's poll saw the container running, after byte offset since."""
    marker = f"Container {container_id[:7]} status: {{\"Status\": \"running\""
    return [line for line in hub.log()[since:].splitlines() if marker in line]


def test_poll_during_a_restart_gap_keeps_the_server_watched(debug_hub, docker, username):
    """With a real stop-then-start restart (gappy-* in tests/support/hub_config.py), the
    hub's 1 s poll runs while the container is down. Had it seen the container down, JupyterHub would
    stop polling for good (poll_and_notify), leaving a server nobody watches."""
    hub = debug_hub
    user = "gappy-" + username
    hub.create_user(user)
    started = hub.start_server(user)
    c = container_of(docker, hub, user)
    seen_down = []

    def watch():
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:
            c.reload()
            if c.status != "running":
                seen_down.append(c.status)
            time.sleep(0.2)

    watcher = threading.Thread(target=watch)
    watcher.start()
    r = restart(hub, user)
    offset = len(hub.log())
    watcher.join()
    assert r.status_code == 200, r.text
    assert seen_down, "the fault injection did not open a gap"
    model = hub.server_model(user)
    assert model and model["ready"] and model["started"] == started["started"]
    assert hub.route_status(user) == 200
    # The hub still polls the restarted container.
    hub.wait_for(lambda: polls_after(hub, c.id, offset), 5)
    hub.stop_server(user)
