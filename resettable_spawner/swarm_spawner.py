"""``ResettableSwarmSpawner``: the resettable layers on Docker Swarm.

Layers, each calling only down (see base.py)::

    spawner.ResettableDockerSpawner   lifecycle: start, poll, restart, delete_forever
    volumes.VolumeSpawner             which volumes, reset, backups, restore, sizes
    base.EngineSpawner                engine: a SwarmEngine (swarm_engine.py), operation
    SwarmServiceSpawner               DockerSpawner's SwarmSpawner, where it breaks, fixed
    dockerspawner.SwarmSpawner

``ResettableSwarmSpawner`` itself builds the engine (``make_engine``, with the node
engines the operator gives in ``swarm_node_engines``) and overrides three steps of the
layers above where a service differs from a container: the restart's stop (a forced
update, asked once), the removal of a server that stopped by itself (its service), and
the wait for swarm to remove a stopped server's task containers before volume work.

A server is a service of one replica. Its home lives on one node when its volumes
are node-local (the ``local`` driver without options): such a server is pinned, in
its service's placement, to the node its first task ran on, and never starts
elsewhere. Driver-backed volumes (objects.is_driver_backed) need no pin.
"""

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor
from textwrap import dedent

import docker
from docker.types import ContainerSpec, EndpointSpec, Placement, Resources, RestartPolicy, TaskTemplate
from dockerspawner import SwarmSpawner
from traitlets import Dict, Float, List, default

from .engine import DockerCalls, DockerEngine
from .errors import OperationFailed, StartRefused
from .objects import is_host_path, is_per_server_template
from .spawner import ResettableDockerSpawner
from .swarm_engine import SwarmEngine, SwarmServices, unusable_node_message
from .swarm_objects import (
    newest_task,
    node_local_volumes,
    node_name,
    node_problem,
    service_mounts,
    task_address,
    task_state,
    task_verdict,
    with_pin,
)

STATE_NODE = "resettable_swarm_node"


