"""Pure builders for Docker Swarm: no Docker, no hub, no I/O (as objects.py, for swarm).

Which task decides a server's state, what ``poll()`` concludes from it, where a
server answers (host-mode published ports), service and helper-job specs, placement
pins, which volumes need one, and a service as the container-shaped description the
layers above read. Unit-tested without a swarm (tests/unit/test_swarm_objects.py).
"""

import datetime
import hashlib
import re

from docker.types import ContainerSpec, Mount, Placement, RestartPolicy, ServiceMode, TaskTemplate

from .objects import is_driver_backed, is_host_path

# Task states (swarmkit's), in the order a task goes through them.
TASK_ON_ITS_WAY = frozenset({"new", "pending", "assigned", "accepted", "preparing", "ready", "starting"})
TASK_RUNNING = "running"
TASK_ENDED = frozenset({"complete", "failed", "shutdown", "rejected", "orphaned", "remove"})

# On helper-job services: the helper's own name (a service name cannot hold it: at most
# 63 characters, no dots), and the node it runs on.
HELPER_NAME_LABEL = "resettable-spawner.helper-name"
NODE_LABEL = "resettable-spawner.node"
# Docker's label on a task's container: the service it belongs to.
TASK_SERVICE_LABEL = "com.docker.swarm.service.id"

_NODE_ID_CONSTRAINT = re.compile(r"^\s*node\.id\s*==")
_DOCKER_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def parse_docker_time(text):
    """Docker's RFC 3339 time (nanoseconds, Z or offset) -> Unix seconds, or None."""
    m = _DOCKER_TIME.match(text or "")
    if not m:
        return None
    base, frac, zone = m.groups()
    zone = "+00:00" if zone == "Z" else zone
    dt = datetime.datetime.fromisoformat(base + zone)
    return dt.timestamp() + (float(frac) if frac else 0.0)


def newest_task(tasks):
    """The task the orchestrator made last: the one that decides the server's state.

    Not the one whose ``Version.Index`` is highest (an old task's index still grows
    while it shuts down), nor the first one listed (swarm's order is arbitrary).
    """
    if not tasks:
        return None
    return max(tasks, key=lambda t: (parse_docker_time(t.get("CreatedAt")) or 0.0, t.get("ID", "")))


def task_state(task):
    return ((task or {}).get("Status") or {}).get("State", "")


def node_name(node):
    """A node as people know it: its hostname (or its id)."""
    return ((node or {}).get("Description") or {}).get("Hostname") or (node or {}).get("ID", "?")


def node_problem(node):
    """Why no server can run on ``node`` now (down, drained, paused), or None if it can."""
    if node is None:
        return "no longer in the swarm"
    state = (node.get("Status") or {}).get("State", "unknown")
    availability = (node.get("Spec") or {}).get("Availability", "active")
    if state != "ready":
        return f"{state}"
    if availability != "active":
        return "drained" if availability == "drain" else availability
    return None


def task_verdict(task, node, now, pending_timeout):
    """What ``poll()`` says of a server whose newest task is ``task``: None while it runs
    or is on its way, else why it does not run.

    ``node`` is the task's node, or for a task not placed yet the node the server is
    pinned to (None if it is not pinned). A task on a node marked down is not running,
    whatever state it last reported; one pending (no suitable node) for longer than
    ``pending_timeout`` seconds will not run.
    """
    if task is None:
        return "the service has no task"
    state = task_state(task)
    status = task.get("Status") or {}
    if state in TASK_ENDED:
        code = (status.get("ContainerStatus") or {}).get("ExitCode")
        return f"task {state}" + (f", exit code {code}" if code is not None else "")
    if node is not None and (node.get("Status") or {}).get("State") == "down":
        return f"its node {node_name(node)} is down"
    if state == "pending":
        created = parse_docker_time(task.get("CreatedAt"))
        if node is not None and node_problem(node) and not task.get("NodeID"):
            return f"it is pinned to node {node_name(node)}, which is {node_problem(node)}"
        if created is not None and now - created > pending_timeout:
            return f"task pending for more than {pending_timeout:g}s: no suitable node"
    return None


def task_address(task, node, port):
    """(node address, published port) of a task's host-mode published ``port``, or None."""
    ports = ((task.get("Status") or {}).get("PortStatus") or {}).get("Ports") or []
    addr = ((node or {}).get("Status") or {}).get("Addr")
    for p in ports:
        if p.get("TargetPort") == port and p.get("PublishedPort") and addr:
            return addr, int(p["PublishedPort"])
    return None


def pin_constraint(node_id):
    return f"node.id=={node_id}"


def with_pin(constraints, node_id):
    """``constraints`` with the server pinned to ``node_id`` (replacing any other node.id pin)."""
    kept = [c for c in constraints or [] if not _NODE_ID_CONSTRAINT.match(c)]
    return kept + ([pin_constraint(node_id)] if node_id else [])


def pinned_node(constraints):
    """The node id a ``node.id==`` constraint pins to, or None."""
    for c in constraints or []:
        if _NODE_ID_CONSTRAINT.match(c):
            return c.split("==", 1)[1].strip()
    return None


# --- volumes ------------------------------------------------------------------------


def service_mounts(volume_binds, mount_binds, driver_config=None):
    """The service's mounts: DockerSpawner's ``volumes`` as named volumes (host paths as
    binds), ``driver_config`` on the named ones, then the ``mounts`` trait's as they are.

    Stock SwarmSpawner makes every ``volumes`` entry a bind mount, which Docker rejects
    for a volume name ("invalid bind mount source, must be an absolute path").
    """
    out = []
    for source, bind in volume_binds.items():
        host = is_host_path(source)
        out.append(
            Mount(
                target=bind["bind"],
                source=source,
                type="bind" if host else "volume",
                read_only=bind["mode"] == "ro",
                driver_config=None if host else driver_config,
            )
        )
    return out + list(mount_binds)


