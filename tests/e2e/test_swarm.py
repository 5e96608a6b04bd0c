"""ResettableSwarmSpawner on a real two-node Docker Swarm (tests/support/swarm.py).

The host's engine is the manager; node 2 is a docker-in-docker container, and every
server is placed there (``node.hostname==`` node 2), so each of its volumes lives on
node 2 only and the manager's engine answers 404 for them. One swarm and one hub for
the whole module; the swarm is left and everything removed afterwards, even when a
test fails (``TwoNodeSwarm.close`` fails the module if anything stays behind). One test
runs a second hub whose driver-backed home is placed by a node label, to move it.
JupyterHub 6 only (this venv's).
"""

import os
import secrets
import subprocess
import sys
import threading
import time
import uuid

import pytest

from tests.support import ROOT
from tests.support.dockerutil import docker_escape
from tests.support.hubproc import PREFIX, HubClient, free_port, quote
from tests.support.swarm import NODE2, TwoNodeSwarm, restart, swarm_hub, wait_until
from tests.support.volumes import BACKUP_OF, call_surviving, fill, fill_big, listing, run_in

SHARED = f"{PREFIX}-shared-data"
STACK = f"{PREFIX}-stack"


@pytest.fixture(scope="module")
def swarm(docker, image):
    with TwoNodeSwarm(docker, image) as s:
        yield s
    info = docker.info()["Swarm"]
    assert info["LocalNodeState"] == "inactive", "the host's engine is still in swarm mode"
    assert not docker.networks.list(names=["docker_gwbridge", "ingress"])


@pytest.fixture(scope="module")
def hub(swarm, tmp_path_factory, docker, image):
    h = swarm_hub(
        tmp_path_factory.mktemp("swarm-hub"),
        swarm,
        docker.images.get(image).id,  # by id: no node tries to pull a tag from a registry
        shared_volume=1,
        remove_volumes_on_delete=1,
        restart_timeout=5,
    )
    h.start()
    yield h
    h.stop()


def service_name(user):
    return f"{PREFIX}-{docker_escape(user)}"


def vol(user, kind):
    return f"{PREFIX}-{docker_escape(user)}---{kind}"  # the test config's template, default server


def node2_volumes(swarm):
    return {v.name for v in swarm.node2.volumes.list()}


def host_volumes(docker):
    return {v.name for v in docker.volumes.list()}


def started(hub, swarm, user):
    hub.create_user(user)
    model = hub.start_server(user, timeout=120)
    assert hub.route_status(user) == 200
    return model


def write_home(swarm, user, path, content):
    c = swarm.task_container(service_name(user))
    result = c.exec_run(["sh", "-c", f"printf %s '{content}' > {path}"], user="jovyan")
    assert result.exit_code == 0, result.output


def read_in_task(swarm, user, path):
    result = swarm.task_container(service_name(user)).exec_run(["cat", path], user="jovyan")
    return result.output.decode() if result.exit_code == 0 else None


def path(user, action):
    return f"/users/{quote(user)}/{action}"


def test_spawn_on_node2_with_named_volumes_and_answer_through_the_proxy(swarm, hub, docker, username):
    started(hub, swarm, username)
    service = swarm.service(service_name(username))
    task = swarm.running_task(service_name(username))
    assert task["NodeID"] == swarm.node2_id
    # Pinned from the first start on, in the service's placement.
    constraints = service["Spec"]["TaskTemplate"]["Placement"]["Constraints"]
    assert f"node.id=={swarm.node2_id}" in constraints
    mounts = {m["Target"]: m for m in service["Spec"]["TaskTemplate"]["ContainerSpec"]["Mounts"]}
    assert (mounts["/home/jovyan"]["Type"], mounts["/home/jovyan"]["Source"]) == ("volume", vol(username, "home"))
    # The volumes live on node 2 only.
    mine = {vol(username, k) for k in ("home", "workspace", "cache")}
    assert mine <= node2_volumes(swarm)
    assert not mine & host_volumes(docker)
    # The route is node 2's address and the task's host-mode port.
    port = task["Status"]["PortStatus"]["Ports"][0]["PublishedPort"]
    assert f"{swarm.node2_ip}:{port}" in hub.log()
    # The server's log is the service's, read through the manager from node 2.
    r = hub.api("GET", path(username, "server-logs") + "?tail=50")
    assert r.status_code == 200, r.text
    lines = r.json()["lines"]
    assert lines and all(line["time"] for line in lines)
    assert any("jupyter" in line["text"].lower() for line in lines)
    assert not any(hub.admin_token in line["text"] for line in lines)