class SwarmServiceSpawner(SwarmSpawner):
    """SwarmSpawner, fixed where the resettable layers need it:

    - ``mounts`` is DockerSpawner's config trait again (SwarmSpawner's property shadowed
      it), and ``volumes`` are mounted as named volumes, not bind mounts;
    - host-mode published ports, read from the task (the node's address and the
      task's port), unless ``use_internal_ip`` routes to the service's name;
    - the newest task decides the state (``poll``, ``get_task``), a task on a node
      marked down or pending beyond ``swarm_pending_timeout`` is not running, and a
      start fails at once on a rejected task instead of waiting out ``start_timeout``;
    - node-local volumes pin the server to its node (``swarm_node``, persisted);
    - removing a service that is gone is fine.
    """

    mounts = List(
        config=True,
        help=dedent(
            """
            List of dict with keys to match docker.types.Mount for more advanced
            configuration of mouted volumes.  As with volumes, if the default
            format_volume_name is in use, you can use {username} in the source or
            target paths, and it will be replaced with the current user's name.
            """
        ),
    )

    swarm_pending_timeout = Float(
        60.0,
        min=1.0,
        config=True,
        help="""Seconds a server's task may stay pending (no suitable node) before it counts as not running.

        Then ``poll()`` reports the server stopped (so the hub shows it stopped instead
        of running forever) and a start or restart fails with a clear error. A task of
        a server pinned to a node that is down or drained fails at once; a task on a
        node that swarm has marked down counts as not running at once.
        """,
    )

    @default("use_internal_ip")
    def _default_use_internal_ip(self):
        # An overlay network: the service's name. No network: host-mode published ports.
        return bool(self.network_name) and self.network_name not in ("bridge", "host")

    swarm_node = ""  # the id of the node the server's volumes live on (persisted)
    stop_grace_seconds = None  # the service's stop grace period; None: swarm's (10 s)

    def load_state(self, state):
        super().load_state(state)
        self.swarm_node = state.get(STATE_NODE, "")

    def get_state(self):
        state = super().get_state()
        if self.swarm_node:
            state[STATE_NODE] = self.swarm_node  # outlives stops: the volumes stay there
        return state

    _services = None

    @property
    def services(self):
        """The manager's services, tasks and nodes (swarm_engine.SwarmServices)."""
        if self._services is None:
            self._services = SwarmServices(self.docker, self.log, self._log_name, self.swarm_pending_timeout)
        return self._services

    def _docker(self, method, *args, **kwargs):
        # A function of the client (swarm_engine.ClientCall) runs here, in the worker thread.
        if callable(method):
            return method(self.client, *args, **kwargs)
        return super()._docker(method, *args, **kwargs)

    # --- volumes and pinning --------------------------------------------------------

    def service_mounts(self):
        return service_mounts(self.volume_binds, self.mount_binds, self.mount_driver_config)

    def pinned_volumes(self):
        """The per-user volumes that live on one node only; the server is pinned if any."""
        per_user = set()
        for templates in (self.volumes, self.read_only_volumes):
            per_user.update(self.format_volume_name(t, self) for t in templates if is_per_server_template(t))
        for m in self.mounts:
            if is_per_server_template(m.get("source", "")):
                per_user.add(self.format_volume_name(m["source"], self))
        return node_local_volumes(self.service_mounts(), per_user)

    @property
    def pin(self):
        """The node id the server is pinned to, or "" (driver-backed volumes, or not run yet)."""
        return self.swarm_node if self.pinned_volumes() else ""

    async def _placed(self, task):
        """The first task of a server that never ran has a node: its volumes live there."""
        if self.swarm_node:
            return
        self.swarm_node = task["NodeID"]
        if not self.pinned_volumes():
            return
        service = await self.services.inspect_service(self.object_id)
        constraints = (service["Spec"]["TaskTemplate"].get("Placement") or {}).get("Constraints") or []
        # Only the placement changes: swarm keeps the running task, which meets it.
        await self.services.update_service(
            self.object_id, "pin the server to its node", constraints=with_pin(constraints, self.swarm_node)
        )
        self.log.info("%s: pinned to node %s, where its volumes %s live", self._log_name, self.swarm_node[:12],
                      ", ".join(self.pinned_volumes()))

    # --- lifecycle ------------------------------------------------------------------

    async def start(self):
        if self.pin:
            node = await self.services.inspect_node(self.pin)
            problem = node_problem(node)
            if problem:
                self.log.warning("%s: not starting: pinned node %s is %s", self._log_name, self.pin, problem)
                raise StartRefused(unusable_node_message(node, self.pin, problem))
        return await super().start()

    async def create_object(self):
        """The service: SwarmSpawner's spec, with named volumes, host-mode ports, no restart, the pin."""
        container_kwargs = dict(
            image=self.image,
            env=self.get_env(),
            args=await self.get_command(),
            mounts=self.service_mounts(),
        )
        if self.stop_grace_seconds is not None:
            container_kwargs["stop_grace_period"] = int(self.stop_grace_seconds * 1e9)
        container_kwargs.update(self.extra_container_spec)
        resources_kwargs = dict(
            mem_limit=self.mem_limit,
            mem_reservation=self.mem_guarantee,
            cpu_limit=int(self.cpu_limit * 1e9) if self.cpu_limit else None,
            cpu_reservation=int(self.cpu_guarantee * 1e9) if self.cpu_guarantee else None,
        )
        resources_kwargs.update(self.extra_resources_spec)
        placement_kwargs = dict(self.extra_placement_spec)
        if self.pin:
            placement_kwargs["constraints"] = with_pin(placement_kwargs.get("constraints"), self.pin)
        task_kwargs = dict(
            container_spec=ContainerSpec(**container_kwargs),
            resources=Resources(**resources_kwargs),
            networks=[self.network_name] if self.network_name else [],
            placement=Placement(**placement_kwargs),
            # A server that exits is stopped, as with DockerSpawner; swarm must not
            # start a second one behind the hub's back (nor on another node).
            restart_policy=RestartPolicy(condition="none"),
        )
        task_kwargs.update(self.extra_task_spec)
        endpoint_kwargs = {}
        if not self.use_internal_ip:
            # Host mode: the ingress mesh needs IPVS, and its port is not the task's.
            endpoint_kwargs["ports"] = {None: (self.port, "tcp", "host")}
        endpoint_kwargs.update(self.extra_endpoint_spec)
        create_kwargs = dict(
            task_template=TaskTemplate(**task_kwargs),
            endpoint_spec=EndpointSpec(**endpoint_kwargs),
            name=self.service_name,
        )
        create_kwargs.update(self.extra_create_kwargs)
        return await self.docker("create_service", **create_kwargs)

    async def start_object(self):
        """Until the service's task runs; at once an error when it cannot."""
        await self.services.wait_running(
            self.object_id,
            deadline=time.monotonic() + self.start_timeout,
            on_placed=self._placed,
            pinned=self.pin or None,
        )

    async def remove_object(self):
        self.log.info("Removing service %s", self.object_id or self.object_name)
        await self.services.remove_service(self.object_id or self.object_name)

    async def get_task(self):
        """The service's newest task (None without service or task)."""
        service = await self.get_object()
        if service is None:
            return None
        return newest_task(await self.services.tasks(service["ID"]))

    async def poll(self):
        service = await self.get_object()
        if service is None:
            return 0
        task = newest_task(await self.services.tasks(service["ID"]))
        node_id = (task or {}).get("NodeID") or self.pin
        node = None
        if node_id:
            # A node removed from the swarm is as good as down.
            node = await self.services.inspect_node(node_id) or {"ID": node_id, "Status": {"State": "down"}}
        if task is not None and task.get("NodeID") and not self.swarm_node:
            await self._placed(task)  # a hub that died before it recorded the node
        verdict = task_verdict(task, node, time.time(), self.swarm_pending_timeout)
        if verdict is not None:
            self.log.info("%s: service %s is not running: %s", self._log_name, self.service_name, verdict)
        return verdict

    async def get_ip_and_port(self):
        """The service's name on an overlay network; else the node's address and the
        task's host-mode published port, read afresh (each task has its own)."""
        if self.use_internal_hostname or self.use_internal_ip:
            return self.service_name, self.port
        task = await self.get_task()
        if task_state(task) != "running":
            raise RuntimeError(f"service {self.service_name} has no running task")
        node = await self.services.inspect_node(task["NodeID"])
        address = task_address(task, node, self.port)
        if address is None:
            raise RuntimeError(f"task {task['ID'][:12]} publishes no host port for {self.port}")
        return address


