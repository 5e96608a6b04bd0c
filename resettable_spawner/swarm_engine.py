"""``SwarmEngine``: the ``Engine`` of engine.py on a Docker Swarm.

A server is a replicated service of one replica; its container is the service's
newest task, on some node. Through the swarm manager (the spawner's own client):

- the server's object: ``inspect_server`` (the service and its newest task, in a
  container's shape, swarm_objects.server_description); the restart in place as
  ``stop_server`` (a forced update, until the old task has stopped) and
  ``start_server`` (until the new task runs): the service, its name, its placement
  and its volumes stay; ``remove_server``;
- helpers: replicated jobs constrained to the node that holds their volumes, their
  output read from the service's logs; listed and removed as services, so a hub sees
  every helper of the swarm in one call;
- the server's log: the service's log.

Volumes live on one node, and the manager's engine knows only its own node's: swarm
has no volume API (its agents create a task's volumes and never remove one). Volume
bookkeeping (inspect, list, create, remove, which containers hold one) therefore goes
to the engine of the node that holds them (``node_engine(node_id)``, a ``DockerEngine``
on that node; the manager's own node is the spawner's client itself). No helper ever
gets a Docker socket. An engine is bound to one node (``node()``, the node a server's
volumes live on) or, with ``node=None``, to every node it can reach (the hub-wide sweep).
"""

import asyncio
import time

from docker.errors import APIError

from .engine import Engine, active_helpers
from .errors import DockerUnreachable, OperationFailed, VolumeInUse
from .objects import parse_docker_log
from .swarm_objects import (
    NODE_LABEL,
    TASK_ENDED,
    TASK_ON_ITS_WAY,
    TASK_RUNNING,
    TASK_SERVICE_LABEL,
    helper_from_service,
    helper_job_spec,
    job_outcome,
    newest_task,
    node_name,
    node_problem,
    generation,
    parse_docker_time,
    pinned_node,
    replicas_of,
    server_description,
    task_state,
    update_kwargs,
)


class ClientCall:
    """A function of the docker-py client run in the call's worker thread: for answers
    that are streams (service logs), which must be read there, not on the event loop."""

    def __init__(self, name, function):
        self.name = name
        self.function = function

    def __call__(self, client, *args, **kwargs):
        return self.function(client, *args, **kwargs)

    def __repr__(self):
        return self.name


def _read_service_logs(client, service, **kwargs):
    return b"".join(client.service_logs(service, is_tty=False, **kwargs))


read_service_logs = ClientCall("service_logs", _read_service_logs)


class NoNodeYet(OperationFailed):
    """A server that never ran has no node, hence no volumes anywhere."""