def test_a_file_in_the_home_survives_a_restart_and_the_route_follows(swarm, hub, username):
    started(hub, swarm, username)
    write_home(swarm, username, "/home/jovyan/kept.txt", "kept")
    write_home(swarm, username, "/tmp/layer.txt", "layer")
    old_task = swarm.running_task(service_name(username))
    old_port = old_task["Status"]["PortStatus"]["Ports"][0]["PublishedPort"]

    r = restart(hub, username)
    assert r.status_code == 200, r.text
    body = r.json()
    assert hub.route_status(username) == 200, "the restart answered before the server did"
    new_task = swarm.running_task(service_name(username))
    assert new_task["ID"] != old_task["ID"] and new_task["NodeID"] == swarm.node2_id
    new_port = new_task["Status"]["PortStatus"]["Ports"][0]["PublishedPort"]
    assert body["route_updated"] == (new_port != old_port)
    assert body["new_url"].endswith(f"{swarm.node2_ip}:{new_port}")
    assert body["container_id"] == swarm.service(service_name(username))["ID"], "the service is kept"
    assert read_in_task(swarm, username, "/home/jovyan/kept.txt") == "kept"
    # What a swarm restart loses, as the README says: the container and its writable layer.
    assert read_in_task(swarm, username, "/tmp/layer.txt") is None


