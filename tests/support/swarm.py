"""A real two-node Docker Swarm on this machine, for tests/e2e/test_swarm.py and benchmarks/bench_swarm.py.

Node 1 is the host's own engine, the manager, advertising on the gateway of a bridge
network of its own (127.0.0.1 cannot carry a second node). Node 2 is a
docker-in-docker container on that network (scripts/build-swarm-node.sh), started
with every capability but CAP_SYS_RESOURCE (this engine's bounding set lacks it, so
``--privileged`` fails) and seccomp, apparmor and systempaths unconfined. Its engine
listens on a socket in a host folder too: the hub's ``swarm_node_engines`` and the
tests' own checks reach node 2 there. The single-user image reaches node 2 by
``docker save | docker load`` (its ID is the same there).

Both nodes see one host folder at the same path (``TwoNodeSwarm.shared``), as they would
an NFS export: the storage of driver-backed volumes (``local`` with bind options).

``TwoNodeSwarm.close()`` leaves nothing behind, also after a failed set-up: services,
node 2 and its data, swarm mode (``docker swarm leave --force``), docker_gwbridge, the
network, the socket folder. Everything is named with PREFIX.
"""

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import docker
import httpx

from tests.support import ROOT
from tests.support.hubproc import PREFIX, HubProcess, quote

# Subnets to try for the swarm's bridge, first free wins: clear of docker0's pools, of
# ThrowawayDockerd's (10.213-249) and of swarm's overlay pool (10.0.x).
SUBNETS = [f"10.{n}.0" for n in range(190, 213)]
NODE2 = f"{PREFIX}-swarm-node2"
NETWORK = f"{PREFIX}-swarm-net"
NODE2_DATA = f"{PREFIX}-swarm-node2-lib"


def build_node_image():
    return subprocess.run(
        [str(ROOT / "scripts" / "build-swarm-node.sh")], stdout=subprocess.PIPE, text=True, check=True
    ).stdout.strip()


def _free_subnet():
    taken = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True, check=True).stdout
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True, check=True).stdout
    return next(n for n in SUBNETS if f" {n}." not in taken and f"{n}.0/" not in routes)


def wait_until(predicate, timeout, interval=0.2, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"{what} not met within {timeout}s")