def node_local_volumes(mounts, per_user_names):
    """The per-user named volumes among ``mounts`` that live on one node only.

    A volume with the ``local`` driver and no options is created by the engine of the
    node that runs the task, and nowhere else; a driver-backed one (NFS-style options,
    a plugin) reaches the same storage from every node (objects.is_driver_backed).
    """
    out = []
    for m in mounts:
        if m.get("Type") != "volume" or m.get("Source") not in per_user_names:
            continue
        config = (m.get("VolumeOptions") or {}).get("DriverConfig") or {}
        if not is_driver_backed({"Driver": config.get("Name") or "local", "Options": config.get("Options")}):
            out.append(m["Source"])
    return sorted(set(out))


# --- services -----------------------------------------------------------------------


def generation(spec_or_task):
    """How many forced updates a service's spec (or the spec a task was made from) had."""
    template = spec_or_task.get("TaskTemplate") if "TaskTemplate" in spec_or_task else spec_or_task.get("Spec")
    return (template or {}).get("ForceUpdate") or 0


def update_kwargs(spec, replicas=None, constraints=None, force=None):
    """``update_service`` arguments that keep everything of ``spec`` but what is asked:
    the replica count, the placement constraints, or a forced redeploy (``force``: the
    generation to reach, swarm's ``ForceUpdate`` counter)."""
    template = dict(spec.get("TaskTemplate") or {})
    mode = spec.get("Mode")
    if replicas is not None:
        mode = {"Replicated": {"Replicas": replicas}}
    if constraints is not None:
        template["Placement"] = dict(template.get("Placement") or {}, Constraints=constraints)
    if force is not None:
        template["ForceUpdate"] = force
    return {
        "task_template": template,
        "name": spec.get("Name"),
        "labels": spec.get("Labels") or {},
        "mode": mode,
        "update_config": spec.get("UpdateConfig"),
        "rollback_config": spec.get("RollbackConfig"),
        "endpoint_spec": spec.get("EndpointSpec"),
    }


def replicas_of(spec):
    return ((spec.get("Mode") or {}).get("Replicated") or {}).get("Replicas")


def server_description(service, task):
    """A service and its newest task, in the shape the layers above read of a container.

    ``Id`` and ``Name`` are the service's (they survive a restart; the task's container
    does not); ``State`` is the newest task's, with ``Restarting`` for a task on its way
    (it will hold the volumes); ``Config.Env`` is the service's environment.
    """
    spec = service.get("Spec") or {}
    container_spec = (spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}
    state = task_state(task)
    status = (task or {}).get("Status") or {}
    exit_code = (status.get("ContainerStatus") or {}).get("ExitCode")
    running = state == TASK_RUNNING
    return {
        "Id": service["ID"],
        "Name": spec.get("Name", ""),
        "State": {
            "Running": running,
            "Restarting": state in TASK_ON_ITS_WAY,
            "Paused": False,
            "Status": "running" if running else ("created" if state in TASK_ON_ITS_WAY else "exited"),
            "ExitCode": exit_code if exit_code is not None else (0 if running else -1),
            "Error": status.get("Err", ""),
            "OOMKilled": False,
            "StartedAt": status.get("Timestamp", "") if running else "",
            "FinishedAt": status.get("Timestamp", "") if state in TASK_ENDED else "",
        },
        "Config": {"Env": container_spec.get("Env") or []},
        "HostConfig": {},
        "NodeID": (task or {}).get("NodeID") or None,
        "TaskID": (task or {}).get("ID") or None,
    }


# --- helper jobs ----------------------------------------------------------------------


def helper_service_name(name):
    """A valid service name (at most 63 characters, no dots) for the helper ``name``."""
    return "rs-helper-" + hashlib.sha256(name.encode()).hexdigest()[:24]


def helper_job_spec(name, image, argv, mounts, labels, node_id):
    """``create_service`` arguments of a helper: one run of ``argv`` as root on ``node_id``.

    A replicated job (one completion, never restarted) pinned to the node that holds
    its volumes; the image's entrypoint is replaced by ``argv[0]``, the arguments are a
    list, never a shell string built from names. The job's labels carry the helper's
    own name and its node.
    """
    labels = {**labels, HELPER_NAME_LABEL: name, NODE_LABEL: node_id}
    container = ContainerSpec(
        image,
        command=list(argv[:1]),
        args=list(argv[1:]),
        user="0:0",
        workdir="/",
        labels=labels,
        mounts=mounts,
    )
    template = TaskTemplate(
        container_spec=container,
        restart_policy=RestartPolicy(condition="none"),
        placement=Placement(constraints=[pin_constraint(node_id)]),
    )
    return {
        "task_template": template,
        "name": helper_service_name(name),
        "labels": labels,
        "mode": ServiceMode("replicated-job", replicas=1),
    }


def helper_from_service(service):
    """A helper job as ``Engine.list_helpers`` lists it."""
    spec = service.get("Spec") or {}
    labels = spec.get("Labels") or {}
    return {
        "id": service["ID"],
        "name": labels.get(HELPER_NAME_LABEL) or spec.get("Name", "?"),
        "labels": labels,
        "created": parse_docker_time(service.get("CreatedAt")) or 0.0,
    }


def job_outcome(task):
    """(finished, exit status) of a helper job's task; status None when it never ran."""
    state = task_state(task)
    if state not in TASK_ENDED:
        return False, None
    return True, ((task.get("Status") or {}).get("ContainerStatus") or {}).get("ExitCode")
