"""compose.yml, validated and really brought up: the hub in a container on its own
network, user containers beside it, restart and reset through the published port.

No registry is reachable here, so the hub image builds on the offline base from
`scripts/build-image.sh hub-base`, passed in through the JUPYTERHUB_IMAGE build argument.
"""

import os
import secrets
import shutil
import subprocess
import sys
import uuid

import pytest

from tests.support import ROOT
from tests.support.dockerutil import volume_file, volume_names, write_file
from tests.support.hubproc import PREFIX, HubClient, free_port

PROJECT = f"{PREFIX}-compose"


def compose_command():
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    pytest.fail("Neither `docker compose` nor docker-compose is installed; run `make test`.")


@pytest.fixture(scope="module")
def hub_base(docker):
    return subprocess.run(
        [str(ROOT / "scripts" / "build-image.sh"), "hub-base"],
        env=dict(os.environ, PYTHON=sys.executable),
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    ).stdout.strip()


@pytest.fixture(scope="module")
def compose(docker, image, hub_base):
    token = secrets.token_hex(16)
    port = free_port()
    env = dict(
        os.environ,
        JUPYTERHUB_IMAGE=hub_base,
        SINGLEUSER_IMAGE=image,
        HUB_IMAGE=f"{PROJECT}-hub:latest",
        HUB_PORT=str(port),
        DOCKER_NETWORK_NAME=f"{PROJECT}-net",
        JUPYTERHUB_CONTAINER_PREFIX=f"{PROJECT}-user",
        RESETTABLE_OPS_TOKEN=token,
    )
    base = compose_command() + ["-p", PROJECT, "-f", str(ROOT / "compose.yml")]

    def run(*args, **kwargs):
        return subprocess.run(base + list(args), env=env, cwd=ROOT, check=True, **kwargs)

    run("config", "-q")
    run("build", capture_output=True)
    try:
        run("up", "-d")
        hub = HubClient(f"http://127.0.0.1:{port}", token)
        hub.wait_for(lambda: hub.route_ok("/hub/api/"), 90)
        yield hub, env
    finally:
        logs = subprocess.run(base + ["logs", "--no-color"], env=env, cwd=ROOT, capture_output=True, text=True)
        (ROOT / "artifacts").mkdir(exist_ok=True)
        (ROOT / "artifacts" / "compose-hub.log").write_text(logs.stdout + logs.stderr)
        run("down", "-v", capture_output=True)
        for c in docker.containers.list(all=True, filters={"name": PROJECT}):
            c.remove(force=True)
        for v in docker.volumes.list(filters={"name": PROJECT}):
            v.remove(force=True)
        docker.images.remove(f"{PROJECT}-hub:latest", force=True)


def test_compose_file_needs_only_the_two_images():
    """As shipped it names no registry: without the two images it refuses, saying which; with them it validates."""
    command = compose_command() + ["-f", str(ROOT / "compose.yml"), "config", "-q"]
    env = {k: v for k, v in os.environ.items() if k not in ("JUPYTERHUB_IMAGE", "SINGLEUSER_IMAGE")}
    refused = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert refused.returncode != 0
    assert "JUPYTERHUB_IMAGE" in refused.stderr + refused.stdout
    images = dict(env, JUPYTERHUB_IMAGE="example/hub:5", SINGLEUSER_IMAGE="example/singleuser:1")
    subprocess.run(command, cwd=ROOT, env=images, check=True)


def test_spawn_restart_reset_inside_compose(compose, docker, image):
    hub, env = compose
    prefix = env["JUPYTERHUB_CONTAINER_PREFIX"]
    user = hub.create_user(f"u{uuid.uuid4().hex[:6]}")
    hub.start_server(user)
    c = docker.containers.get(f"{prefix}-{user}")
    assert env["DOCKER_NETWORK_NAME"] in c.attrs["NetworkSettings"]["Networks"]
    write_file(c, "/home/jovyan/work/marker", "work")

    r = hub.api("POST", f"/users/{user}/restart-server")
    assert r.status_code == 200, r.text
    assert r.json()["container_id"] == c.id
    # Through the compose proxy over the internal network.
    assert hub.route_status(user) == 200

    hub.stop_server(user)
    r = hub.api("DELETE", f"/users/{user}/reset-home-volume")
    assert r.status_code == 200, r.text
    assert f"{prefix}-{user}_home" not in volume_names(docker)
    assert volume_file(docker, image, f"{prefix}-{user}_workspace", "marker") == "work"

    # Hub state lives on the named volume.
    assert any(v.name.endswith("_hub-data") and v.name.startswith(PROJECT) for v in docker.volumes.list())
