import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.support.hubproc import cleanup_docker, docker_client, hub_pythons, running_hub

ROOT = Path(__file__).parent.parent


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
