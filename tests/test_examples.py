"""examples/jupyterhub_config.py, loaded as is by a real hub; only the image, ports,
network and names come from the environment it documents."""

import secrets
import uuid
from pathlib import Path

import pytest

from tests.support.dockerutil import volume_file, volume_names, write_file
from tests.support.hubproc import PREFIX, HubProcess, free_port

ROOT = Path(__file__).parent.parent
EXAMPLE_PREFIX = f"{PREFIX}-example"


@pytest.fixture(scope="module")
def network(docker):
    net = docker.networks.create(f"{PREFIX}-example-net", driver="bridge")
    net.reload()
    yield net
    net.remove()


@pytest.fixture(scope="module")
def example_hub(tmp_path_factory, docker, image, network):
    token = secrets.token_hex(16)
    workdir = tmp_path_factory.mktemp("example-hub")
    hub = HubProcess(
        workdir,
        image,
        name="example-hub",
        config=ROOT / "examples" / "jupyterhub_config.py",
        env={
            "SINGLEUSER_IMAGE": image,
            "DOCKER_NETWORK_NAME": network.name,
            # The hub runs on the host here: containers reach it at the network's gateway.
            "HUB_CONNECT_IP": network.attrs["IPAM"]["Config"][0]["Gateway"],
            "JUPYTERHUB_HUB_PORT": str(free_port()),
            "JUPYTERHUB_DATA_DIR": str(workdir),
            "JUPYTERHUB_CONTAINER_PREFIX": EXAMPLE_PREFIX,
            "RESETTABLE_OPS_TOKEN": token,
        },
    )
    hub.env["JUPYTERHUB_BIND_URL"] = hub.url
    hub.admin_token = token
    hub.start()
    yield hub
    hub.stop()
    for c in docker.containers.list(all=True, filters={"name": EXAMPLE_PREFIX}):
        c.remove(force=True)
    for v in docker.volumes.list(filters={"name": EXAMPLE_PREFIX}):
        v.remove(force=True)


def test_example_config_restart_and_reset(example_hub, docker, image):
    hub = example_hub
    user = hub.create_user(f"u{uuid.uuid4().hex[:6]}")
    hub.start_server(user)
    c = docker.containers.get(f"{EXAMPLE_PREFIX}-{user}")
    assert c.attrs["HostConfig"]["NetworkMode"] == hub.env["DOCKER_NETWORK_NAME"]
    write_file(c, "/home/jovyan/marker", "home")
    write_file(c, "/home/jovyan/work/marker", "work")

    r = hub.api("POST", f"/users/{user}/restart-server")
    assert r.status_code == 200, r.text
    assert r.json()["container_id"] == c.id
    assert hub.route_status(user) == 200

    body = hub.api("GET", f"/users/{user}/home-volume").json()
    assert body["volume"]["name"] == f"{EXAMPLE_PREFIX}-{user}_home"
    assert [v["name"] for v in body["kept_volumes"]] == [
        f"{EXAMPLE_PREFIX}-{user}_cache",
        f"{EXAMPLE_PREFIX}-{user}_workspace",
    ]

    hub.stop_server(user)
    r = hub.api("DELETE", f"/users/{user}/reset-home-volume")
    assert r.status_code == 200, r.text
    assert f"{EXAMPLE_PREFIX}-{user}_home" not in volume_names(docker)
    assert volume_file(docker, image, f"{EXAMPLE_PREFIX}-{user}_workspace", "marker") == "work"