class SwarmServices:
    """The manager's view of services, tasks and nodes, shared by the lifecycle base
    (swarm_spawner.SwarmServiceSpawner) and ``SwarmEngine``. ``call`` is an awaitable
    docker-py call (``call(method, *args, **kwargs)``) on the manager."""

    # Seconds between checks of a task's state while waiting for it.
    check_interval = 0.1

    def __init__(self, call, log, log_name, pending_timeout):
        self.call = call
        self.log = log
        self.log_name = log_name
        self.pending_timeout = pending_timeout

    def failure(self, what, error):
        """Log Docker's own words; give users a message without them."""
        self.log.error("%s: swarm failed to %s: %s", self.log_name, what, error)
        return OperationFailed(f"The swarm failed to {what}; see the hub log.")

    async def manager(self, what, method, *args, missing=False, **kwargs):
        """A call to the manager; 404 is None when ``missing`` is allowed."""
        try:
            return await self.call(method, *args, **kwargs)
        except APIError as e:
            if missing and e.status_code == 404:
                return None
            raise self.failure(what, e) from None

    async def inspect_node(self, node_id):
        return await self.manager("inspect a node", "inspect_node", node_id, missing=True)

    async def nodes(self):
        return await self.manager("list the swarm's nodes", "nodes") or []

    async def inspect_service(self, name):
        return await self.manager("inspect the service", "inspect_service", name, missing=True)

    async def tasks(self, service_id):
        return await self.manager("list the service's tasks", "tasks", filters={"service": service_id}) or []

    async def remove_service(self, service_id):
        await self.manager("remove the service", "remove_service", service_id, missing=True)

    async def update_service(self, service_id, what, **changes):
        """Change the service's spec (swarm_objects.update_kwargs); return the service as
        it was. Retried once when another update came in between ("out of sequence")."""
        for attempt in (1, 2):
            service = await self.inspect_service(service_id)
            if service is None:
                raise OperationFailed("The server's service is gone.")
            try:
                await self.call(
                    "update_service",
                    service["ID"],
                    service["Version"]["Index"],
                    **update_kwargs(service["Spec"], **changes),
                )
                return service
            except APIError as e:
                if attempt == 1 and "out of sequence" in str(e):
                    continue
                raise self.failure(what, e) from None

    async def wait_running(self, service_id, before=(), deadline=None, on_placed=None, pinned=None):
        """Until a task of the service that is not in ``before`` runs; return it.

        Fails at once when it ends (rejected, failed), when its node (``pinned`` while
        it is not placed) is down or drained, with a message that names the node, and
        when it has been pending for longer than ``pending_timeout``.
        ``on_placed(task)`` is awaited once the task has a node.
        """
        placed = False
        while True:
            task = newest_task([t for t in await self.tasks(service_id) if t["ID"] not in before])
            state = task_state(task)
            if task is not None and task.get("NodeID") and not placed:
                placed = True
                if on_placed is not None:
                    await on_placed(task)
            if state == TASK_RUNNING:
                return task
            if state in TASK_ENDED:
                self.log.error("%s: task %s of %s ended as %s: %s", self.log_name, task["ID"][:12],
                               service_id[:12], state, (task.get("Status") or {}).get("Err", ""))
                raise OperationFailed(f"The server's task could not start ({state}); see the hub log.")
            if state == "pending":
                await self.check_pending(task, pinned)
            if deadline is not None and time.monotonic() > deadline:
                raise OperationFailed("The server's task did not start in time; see the hub log.")
            await asyncio.sleep(self.check_interval)

    async def check_pending(self, task, node_id):
        """Fail for a pending task that will not be placed: the node it is pinned to is
        unusable, or it has waited longer than ``pending_timeout``."""
        if node_id:
            node = await self.inspect_node(node_id)
            problem = node_problem(node)
            if problem:
                raise OperationFailed(unusable_node_message(node, node_id, problem))
        created = parse_docker_time(task.get("CreatedAt"))
        if created is not None and time.time() - created > self.pending_timeout:
            self.log.error("%s: task %s pending for %.0fs: %s", self.log_name, task["ID"][:12],
                           time.time() - created, (task.get("Status") or {}).get("Err", ""))
            raise OperationFailed(
                f"No node of the swarm could take this server for {self.pending_timeout:g} seconds; see the hub log."
            )


def unusable_node_message(node, node_id, problem):
    return (
        f"This server's volumes live on the node {node_name(node) if node else node_id}, which is"
        f" {problem}. The server starts again once that node is back; it never starts on another"
        " node with an empty home."
    )