def test_the_hubs_1s_poll_never_drops_the_server_during_5_restarts(swarm, hub, username):
    model = started(hub, swarm, username)
    seen, stop = [], threading.Event()

    def watch():
        while not stop.is_set():
            seen.append(hub.server_model(username))
            time.sleep(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        for i in range(5):
            r = restart(hub, username)
            assert r.status_code == 200, f"restart {i + 1}: {r.text}"
            assert hub.route_status(username) == 200
            time.sleep(1.5)  # a poll or two after each restart
    finally:
        stop.set()
        watcher.join()
    assert seen and all(m is not None for m in seen), "the hub dropped the server during a restart"
    assert all(m["started"] == model["started"] for m in seen), "the hub respawned the server"
    assert f"{username}'s server stopped" not in hub.log() and f"User {username} server stopped" not in hub.log()


def test_stop_then_reset_with_a_backup_on_node2_then_restore_the_exact_tree(swarm, hub, docker, image, username):
    started(hub, swarm, username)
    home = vol(username, "home")
    hub.stop_server(username)
    # The server writes into its home until its task has stopped (its runtime files).
    wait_until(lambda: not swarm.node2.containers.list(all=True, filters={"volume": home}), 30,
               what="swarm removed the task's container")
    fill(swarm.node2, image, home)
    before = listing(swarm.node2, image, home)

    r = hub.api("DELETE", path(username, "reset-home-volume"))
    assert r.status_code == 200, r.text
    backup = r.json()["backups"][0]["id"]
    assert home not in node2_volumes(swarm), "the reset left the home volume on node 2"
    assert backup in node2_volumes(swarm) and backup not in host_volumes(docker), "the backup is not on node 2"
    assert swarm.node2.volumes.get(backup).attrs["Labels"][BACKUP_OF] == home
    assert listing(swarm.node2, image, backup).replace("./data", ".") != ""
    assert SHARED in node2_volumes(swarm), "the shared volume was touched"

    r = hub.api("POST", path(username, "restore-home-volume"), json={"backup": backup})
    assert r.status_code == 200, r.text
    assert r.json()["replaced_backup"] is None  # the volume did not exist
    assert listing(swarm.node2, image, home) == before

    # The restored home is the server's again, on node 2.
    hub.start_server(username, timeout=120)
    assert read_in_task(swarm, username, "/home/jovyan/.a") == "secret"


def test_sizes_are_within_one_percent_of_du_on_node2(swarm, hub, image, username):
    started(hub, swarm, username)
    write_home(swarm, username, "/home/jovyan/data.bin", "x" * 1000)
    swarm.task_container(service_name(username)).exec_run(
        ["sh", "-c", "head -c 3000000 /dev/urandom > /home/jovyan/big.bin"], user="jovyan"
    )
    hub.stop_server(username)
    r = hub.api("GET", path(username, "home-volume") + "?sizes=1")
    assert r.status_code == 200, r.text
    sizes = {v["name"]: v["size_bytes"] for v in r.json()["volumes"]}
    home = vol(username, "home")
    du = int(run_in(swarm.node2, image, home, "du -sb /v", read_only=True).split()[0])
    assert du > 3_000_000
    assert abs(sizes[home] - du) <= du * 0.01, (sizes[home], du)


def test_delete_forever_removes_exactly_that_users_volumes_on_node2(swarm, hub, username):
    other = username + "x"
    started(hub, swarm, username)
    started(hub, swarm, other)
    hub.stop_server(username)
    # At once after the stop, while swarm still removes the task's container: the reset waits for it.
    r = hub.api("DELETE", path(username, "reset-home-volume"))  # and a backup to delete with the user
    assert r.status_code == 200, r.text
    backup = r.json()["backups"][0]["id"]
    hub.start_server(username, timeout=120)
    mine = {vol(username, k) for k in ("home", "workspace", "cache")} | {backup}
    theirs = {vol(other, k) for k in ("home", "workspace", "cache")}
    assert mine | theirs | {SHARED} <= node2_volumes(swarm)

    r = hub.api("DELETE", f"/users/{quote(username)}")
    assert r.status_code == 204, r.text
    wait_until(lambda: not mine & node2_volumes(swarm), 60, what="the user's volumes are gone from node 2")
    assert theirs | {SHARED} <= node2_volumes(swarm), "another user's or a shared volume went too"
    assert hub.route_status(other) == 200


def test_a_hub_killed_mid_restart_keeps_the_server_and_routes_it(swarm, hub, username):
    model = started(hub, swarm, username)
    write_home(swarm, username, "/home/jovyan/kept.txt", "kept")
    old_task = swarm.running_task(service_name(username))

    def call():
        try:
            restart(hub, username, timeout=60)
        except Exception:
            pass  # the hub dies under the request

    threading.Thread(target=call, daemon=True).start()
    # Killed while the restart runs: the old task is down.
    wait_until(lambda: swarm.running_task(service_name(username)) is None, 30, interval=0.05,
               what="the restart stopped the old task")
    hub.kill()
    hub.start()
    hub.wait_for(lambda: hub.route_status(username) == 200, 120, interval=0.5)
    now = hub.server_model(username)
    assert now and now["ready"] and now["started"] == model["started"], "the hub respawned or dropped the server"
    task = swarm.running_task(service_name(username))
    assert task["ID"] != old_task["ID"] and task["NodeID"] == swarm.node2_id
    assert read_in_task(swarm, username, "/home/jovyan/kept.txt") == "kept"
    time.sleep(3)  # still watched, still there a few polls later
    assert hub.server_model(username)["ready"] and hub.route_status(username) == 200


def test_a_hub_killed_mid_backup_leaves_nothing_on_node2_after_its_next_start(swarm, hub, image, username):
    started(hub, swarm, username)
    home = vol(username, "home")
    hub.stop_server(username)
    wait_until(lambda: not swarm.node2.containers.list(all=True, filters={"volume": home}), 30,
               what="swarm removed the task's container")
    fill_big(swarm.node2, image, home)
    before = listing(swarm.node2, image, home)

    def helper_jobs():
        return [s for s in swarm.host.api.services(filters={"label": "resettable-spawner.helper"})
                if s["Spec"]["Labels"].get("resettable-spawner.prefix") == PREFIX]

    threading.Thread(target=lambda: call_surviving(lambda: hub.api("DELETE", path(username, "reset-home-volume"))),
                     daemon=True).start()
    wait_until(lambda: any(swarm.tasks(j["ID"]) and swarm.tasks(j["ID"])[0]["Status"]["State"] == "running"
                           for j in helper_jobs()), 60, interval=0.05, what="the backup's helper job copies")
    hub.kill()
    assert helper_jobs(), "the helper job finished before the hub was killed"
    hub.start()
    # The sweep at start-up: the dead hub's helper job, its task's container and the partial backup go.
    wait_until(lambda: not helper_jobs() and not [v for v in node2_volumes(swarm) if ".backup-" in v and home in v],
               60, interval=0.5, what="the sweep removed the helper and the partial backup")
    assert not swarm.node2.containers.list(all=True, filters={"label": "resettable-spawner.helper"})
    assert listing(swarm.node2, image, home) == before, "the home was touched"
    hub.start_server(username, timeout=120)
    assert hub.route_status(username) == 200


@pytest.fixture(scope="module")
def stack(swarm, docker, image):
    """examples/swarm-stack.yml deployed as it is documented: the hub in a container on an
    attachable overlay, its servers reached by service name (dnsrr: this kernel has no IPVS)."""
    base = subprocess.run(
        [str(ROOT / "scripts" / "build-image.sh"), "hub-base"],
        env=dict(os.environ, PYTHON=sys.executable), stdout=subprocess.PIPE, text=True, check=True,
    ).stdout.strip()
    hub_image = f"{STACK}-hub:test"
    subprocess.run(
        ["docker", "build", "-q", "-t", hub_image, "-f", "examples/Dockerfile",
         "--build-arg", f"JUPYTERHUB_IMAGE={base}", "."],
        cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
    )
    token, port = secrets.token_hex(16), free_port()
    env = dict(
        os.environ,
        HUB_IMAGE=hub_image,
        HUB_PORT=str(port),
        SINGLEUSER_IMAGE=docker.images.get(image).id,
        DOCKER_NETWORK_NAME=f"{STACK}-net",
        SWARM_ENDPOINT_MODE="dnsrr",
        SWARM_CONSTRAINTS=f"node.hostname=={NODE2}",
        JUPYTERHUB_CONTAINER_PREFIX=f"{STACK}-user",
        RESETTABLE_OPS_TOKEN=token,
    )
    deploy = ["docker", "stack", "deploy", "--resolve-image", "never", "-c", "examples/swarm-stack.yml", STACK]
    subprocess.run(deploy, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    try:
        hub = HubClient(f"http://127.0.0.1:{port}", token)
        hub.wait_for(lambda: hub.route_ok("/hub/api/"), 120, interval=0.5)
        yield hub, env
    finally:
        logs = subprocess.run(["docker", "service", "logs", "--raw", f"{STACK}_jupyterhub"],
                              capture_output=True, text=True)
        (ROOT / "artifacts").mkdir(exist_ok=True)
        (ROOT / "artifacts" / "swarm-stack-hub.log").write_text(logs.stdout + logs.stderr)
        subprocess.run(["docker", "stack", "rm", STACK], check=True, stdout=subprocess.DEVNULL)
        wait_until(lambda: not docker.networks.list(names=[f"{STACK}-net"]) or _remove_gone(docker, f"{STACK}-net"),
                   60, interval=0.5, what="the stack's network is gone")
        docker.images.remove(hub_image, force=True)


def _remove_gone(docker, name):
    try:
        for net in docker.networks.list(names=[name]):
            net.remove()
        return True
    except Exception:
        return False


def test_overlay_routing_by_service_name_with_the_stack_file(stack, swarm):
    hub, env = stack
    user = hub.create_user(f"u{uuid.uuid4().hex[:8]}")
    hub.start_server(user, timeout=120)
    name = f"{env['JUPYTERHUB_CONTAINER_PREFIX']}-{user}"
    service = swarm.service(name)
    assert service["Spec"]["EndpointSpec"]["Mode"] == "dnsrr"
    networks = service["Spec"]["TaskTemplate"]["Networks"]
    assert [n["Target"] for n in networks] == [swarm.host.networks.get(env["DOCKER_NETWORK_NAME"]).id]
    assert swarm.running_task(name)["NodeID"] == swarm.node2_id
    # Through the hub container's proxy, over the overlay, to node 2.
    assert hub.route_status(user) == 200

    r = hub.api("POST", f"/users/{quote(user)}/restart-server")
    assert r.status_code == 200, r.text
    assert not r.json()["route_updated"], "the service's name is the route: it survives the restart"
    assert hub.route_status(user) == 200
    hub.stop_server(user)
    assert swarm.service(name) is None


def test_a_driver_backed_home_is_not_pinned_and_moves_with_the_server(swarm, tmp_path_factory, docker, image, username):
    """A home on storage every node reaches (``local`` with bind options, as NFS would be)
    pins nothing: the server starts on another node and finds its files there."""
    place = f"{PREFIX}-place"
    device = swarm.shared / "home"
    device.mkdir()
    moving = swarm_hub(
        tmp_path_factory.mktemp("swarm-moving-hub"), swarm, docker.images.get(image).id, name="swarm-moving-hub",
        constraint=f"node.labels.{place}==here", env={"RS_SWARM_HOME_DEVICE": str(device)},
    )
    swarm.label_node(swarm.node2_id, place, "here")
    try:
        moving.start()
        started(moving, swarm, username)
        service = swarm.service(service_name(username))
        assert swarm.running_task(service_name(username))["NodeID"] == swarm.node2_id
        constraints = service["Spec"]["TaskTemplate"]["Placement"]["Constraints"]
        assert not [c for c in constraints if c.startswith("node.id")], constraints
        (home,) = service["Spec"]["TaskTemplate"]["ContainerSpec"]["Mounts"]
        assert home["VolumeOptions"]["DriverConfig"]["Options"]["device"] == str(device)
        write_home(swarm, username, "/home/jovyan/kept.txt", "kept")
        moving.stop_server(username)

        # Only the manager may run it now: the server moves, with its home.
        swarm.label_node(swarm.node2_id, place)
        swarm.label_node(swarm.manager_id, place, "here")
        moving.start_server(username, timeout=120)
        assert moving.route_status(username) == 200
        c = swarm.task_container(service_name(username), swarm.manager_id)
        assert c.exec_run(["cat", "/home/jovyan/kept.txt"], user="jovyan").output == b"kept"
        assert (device / "kept.txt").read_text() == "kept", "the file is not on the shared storage"
        assert "pinned to node" not in moving.log()
        moving.stop_server(username)
    finally:
        moving.stop()
        for node in (swarm.node2_id, swarm.manager_id):
            swarm.label_node(node, place)


def test_node2_down_shows_the_server_stopped_and_a_start_names_the_node(swarm, hub, docker, username):
    started(hub, swarm, username)
    write_home(swarm, username, "/home/jovyan/kept.txt", "kept")
    tic = time.monotonic()
    docker.containers.get(NODE2).kill()  # the node fails
    try:
        hub.wait_for(lambda: hub.server_model(username) is None, 90, interval=0.5)
        shown_stopped = time.monotonic() - tic
        # Swarm marks a node down after its heartbeats stop (about 15 s); then one poll.
        assert shown_stopped < 60, shown_stopped
        r = hub.api("POST", f"/users/{quote(username)}/server")
        assert r.status_code == 409, r.text
        message = r.json()["message"]
        assert NODE2 in message and "down" in message, message
        assert swarm.service(service_name(username)) is None, "a start created a service elsewhere"
    finally:
        swarm.start_node2()
    # Back: the server starts there again, on the home it had.
    hub.start_server(username, timeout=120)
    assert swarm.running_task(service_name(username))["NodeID"] == swarm.node2_id
    assert read_in_task(swarm, username, "/home/jovyan/kept.txt") == "kept"

