"""examples/jupyterhub_config.py, loaded as is by a real hub; only the image, ports,
network and names come from the environment it documents."""

import uuid

from tests.support.dockerutil import volume_file, volume_names, write_file
from tests.support.hubproc import EXAMPLE_PREFIX


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
