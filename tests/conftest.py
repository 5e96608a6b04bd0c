"""Fixtures for the tests that need a real Docker Engine and hub (tests/integration/,
tests/e2e/). Each starts only when a test asks for it: tests/unit/ asks for none, so
it runs with no engine. Helpers live in tests/support/, not here."""

import os
import secrets
import subprocess
import sys
import uuid

import pytest

from tests.support import ROOT
from tests.support.hubproc import (
    EXAMPLE_PREFIX,
    PREFIX,
    HubProcess,
    cleanup_docker,
    docker_client,
    free_port,
    hub_pythons,
    running_hub,
)


@pytest.fixture(scope="session")
def docker():
    """The real Docker Engine. No engine is a failure, never a skip."""
    try:
        client = docker_client()
    except Exception as e:
        pytest.fail(f"The Docker Engine is not reachable ({e}); run `make test`, which starts it.")
    cleanup_docker(client)
    yield client
    cleanup_docker(client)


@pytest.fixture(scope="session")
def image(docker):
    """The single-user image: RS_TEST_IMAGE, or built locally (cached by its inputs)."""
    ref = os.environ.get("RS_TEST_IMAGE")
    if not ref:
        ref = subprocess.run(
            [str(ROOT / "scripts" / "build-image.sh")],
            env=dict(os.environ, PYTHON=sys.executable),
            stdout=subprocess.PIPE,
            text=True,
            check=True,
        ).stdout.strip()
    docker.images.get(ref)
    return ref


@pytest.fixture(scope="module")
def hub(tmp_path_factory, docker, image):
    """A hub with DockerSpawner's default remove=False, poll_interval=1."""
    with running_hub(tmp_path_factory, docker, image, "hub") as h:
        yield h


@pytest.fixture(scope="module", params=sorted(hub_pythons()))
def versioned_hub(request, tmp_path_factory, docker, image):
    """Like hub, once for every JupyterHub major under test."""
    python = hub_pythons()[request.param]
    with running_hub(tmp_path_factory, docker, image, request.param, python=python) as h:
        yield h


@pytest.fixture
def username():
    """A fresh user name per test, so tests never share servers or volumes."""
    return f"u{uuid.uuid4().hex[:8]}"


# --- examples/jupyterhub_config.py, as is (integration/test_examples.py, e2e/test_lab.py)


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