class SwarmEngine(Engine):
    """See the module's docstring. ``services`` is the manager's ``SwarmServices``,
    ``calls`` the manager's ``DockerCalls`` (for reads that may take long)."""

    # Longer waits (a helper copying for minutes) back off towards this many seconds.
    max_check_interval = 1.0

    def __init__(self, services, calls, node_engine, nodes, node, log, log_name, cleanup_timeout, start_timeout):
        self.services = services
        self.call = calls
        self._node_engine = node_engine  # async node_id -> DockerEngine (OperationFailed if unreachable)
        self._nodes = nodes  # async () -> ids of the nodes whose engine the hub reaches
        self.node = node  # () -> node id or None (no node yet); None: every node (the sweep)
        self.log = log
        self.log_name = log_name
        self.cleanup_timeout = cleanup_timeout
        self.start_timeout = start_timeout

    # --- the server's service -----------------------------------------------------

    async def inspect_server(self, name):
        service = await self.services.inspect_service(name)
        if service is None:
            return None
        return server_description(service, newest_task(await self.services.tasks(service["ID"])))

    async def next_generation(self, server_id):
        """The generation (swarm's ``ForceUpdate`` counter) a restart asked now reaches."""
        service = await self.services.inspect_service(server_id)
        if service is None:
            raise OperationFailed("The server's service is gone.")
        return generation(service["Spec"]) + 1

    async def stop_server(self, server_id, timeout, generation_to=None):
        """The restart's first half: a forced update of the service (stop-first, its
        spec unchanged: the same name, placement and volumes), until its old task has
        stopped. Swarm starts the new task by itself right after (it has already
        created its container meanwhile). ``generation_to``: the generation this
        restart reaches; a service already there (asked by a hub that died) is not
        asked again. The stop's grace period is the service's (``restart_timeout``)."""
        tic = time.monotonic()
        service = await self.services.inspect_service(server_id)
        if service is None:
            raise OperationFailed("The server's service is gone.")
        target = generation_to or generation(service["Spec"]) + 1
        if generation(service["Spec"]) < target:
            changes = {"force": target}
            if replicas_of(service["Spec"]) == 0:
                changes["replicas"] = 1  # scaled to 0 by hand: swarm starts no task in its slot otherwise
            await self.services.update_service(server_id, "restart the server's task", **changes)
        deadline = tic + timeout + self.cleanup_timeout
        while True:
            tasks = await self.services.tasks(server_id)
            old_alive = any(generation(t) < target and task_state(t) in TASK_ON_ITS_WAY | {TASK_RUNNING} for t in tasks)
            if not old_alive and any(generation(t) >= target for t in tasks):
                self.log.debug("%s: old task of %s stopped in %.2fs", self.log_name, server_id[:12],
                               time.monotonic() - tic)
                return
            if time.monotonic() > deadline:
                raise OperationFailed("The server's task did not stop in time; see the hub log.")
            await asyncio.sleep(self.services.check_interval)

    async def start_server(self, server_id):
        """The second half: until the newest generation's task runs (on the node the
        service is pinned to). A service that has no task of its generation (a hub
        that died before asking, after a stop) is asked for one."""
        tic = time.monotonic()
        service = await self.services.inspect_service(server_id)
        if service is None:
            raise OperationFailed("The server's service is gone.")
        template = service["Spec"].get("TaskTemplate") or {}
        target = generation(service["Spec"])
        tasks = await self.services.tasks(server_id)
        if not any(generation(t) >= target and task_state(t) not in TASK_ENDED for t in tasks):
            target += 1
            changes = {"force": target}
            if replicas_of(service["Spec"]) == 0:
                changes["replicas"] = 1
            await self.services.update_service(server_id, "start the server's task", **changes)
        await self.services.wait_running(
            server_id,
            {t["ID"] for t in tasks if generation(t) < target},
            deadline=time.monotonic() + self.start_timeout,
            pinned=pinned_node((template.get("Placement") or {}).get("Constraints")),
        )
        self.log.debug("%s: new task of %s running in %.2fs", self.log_name, server_id[:12], time.monotonic() - tic)

    async def remove_server(self, server_id):
        """Remove the service; its volumes stay (swarm removes its task containers soon after)."""
        await self.services.remove_service(server_id)

    async def server_logs(self, name, tail):
        """The service's log (of every task it still keeps), its last ``tail`` lines."""
        if await self.services.inspect_service(name) is None:
            return None
        raw = await self._read_logs(name, "read the service's log", stdout=True, stderr=True,
                                    timestamps=True, tail=tail + 1)
        lines = parse_docker_log(raw.decode(errors="replace"))
        return {"lines": lines[-tail:], "truncated": len(lines) > tail}

    async def _read_logs(self, service_id, what, **kwargs):
        # On the long-call pool: a slow log driver must not hold DockerSpawner's one thread.
        try:
            return await self.call(read_service_logs, service_id, long=True, **kwargs)
        except APIError as e:
            raise self.services.failure(what, e) from None

    # --- volumes, on the engine of the node that holds them -------------------------

    async def _engines(self):
        """[(node id, DockerEngine)] of the node this engine is bound to, or of every node."""
        if self.node is None:
            out = []
            for node_id in await self._nodes():
                try:
                    out.append((node_id, await self._node_engine(node_id)))
                except OperationFailed as e:
                    self.log.warning("%s: skipping node %s: %s", self.log_name, node_id, e)
            return out
        node_id = self.node()
        return [] if node_id is None else [(node_id, await self._node_engine(node_id))]

    async def _the_node(self, what):
        node_id = None if self.node is None else self.node()
        if node_id is None:
            raise NoNodeYet(f"This server has not run on any node yet, so there is nothing to {what}.")
        return node_id, await self._node_engine(node_id)

    async def _on_each(self, what):
        """``what(engine)`` on each node's engine; with every node (the sweep), a node
        whose engine does not answer is skipped (logged), the others are done."""
        out = []
        for node_id, engine in await self._engines():
            try:
                out.append(await what(engine))
            except DockerUnreachable:
                if self.node is not None:
                    raise
                self.log.warning("%s: skipping node %s, whose engine does not answer", self.log_name, node_id)
        return out

    async def inspect_volume(self, name):
        found = await self._on_each(lambda engine: engine.inspect_volume(name))
        return next((v for v in found if v is not None), None)

    async def list_volumes(self, labels):
        return [v for listing in await self._on_each(lambda engine: engine.list_volumes(labels)) for v in listing]

    async def create_volume(self, name, labels=None):
        _, engine = await self._the_node("create a volume on")
        await engine.create_volume(name, labels)

    async def remove_volume(self, name):
        """Remove the volume where it exists, once swarm has removed the task containers
        of removed services that still hold it (bounded by ``cleanup_timeout``);
        VolumeInUse at once when any other running container holds it."""
        async def remove(engine):
            if await engine.inspect_volume(name) is not None:
                await self._wait_free(engine, name)
                await engine.remove_volume(name)

        await self._on_each(remove)

    async def wait_volumes_free(self, names, timeout):
        await self._on_each(lambda engine: engine.wait_volumes_free(names, timeout))

    async def _wait_free(self, engine, name):
        deadline = time.monotonic() + self.cleanup_timeout
        while True:
            try:
                holders = await engine.call("containers", all=True, filters={"volume": name})
            except APIError as e:
                raise engine.failure("list containers", e) from None
            if not holders:
                return
            for h in holders:
                # Running, and not a task container of a removed service that swarm is stopping.
                service_id = (h.get("Labels") or {}).get(TASK_SERVICE_LABEL)
                if h.get("State") in ("running", "restarting", "paused") and (
                    not service_id or await self.services.inspect_service(service_id) is not None
                ):
                    raise VolumeInUse(name)
            if time.monotonic() > deadline:
                self.log.warning("%s: exited containers %s still hold %s after %ss", self.log_name,
                                 [h["Id"][:12] for h in holders], name, self.cleanup_timeout)
                raise VolumeInUse(name)
            await asyncio.sleep(self.services.check_interval)

    # --- helpers: replicated jobs on the volume's node ------------------------------

    async def run_helper(self, name, image, command, mounts, labels, timeout):
        node_id, _ = await self._the_node("copy or measure")
        active_helpers.add(name)
        service_id = None
        try:
            try:
                service_id = (await self.call("create_service", **helper_job_spec(
                    name, image, command, mounts, labels, node_id)))["ID"]
            except APIError as e:
                raise self.services.failure("start a helper job", e) from None
            status = await self._wait_job(name, service_id, node_id, timeout)
            out = await self._read_logs(service_id, "read a helper job's output", stdout=True, stderr=False)
            if status != 0:
                err = await self._read_logs(service_id, "read a helper job's output", stdout=False, stderr=True)
                self.log.error("%s: helper %s exited with %s: %s", self.log_name, name, status,
                               err.decode(errors="replace")[-2000:])
            return status, out.decode(errors="replace")
        finally:
            try:
                if service_id:
                    await self.remove_helper(service_id)
            except Exception as e:
                self.log.error("%s: cannot remove helper %s: %s", self.log_name, name, e)
            active_helpers.discard(name)

    async def _wait_job(self, name, service_id, node_id, timeout):
        deadline = time.monotonic() + timeout
        interval = self.services.check_interval
        while True:
            task = newest_task(await self.services.tasks(service_id))
            finished, status = job_outcome(task)
            if finished:
                if status is None:
                    self.log.error("%s: helper %s ended as %s: %s", self.log_name, name, task_state(task),
                                   (task.get("Status") or {}).get("Err", ""))
                    raise OperationFailed("A helper job could not run on the volume's node; see the hub log.")
                return status
            if task is not None and task_state(task) == "pending":
                await self.services.check_pending(task, node_id)
            if time.monotonic() > deadline:
                self.log.error("%s: helper %s did not finish within %ss", self.log_name, name, timeout)
                raise OperationFailed(f"Copying took longer than {timeout:.0f} seconds and was stopped.")
            await asyncio.sleep(interval)
            interval = min(interval * 1.2, self.max_check_interval)

    async def list_helpers(self, labels):
        services = await self.services.manager("list helper jobs", "services", filters={"label": list(labels)})
        return [helper_from_service(s) for s in services or []]

    async def remove_helper(self, helper_id):
        """Remove the job, then its task's container on its node (swarm would take a few
        seconds, and the container holds the helper's volumes meanwhile)."""
        service = await self.services.inspect_service(helper_id)
        if service is None:
            return
        await self.services.remove_service(service["ID"])
        node_id = ((service.get("Spec") or {}).get("Labels") or {}).get(NODE_LABEL)
        try:
            engine = await self._node_engine(node_id)
        except OperationFailed as e:
            self.log.warning("%s: swarm removes helper %s's container itself: %s", self.log_name, helper_id[:12], e)
            return
        try:
            leftovers = await engine.call("containers", all=True,
                                          filters={"label": f"{TASK_SERVICE_LABEL}={service['ID']}"})
        except APIError as e:
            raise engine.failure("list a helper job's containers", e) from None
        for c in leftovers:
            await engine.remove_helper(c["Id"])