class TwoNodeSwarm:
    """The host's engine as manager, plus node 2; ``with TwoNodeSwarm(host_client, image) as swarm:``."""

    def __init__(self, host, image):
        self.host = host  # docker.DockerClient of the host's engine
        self.image = image  # the single-user image, loaded onto node 2
        self.sockdir = Path(tempfile.mkdtemp(prefix=f"{PREFIX}-swarm-", dir="/tmp"))
        self.node2_url = f"unix://{self.sockdir}/docker.sock"
        # Storage every node reaches at the same path, as an NFS export would be.
        self.shared = Path(tempfile.mkdtemp(prefix=f"{PREFIX}-swarm-shared-", dir="/tmp"))
        self.node2 = None  # docker.DockerClient of node 2's engine
        self.gateway = self.node2_ip = None
        self.manager_id = self.node2_id = None

    # --- set-up ---------------------------------------------------------------------

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    def start(self):
        node_image = build_node_image()
        swarm_state = self.host.info()["Swarm"]["LocalNodeState"]
        if swarm_state != "inactive":
            leftover = any(n["Description"]["Hostname"] == NODE2 for n in self.host.api.nodes())
            if not leftover:
                raise RuntimeError(f"The host's engine is in swarm mode already ({swarm_state}); not touching it.")
            self.close()  # a crashed run of ours
        self._remove_leftovers()
        net = _free_subnet()
        self.gateway, self.node2_ip = f"{net}.1", f"{net}.2"
        ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=f"{net}.0/24", gateway=self.gateway)])
        self.host.networks.create(NETWORK, driver="bridge", ipam=ipam)
        self.host.swarm.init(advertise_addr=self.gateway, listen_addr=f"{self.gateway}:2377")
        self.manager_id = self.host.info()["Swarm"]["NodeID"]
        # The CLI: systempaths=unconfined is no HostConfig field, the CLI turns it into
        # empty MaskedPaths and ReadonlyPaths.
        subprocess.run(
            [
                "docker", "run", "-d", "--name", NODE2, "--hostname", NODE2,
                "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
                "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
                "--security-opt", "systempaths=unconfined",
                "--tmpfs", "/run", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
                "-v", f"{NODE2_DATA}:/var/lib/docker", "-v", f"{self.sockdir}:/rs-host",
                "-v", f"{self.shared}:{self.shared}",
                # A fixed address: node 2 keeps it when it is stopped and started again.
                "--network", NETWORK, "--ip", self.node2_ip,
                node_image, "dockerd", "-H", "unix:///var/run/docker.sock", "-H", "unix:///rs-host/docker.sock",
            ],
            check=True, stdout=subprocess.DEVNULL,
        )
        wait_until(self._node2_answers, 60, what="node 2's engine answers")
        token = self.host.swarm.attrs["JoinTokens"]["Worker"]
        self.node2.swarm.join(
            remote_addrs=[f"{self.gateway}:2377"], join_token=token, advertise_addr=self.node2_ip
        )
        self.node2_id = self.node2.info()["Swarm"]["NodeID"]
        wait_until(lambda: self.node_state(self.node2_id) == "ready", 60, what="node 2 is ready")
        self.load_image(self.image)

    def _node2_answers(self):
        try:
            self.node2 = docker.DockerClient(base_url=self.node2_url, timeout=60)
            return self.node2.ping()
        except Exception:
            return False

    def load_image(self, ref):
        save = subprocess.Popen(["docker", "save", ref], stdout=subprocess.PIPE)
        load = subprocess.run(
            ["docker", "-H", self.node2_url, "load", "-q"], stdin=save.stdout, capture_output=True, text=True, timeout=600
        )
        save.stdout.close()
        if save.wait(60) != 0 or load.returncode != 0:
            raise RuntimeError(f"docker save | docker load of {ref} onto node 2 failed: {load.stderr}")
        assert self.node2.images.get(ref).id == self.host.images.get(ref).id

    # --- what the tests need --------------------------------------------------------

    def node_state(self, node_id):
        try:
            return self.host.api.inspect_node(node_id)["Status"]["State"]
        except docker.errors.APIError:
            return None

    def node_engines(self):
        """The hub's ``swarm_node_engines``: node 2 by its hostname."""
        return {NODE2: {"base_url": self.node2_url}}

    def service(self, name):
        try:
            return self.host.api.inspect_service(name)
        except docker.errors.NotFound:
            return None

    def tasks(self, name):
        return self.host.api.tasks(filters={"service": name})

    def running_task(self, name):
        running = [t for t in self.tasks(name) if t["Status"]["State"] == "running"]
        assert len(running) <= 1, running
        return running[0] if running else None

    def task_container(self, name, node_id=None):
        """The container of the service's running task, on node 2 (or on node_id's node)."""
        node_id = node_id or self.node2_id
        task = self.running_task(name)
        assert task and task["NodeID"] == node_id, task
        engine = self.node2 if node_id == self.node2_id else self.host
        return engine.containers.get(task["Status"]["ContainerStatus"]["ContainerID"])

    def label_node(self, node_id, key, value=None):
        """Set (or with value None remove) a node label, as ``docker node update --label-add``."""
        node = self.host.api.inspect_node(node_id)
        spec = node["Spec"]
        labels = dict(spec.get("Labels") or {})
        if value is None:
            labels.pop(key, None)
        else:
            labels[key] = value
        spec["Labels"] = labels
        self.host.api.update_node(node_id, node["Version"]["Index"], spec)

    def stop_node2(self):
        self.host.containers.get(NODE2).stop(timeout=10)

    def start_node2(self):
        self.host.containers.get(NODE2).start()
        wait_until(self._node2_answers, 60, what="node 2's engine answers again")
        wait_until(lambda: self.node_state(self.node2_id) == "ready", 90, what="node 2 is ready again")

    # --- tear-down ------------------------------------------------------------------

    def _remove_leftovers(self):
        for name in (NODE2,):
            try:
                self.host.containers.get(name).remove(force=True)
            except docker.errors.NotFound:
                pass
        for volume in (NODE2_DATA,):
            try:
                self.host.volumes.get(volume).remove(force=True)
            except docker.errors.NotFound:
                pass
        for net in self.host.networks.list(names=[NETWORK]):
            net.remove()

    def close(self):
        """Leave nothing behind, whatever state the set-up reached."""
        errors = []

        def attempt(what, f):
            try:
                f()
            except docker.errors.NotFound:
                pass
            except Exception as e:
                errors.append(f"{what}: {e}")

        if self.host.info()["Swarm"]["LocalNodeState"] != "inactive":
            for s in self.host.api.services():
                if s["Spec"]["Name"].startswith((PREFIX, "rs-helper-")):
                    attempt("remove service", lambda s=s: self.host.api.remove_service(s["ID"]))
        attempt("remove node 2", lambda: self.host.containers.get(NODE2).remove(force=True))
        if self.host.info()["Swarm"]["LocalNodeState"] != "inactive":
            attempt("leave the swarm", lambda: self.host.swarm.leave(force=True))
        # swarm leaves docker_gwbridge behind (and it may outlive the leave for a moment).
        for net in self.host.networks.list(names=["docker_gwbridge", "ingress"]) + self.host.networks.list(names=[PREFIX]):
            if net.name in ("docker_gwbridge", "ingress") or net.name.startswith(PREFIX):
                attempt(f"remove network {net.name}", lambda net=net: _remove_network(net))
        attempt("remove node 2's data", lambda: _remove_volume(self.host, NODE2_DATA))
        for c in self.host.containers.list(all=True, filters={"name": PREFIX}):
            if c.name.startswith(PREFIX):
                attempt(f"remove {c.name}", lambda c=c: c.remove(force=True))
        for v in self.host.volumes.list(filters={"name": PREFIX}):
            if v.name.startswith(PREFIX):
                attempt(f"remove volume {v.name}", lambda v=v: v.remove(force=True))
        shutil.rmtree(self.sockdir, ignore_errors=True)
        shutil.rmtree(self.shared, ignore_errors=True)
        state = self.host.info()["Swarm"]["LocalNodeState"]
        left = [n.name for n in self.host.networks.list(names=["docker_gwbridge", "ingress", PREFIX])
                if n.name in ("docker_gwbridge", "ingress") or n.name.startswith(PREFIX)]
        if errors or state != "inactive" or left:
            raise RuntimeError(f"swarm tear-down incomplete (swarm {state}, networks {left}): {errors}")


