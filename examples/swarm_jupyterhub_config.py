# JupyterHub on Docker Swarm with resettable-spawner: examples/jupyterhub_config.py, then
# the lines that differ on a swarm. examples/swarm-stack.yml mounts this file into the
# hub image (built from examples/Dockerfile, which holds jupyterhub_config.py) as a
# swarm config; see "Docker Swarm" in the README.
#
# Environment, on top of examples/jupyterhub_config.py's:
#   DOCKER_NETWORK_NAME   the attachable overlay network of the hub and the servers
#   SWARM_ENDPOINT_MODE   "vip" (default) or "dnsrr": how the servers' names resolve on
#                         that network; dnsrr where the kernel has no IPVS
#   SWARM_NODE_ENGINES    JSON: node hostname -> docker client settings, for volume work
#                         on nodes other than the hub's own (swarm_node_engines)
#   SWARM_CONSTRAINTS     comma-separated placement constraints for the servers
import json
import os

c = get_config()  # noqa: F821
load_subconfig("/srv/jupyterhub/jupyterhub_config.py")  # noqa: F821
env = os.environ

c.JupyterHub.spawner_class = "resettable-swarm"

# Routing on the overlay network: the proxy reaches a server at its service's name,
# which survives restarts (the task's address does not). The servers reach the hub at
# its service's name (HUB_CONNECT_IP, "jupyterhub" in the stack).
c.SwarmSpawner.network_name = env.get("DOCKER_NETWORK_NAME", "jupyterhub-swarm")
c.SwarmSpawner.use_internal_ip = True
c.SwarmSpawner.extra_endpoint_spec = {"mode": env.get("SWARM_ENDPOINT_MODE", "vip")}
# Swarm always removes a stopped server's service (and, soon after, its containers).
c.DockerSpawner.pop("remove", None)
if env.get("SWARM_CONSTRAINTS"):
    c.SwarmSpawner.extra_placement_spec = {
        "constraints": [x.strip() for x in env["SWARM_CONSTRAINTS"].split(",") if x.strip()]
    }

# The per-user volumes of examples/jupyterhub_config.py use the local driver, so each
# lives on the node of the server's first start: the server is pinned there. Reset,
# backups, restore, sizes and deletion of those volumes need that node's engine.
c.ResettableSwarmSpawner.swarm_node_engines = json.loads(env.get("SWARM_NODE_ENGINES") or "{}")
# Seconds a task may stay pending (no suitable node) before the server counts as stopped.
c.ResettableSwarmSpawner.swarm_pending_timeout = 60.0
# Seconds to wait for swarm to remove a stopped server's task containers before a reset.
c.ResettableSwarmSpawner.swarm_cleanup_timeout = 30.0
