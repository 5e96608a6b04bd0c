"""ResettableSwarmSpawner's configuration logic, without a swarm (no Docker call is made).

Where stock SwarmSpawner breaks (SWARM-NOTES §5): the ``mounts`` trait, named volumes
as bind mounts, ``remove``; and which volumes pin a server to a node.
"""

import asyncio
import logging
from types import SimpleNamespace

import pytest
from traitlets.config import Config

from resettable_spawner import ResettableSwarmSpawner
from resettable_spawner.errors import DockerUnreachable
from resettable_spawner.swarm_engine import ClientCall, SwarmEngine


def spawner(user="alice", config=None, **traits):
    orm_spawner = SimpleNamespace(name="", display_name="", server=None)
    return ResettableSwarmSpawner(user=SimpleNamespace(name=user), orm_spawner=orm_spawner, config=config, **traits)


def test_the_mro_puts_the_resettable_layers_over_the_fixed_swarm_base():
    names = [c.__name__ for c in ResettableSwarmSpawner.__mro__]
    assert names[:6] == [
        "ResettableSwarmSpawner", "ResettableDockerSpawner", "VolumeSpawner", "EngineSpawner",
        "SwarmServiceSpawner", "SwarmSpawner",
    ]


def test_mounts_is_dockerspawners_config_trait_again():
    c = Config()
    c.DockerSpawner.mounts = [{"source": "m-{username}", "target": "/home/jovyan", "type": "volume"}]
    s = spawner(config=c)
    assert s.mounts == [{"source": "m-{username}", "target": "/home/jovyan", "type": "volume"}]
    assert s.home_volume_name == "m-alice", "mount_binds works (it raised KeyError under SwarmSpawner)"


def test_named_volumes_are_mounted_as_volumes_and_pin_the_server():
    s = spawner(volumes={"jl-{username}_home": "/home/jovyan", "shared": "/srv/shared", "/data/{username}": "/data"})
    mounts = {m["Target"]: m for m in s.service_mounts()}
    assert mounts["/home/jovyan"]["Type"] == "volume" and mounts["/home/jovyan"]["Source"] == "jl-alice_home"
    assert mounts["/srv/shared"]["Type"] == "volume"
    assert mounts["/data"]["Type"] == "bind"
    # Only the per-user local volume pins; the shared one and the host path do not.
    assert s.pinned_volumes() == ["jl-alice_home"]
    assert s.pin == "", "not before the first start has a node"
    s.swarm_node = "n2"
    assert s.pin == "n2"


def test_driver_backed_volumes_need_no_pin():
    s = spawner(
        volumes={"jl-{username}_home": "/home/jovyan"},
        volume_driver="local",
        volume_driver_options={"type": "nfs", "o": "addr=10.0.0.9", "device": ":/homes"},
    )
    s.swarm_node = "n2"
    assert s.pinned_volumes() == [] and s.pin == ""
    (home,) = s.service_mounts()
    assert home["VolumeOptions"]["DriverConfig"]["Options"]["type"] == "nfs"


def test_the_node_outlives_stops_in_the_state():
    s = spawner(volumes={"jl-{username}_home": "/home/jovyan"})
    s.swarm_node = "n2"
    s.clear_state()
    state = s.get_state()
    assert state["resettable_swarm_node"] == "n2"
    t = spawner()
    t.load_state(state)
    assert t.swarm_node == "n2"


def test_services_are_always_removed_with_their_containers():
    c = Config()
    c.DockerSpawner.remove = False
    assert spawner(config=c).remove is True


def test_routing_defaults_follow_the_network():
    assert spawner().use_internal_ip is False, "no network: host-mode published ports"
    assert spawner(network_name="jupyterhub-swarm").use_internal_ip is True, "an overlay: the service's name"


def test_the_restart_stop_grace_is_restart_timeout():
    assert spawner(restart_timeout=7).stop_grace_seconds == 7


def test_the_engine_is_bound_to_the_servers_node_and_the_sweeps_to_every_node():
    s = spawner()
    assert s.make_engine().node() is None, "no node before the first start"
    s.swarm_node = "n2"
    assert s.make_engine().node() == "n2"
    sweep = ResettableSwarmSpawner(user=SimpleNamespace(name="", settings={}))
    assert sweep.make_engine(log_name="sweep").node is None


def test_client_calls_run_functions_of_the_client_in_the_worker_thread():
    s = spawner()
    fake = SimpleNamespace(service_logs=lambda service, **kw: iter([b"a", b"b"]))
    type(s)._client = fake
    try:
        call = ClientCall("service_logs", lambda client, service, **kw: b"".join(client.service_logs(service, **kw)))
        assert s._docker(call, "svc") == b"ab"
        assert repr(call) == "service_logs"
    finally:
        type(s)._client = None


class _NodeEngine:
    """A node's engine that answers, or one whose dockerd is gone (a fault a test swarm
    shows only by killing a node; the sweep must go on with the other nodes)."""

    def __init__(self, volumes, answers=True):
        self.volumes, self.answers = volumes, answers

    async def list_volumes(self, labels):
        if not self.answers:
            raise DockerUnreachable("gone")
        return list(self.volumes)


def _engine(node, engines):
    async def node_engine(node_id):
        return engines[node_id]

    async def nodes():
        return list(engines)

    return SwarmEngine(None, None, node_engine, nodes, node, logging.getLogger("test"), "test", 30, 60)


def test_the_sweep_lists_the_nodes_that_answer_and_a_bound_engine_fails():
    engines = {"n1": _NodeEngine([{"Name": "a"}]), "n2": _NodeEngine([{"Name": "b"}], answers=False)}
    assert asyncio.run(_engine(None, engines).list_volumes([])) == [{"Name": "a"}]
    with pytest.raises(DockerUnreachable):
        asyncio.run(_engine(lambda: "n2", engines).list_volumes([]))
    assert asyncio.run(_engine(lambda: None, engines).list_volumes([])) == [], "a server that never ran"