def _remove_network(net):
    for _ in range(50):
        try:
            net.remove()
            return
        except docker.errors.NotFound:
            return
        except docker.errors.APIError:
            time.sleep(0.2)  # endpoints of removed containers go a moment later
    net.remove()


def _remove_volume(client, name):
    try:
        client.volumes.get(name).remove(force=True)
    except docker.errors.NotFound:
        pass


# --- the hub ----------------------------------------------------------------------------


def configure_swarm_hub(c):
    """The swarm test hub's config: tests/support/hub_config.py's, with ResettableSwarmSpawner
    (by its entry point name), host-mode ports, node 2's engine and a placement on node 2."""
    from tests.support.hub_config import configure

    env = os.environ
    configure(c, spawner_class="resettable-swarm")
    # Service names are DNS labels: DockerSpawner's own template, without a trailing "--".
    c.DockerSpawner.pop("name_template", None)
    c.DockerSpawner.pop("remove", None)  # a service's containers always go with it
    c.ResettableDockerSpawner.action_rate_limit = 0
    c.ResettableSwarmSpawner.swarm_node_engines = json.loads(env["RS_SWARM_NODE_ENGINES"])
    c.ResettableSwarmSpawner.swarm_pending_timeout = float(env.get("RS_SWARM_PENDING_TIMEOUT", "20"))
    if env.get("RS_SWARM_CONSTRAINT"):
        c.SwarmSpawner.extra_placement_spec = {"constraints": [env["RS_SWARM_CONSTRAINT"]]}
    if env.get("RS_SWARM_HOME_DEVICE"):
        # One driver-backed home (``local`` with bind options onto storage every node
        # reaches), the same folder for every server: for a hub of one user.
        c.DockerSpawner.volumes = {"{prefix}-{username}--{servername}-home": "/home/jovyan"}
        c.SwarmSpawner.volume_driver = "local"
        c.SwarmSpawner.volume_driver_options = {"type": "none", "o": "bind", "device": env["RS_SWARM_HOME_DEVICE"]}


HUB_CONFIG = """\
# Written by tests/support/swarm.py: the swarm test hub's `jupyterhub -f` file.
from tests.support.swarm import configure_swarm_hub

configure_swarm_hub(get_config())  # noqa: F821
"""


def swarm_hub(workdir, swarm, image_id, name="swarm-hub", hub_class=HubProcess, constraint=f"node.hostname=={NODE2}",
              env=None, **settings):
    """A hub (not started) whose servers are services placed on node 2 (or by constraint),
    routed by host-mode ports."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "jupyterhub_config.py"
    config.write_text(HUB_CONFIG)
    return hub_class(
        workdir,
        image_id,
        name=name,
        config=config,
        env={
            # Tasks on both nodes reach the hub at the manager's address on the swarm's bridge.
            "RS_HUB_CONNECT_IP": swarm.gateway,
            "RS_SWARM_NODE_ENGINES": json.dumps(swarm.node_engines()),
            "RS_SWARM_CONSTRAINT": constraint,
            **(env or {}),
        },
        **settings,
    )


def restart(hub, user, timeout=120):
    return hub.api("POST", f"/users/{quote(user)}/restart-server", timeout=timeout)


def direct_status(url):
    try:
        return httpx.get(url, timeout=5).status_code
    except httpx.HTTPError:
        return None