class ResettableSwarmSpawner(ResettableDockerSpawner, SwarmServiceSpawner):
    """ResettableDockerSpawner on Docker Swarm: every server is a service.

    Every ``c.SwarmSpawner.*`` and ``c.ResettableDockerSpawner.*`` setting applies;
    the README's "Docker Swarm" section lists the differences.
    """

    swarm_node_engines = Dict(
        config=True,
        help="""How the hub reaches the Docker Engine of each node other than its own: node hostname -> client settings.

        For example ``{"node2": {"base_url": "tcp://10.0.0.2:2376", "tls": {"client_cert":
        ["/certs/cert.pem", "/certs/key.pem"], "ca_cert": "/certs/ca.pem", "verify": true}}}``
        (keyword arguments of ``docker.APIClient``; ``tls`` as ``docker.tls.TLSConfig``'s).
        Swarm has no volume API: a node's volumes can only be inspected, listed and
        removed by that node's engine. Reset, backups, restore, sizes and
        ``delete_forever`` of a server whose volumes live on a node need it (the
        copying itself runs as helper jobs through the manager); spawning, polling
        and restarting never do. The node the hub's own client talks to needs no entry.
        """,
    )

    swarm_cleanup_timeout = Float(
        30.0,
        min=1.0,
        config=True,
        help="""Seconds to wait for swarm to remove a stopped server's task containers, which hold its volumes.

        The hub removes a stopped server's service at once; swarm removes its task
        containers 1 to 3 s later (here), and until then they hold the volumes (and,
        while the server shuts down, write to them). A reset, restore or deletion waits
        at most this long, then answers 409 (volume in use). Any other running container
        that holds the volume is 409 at once.
        """,
    )

    @property
    def stop_grace_seconds(self):
        # Swarm stops a task itself, after this grace period: restart_timeout's meaning.
        return self.restart_timeout

    def make_engine(self, log_name=None):
        """A ``SwarmEngine`` on the manager (the spawner's client) and the node engines.

        Bound to the node this server's volumes live on; a spawner without a user (the
        hub-wide sweep's settings) works on every node the hub reaches.
        """
        return SwarmEngine(
            self.services,
            self.docker_calls,
            self._node_engine,
            self._reachable_nodes,
            (lambda: self.swarm_node or None) if getattr(self.user, "name", "") else None,
            self.log,
            log_name or self._log_name,
            self.swarm_cleanup_timeout,
            self.start_timeout,
        )

    async def _stop_for_restart(self, container_id):
        """A forced update, asked once per restart: the step records the generation it
        reaches, so a hub that died after asking finishes the restart without a second one."""
        target = (self.operation.record or {}).get("generation")
        if target is None:
            target = await self.engine.next_generation(container_id)
            self.operation.step("restart", phase="stopping", container_id=container_id, generation=target)
        await self.engine.stop_server(container_id, self.restart_timeout, generation_to=target)

    async def _remove_exited_container(self):
        """``poll()`` found the server not running: remove its service, as ``remove`` does
        with a container. JupyterHub calls ``stop()`` only for servers that poll as
        running, so a service whose task ended (or whose node went down) would stay."""
        service = await self.services.inspect_service(self.object_name)
        if service is None:
            return
        self.log.info("%s: removing service %s, whose task does not run", self._log_name, self.object_name)
        await self.engine.remove_server(service["ID"])
        self.object_id = ""

    async def _container_if_stopped(self, what):
        """As on one host; and, the service gone, until swarm has removed its task
        containers: the hub's stop removes the service at once, while its task may still
        be shutting down on its node, holding (and writing to) the volumes."""
        container = await super()._container_if_stopped(what)
        if container is None:
            names = [n for n in self.per_user_volume_names() if not is_host_path(n)]
            await self.engine.wait_volumes_free(names, self.swarm_cleanup_timeout)
        return container

    # --- the engines of the nodes ---------------------------------------------------

    # Process-wide: client settings -> docker.APIClient; the manager's own node id.
    _node_clients = {}
    _local_nodes = {}
    _node_ping_executor = None

    async def _local_node(self):
        """The id of the node the hub's own client talks to."""
        key = repr(sorted(self.client_kwargs.items()))
        if key not in self._local_nodes:
            info = await self.docker_calls("info")
            ResettableSwarmSpawner._local_nodes[key] = (info.get("Swarm") or {}).get("NodeID") or ""
        return self._local_nodes[key]

    def _node_settings(self, node):
        return self.swarm_node_engines.get(node_name(node)) or self.swarm_node_engines.get(node.get("ID", ""))

    async def _reachable_nodes(self):
        local = await self._local_node()
        return [n["ID"] for n in await self.services.nodes() if n["ID"] == local or self._node_settings(n)]

    async def _node_engine(self, node_id):
        """A ``DockerEngine`` on the node's own engine (OperationFailed if the hub has none)."""
        if node_id == await self._local_node():
            return DockerEngine(self.docker_calls, lambda **kw: self.client.create_host_config(**kw), self.log,
                                self._log_name)
        node = await self.services.inspect_node(node_id) or {"ID": node_id}
        settings = self._node_settings(node)
        if not settings:
            self.log.error("%s: no entry for node %s (%s) in swarm_node_engines", self._log_name,
                           node_name(node), node_id)
            raise OperationFailed(
                f"The hub cannot reach the Docker Engine of the node {node_name(node)}, where this server's"
                " volumes live; ask your administrator (swarm_node_engines)."
            )
        calls = DockerCalls(
            self._on_long_pool(settings),
            self._on_long_pool(settings),
            lambda seconds: self._node_ping(settings, seconds),
            self.docker_call_timeout,
            self.log,
            f"node {node_name(node)}",
        )
        return DockerEngine(calls, lambda **kw: self._node_client(settings).create_host_config(**kw), self.log,
                            self._log_name)

    def _node_client(self, settings):
        key = json.dumps(settings, sort_keys=True)
        client = self._node_clients.get(key)
        if client is None:
            kwargs = {"version": "auto", **settings}
            if isinstance(kwargs.get("tls"), dict):
                kwargs["tls"] = docker.tls.TLSConfig(**kwargs["tls"])
            client = ResettableSwarmSpawner._node_clients[key] = docker.APIClient(**kwargs)
        return client

    def _on_long_pool(self, settings):
        # The client is made in the worker thread: "version auto" asks the engine at
        # once, and an engine that does not answer must fail as a call does (503).
        def call(method, *args, **kwargs):
            client = self._node_client(settings)
            return method(client, *args, **kwargs) if callable(method) else getattr(client, method)(*args, **kwargs)

        def submit(method, *args, **kwargs):
            return asyncio.wrap_future(self.long_call_executor.submit(call, method, *args, **kwargs))

        return submit

    def _node_ping(self, settings, seconds):
        cls = ResettableSwarmSpawner
        if cls._node_ping_executor is None:
            cls._node_ping_executor = ThreadPoolExecutor(1, thread_name_prefix="resettable-swarm-ping")

        def ping():
            client = self._node_client(settings)
            return client.get(f"{client.base_url}/_ping", timeout=seconds)

        return asyncio.wrap_future(cls._node_ping_executor.submit(ping))
