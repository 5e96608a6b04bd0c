"""A real JupyterHub process (with configurable-http-proxy) for the tests, and Docker helpers.

Every container and volume a test makes is named with PREFIX, so cleanup removes
exactly those and nothing else on the machine.
"""

import os
import secrets
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import docker
import httpx

from tests.support import ROOT  # the hub's config file imports tests.support.hub_config from it

HERE = Path(__file__).parent
PREFIX = os.environ.get("RS_TEST_PREFIX", "rstest")
# The containers and volumes of the hub that runs examples/jupyterhub_config.py as is.
EXAMPLE_PREFIX = f"{PREFIX}-example"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def docker_bridge_ip():
    """The host's address on docker0, where containers reach a hub running on the host."""
    out = subprocess.run(
        ["ip", "-4", "-o", "addr", "show", "docker0"], capture_output=True, text=True, check=True
    ).stdout
    return out.split("inet ")[1].split("/")[0]


def cleanup_docker(client, prefix=PREFIX):
    """Remove every container and volume whose name starts with prefix."""
    for container in client.containers.list(all=True, filters={"name": prefix}):
        if container.name.startswith(prefix):
            container.remove(force=True)
    for volume in client.volumes.list(filters={"name": prefix}):
        if volume.name.startswith(prefix):
            volume.remove(force=True)


class HubClient:
    """The REST API of a hub at url, as its admin service."""

    def __init__(self, url, admin_token, password=None):
        self.url = url
        self.admin_token = admin_token
        self.password = password

    def api(self, method, path, token=None, timeout=120, **kwargs):
        headers = kwargs.pop("headers", {})
        if token is not False:
            headers["Authorization"] = f"token {token or self.admin_token}"
        return httpx.request(
            method, f"{self.url}/hub/api{path}", headers=headers, timeout=timeout, **kwargs
        )

    def create_user(self, name):
        r = self.api("POST", f"/users/{quote(name)}")
        assert r.status_code in (201, 409), r.text
        return name

    def user_token(self, name):
        r = self.api("POST", f"/users/{quote(name)}/tokens", json={"note": "test"})
        assert r.status_code == 201, r.text
        return r.json()["token"]

    def server_model(self, user, server=""):
        r = self.api("GET", f"/users/{quote(user)}")
        assert r.status_code == 200, r.text
        return r.json()["servers"].get(server)

    def server_path(self, user, server=""):
        if server:
            return f"/users/{quote(user)}/servers/{quote(server)}"
        return f"/users/{quote(user)}/server"

    def start_server(self, user, server="", timeout=90):
        r = self.api("POST", self.server_path(user, server))
        assert r.status_code in (201, 202), r.text
        self.wait_for(lambda: (self.server_model(user, server) or {}).get("ready"), timeout)
        return self.server_model(user, server)

    def stop_server(self, user, server="", timeout=60):
        r = self.api("DELETE", self.server_path(user, server))
        assert r.status_code in (202, 204), r.text
        self.wait_for(lambda: self.server_model(user, server) is None, timeout)

    def route_status(self, user, server=""):
        """HTTP status of the single-user server's API, through the proxy."""
        path = f"/user/{quote(user)}/{quote(server) + '/' if server else ''}api"
        try:
            return httpx.get(self.url + path, timeout=10).status_code
        except httpx.HTTPError:
            return None

    def route_ok(self, path):
        try:
            return httpx.get(self.url + path, timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    @staticmethod
    def wait_for(predicate, timeout, interval=0.2):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(interval)
        raise TimeoutError(f"condition not met within {timeout}s")


class HubProcess(HubClient):
    """`jupyterhub -f tests/support/jupyterhub_config.py` in its own directory, on free ports."""

    def __init__(
        self, workdir, image, python=sys.executable, name="hub", config=None, env=None, **settings
    ):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.python = python
        self.name = name
        self.config = config or HERE / "jupyterhub_config.py"
        self.port = free_port()
        super().__init__(
            f"http://127.0.0.1:{self.port}", secrets.token_hex(16), password=secrets.token_hex(8)
        )
        self.ops_token = secrets.token_hex(16)
        self.reader_token = secrets.token_hex(16)
        self.env = dict(
            os.environ,
            RS_IMAGE=image,
            RS_PORT=str(self.port),
            RS_HUB_PORT=str(free_port()),
            RS_PROXY_API_PORT=str(free_port()),
            RS_HUB_CONNECT_IP=docker_bridge_ip(),
            RS_PASSWORD=self.password,
            RS_ADMIN_TOKEN=self.admin_token,
            RS_OPS_TOKEN=self.ops_token,
            RS_READER_TOKEN=self.reader_token,
            RS_PREFIX=PREFIX,
            PYTHONPATH=os.pathsep.join(
                [str(ROOT)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])
            ),
            **{f"RS_{k.upper()}": str(v) for k, v in settings.items()},
        )
        self.env.update(env or {})
        self.log_path = self.workdir / "jupyterhub.log"
        self.proc = None

    def start(self, timeout=60):
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [self.python, "-m", "jupyterhub", "-f", str(self.config)],
            cwd=self.workdir,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.log()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/hub/api/", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not come up:\n{self.log()[-3000:]}")

    def kill(self):
        """SIGKILL the hub, as a crash: no cleanup, its servers and database stay as they are."""
        self.proc.kill()
        self.proc.wait()
        self._log.close()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self._log.close()

    def log(self):
        return self.log_path.read_text(errors="replace")


def quote(name):
    from urllib.parse import quote as _quote

    return _quote(name, safe="")


def docker_client():
    client = docker.from_env()
    client.ping()
    return client


def hub_pythons():
    """The Python of every JupyterHub major under test: this venv's, plus RS_HUB5_PYTHON."""
    pythons = {"hub6": os.environ.get("RS_HUB6_PYTHON") or None}
    if os.environ.get("RS_HUB5_PYTHON"):
        pythons["hub5"] = os.environ["RS_HUB5_PYTHON"]
    return pythons


def make_hub(tmp_path_factory, image, name, python=None, **settings):
    hub = HubProcess(
        tmp_path_factory.mktemp(name), image, python=python or sys.executable, name=name, **settings
    )
    return hub.start()


@contextmanager
def running_hub(tmp_path_factory, docker, image, name, **settings):
    """A hub for the duration of a fixture; its containers and volumes go with it."""
    hub = make_hub(tmp_path_factory, image, name, **settings)
    try:
        yield hub
    finally:
        hub.stop()
        cleanup_docker(docker)
