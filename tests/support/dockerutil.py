"""Reading and writing files in real containers and volumes, for assertions."""

import uuid

from tests.support.hubproc import PREFIX


def container_of(docker, hub, user, server=""):
    """The Docker container behind a running server, found by the hub's own name template."""
    name = f"{PREFIX}-{docker_escape(user)}--{docker_escape(server)}"
    return docker.containers.get(name)


def docker_escape(text):
    from dockerspawner import DockerSpawner

    return DockerSpawner._escape(text)


def write_file(container, path, content):
    result = container.exec_run(["sh", "-c", f"printf %s '{content}' > {path}"], user="jovyan")
    assert result.exit_code == 0, result.output


def read_file(container, path):
    result = container.exec_run(["cat", path], user="jovyan")
    return result.output.decode() if result.exit_code == 0 else None


def volume_file(docker, image, volume, path):
    """Content of path inside a volume, read by a throwaway container; None if absent."""
    # Read the logs after the container has exited: streaming them from a container
    # that exits at once can miss its output.
    probe = docker.containers.run(
        image,
        ["sh", "-c", f"cat /v/{path} 2>/dev/null || true"],
        entrypoint=[],
        volumes={volume: {"bind": "/v", "mode": "ro"}},
        name=f"{PREFIX}-probe-{uuid.uuid4().hex[:8]}",
        user="root",
        detach=True,
    )
    try:
        assert probe.wait(timeout=60)["StatusCode"] == 0
        out = probe.logs(stdout=True, stderr=False)
    finally:
        probe.remove(force=True)
    return out.decode() or None


def volume_names(docker):
    return {v.name for v in docker.volumes.list()}


def home_mount(container):
    """The volume Docker really mounted at /home/jovyan."""
    container.reload()
    for mount in container.attrs["Mounts"]:
        if mount["Destination"] == "/home/jovyan":
            return mount["Name"]
    return None
