"""Restart latency on a real two-node Docker Swarm: ours against a raw forced service update.

The swarm of the tests (tests/support/swarm.py): this machine's engine as the manager,
a docker-in-docker second node, every server placed on node 2. Each variant restarts
its own user's server, all from the same image with the same spawner config; rounds
interleave the variants and rotate their order.

- **ours**: ``POST restart-server`` on a hub with ResettableSwarmSpawner (poll 1 s),
  until ``GET /user/<name>/api`` answers 200 through the proxy.
- **(a) raw ``docker service update --force``**: the same request the CLI sends (the
  service's spec with ``ForceUpdate`` + 1, without the CLI's wait for convergence) on
  the service of a second hub that never polls (a polling hub may take the server for
  dead mid-update, SWARM-NOTES §2), then the new task's port read from swarm and
  ``GET http://<node 2>:<port>/user/<name>/api`` directly, every 50 ms, until 200.
- **(b) raw scale to 0, then back to 1**: the other primitive that keeps the service,
  on another service of that hub, with the same readiness check.
- **(c) single host**: ResettableDockerSpawner's restart on this machine's engine
  (no swarm in the path), until the route answers through the proxy.
"""

import time

import httpx

from .common import (
    SUMMARY_HEADERS,
    BenchHub,
    Goal,
    Report,
    Rig,
    fmt,
    http_ok,
    median,
    md_table,
    summary_row,
    wait_until,
)
from tests.support.swarm import TwoNodeSwarm, swarm_hub  # noqa: E402 (after common: its PREFIX)
from resettable_spawner.swarm_objects import (  # noqa: E402
    TASK_ON_ITS_WAY,
    generation,
    newest_task,
    task_address,
    task_state,
    update_kwargs,
)

NAME = "swarm"
TITLE = "Restart latency on Docker Swarm"

USERS = {"ours": "ours", "raw": "raw", "scale": "rawscale", "single": "single"}
LABELS = {
    "ours": "ours: POST restart-server on swarm",
    "raw": "(a) raw docker service update --force",
    "scale": "(b) raw scale to 0, then back to 1",
    "single": "(c) ours on a single host",
}
SETTLE = 0.75  # seconds between operations


def restart_through_hub(hub, user, http, info, key):
    tic = time.perf_counter()
    r = hub.restart(user)
    if r.status_code != 200:
        raise RuntimeError(f"restart failed: {r.status_code} {r.text}")
    returned = time.perf_counter()
    hub.wait_route(user, http=http)
    info.setdefault(f"{key}_api_returned", []).append(returned - tic)
    info.setdefault(f"{key}_server_side", []).append(r.json()["duration_seconds"])
    return time.perf_counter() - tic


def restart_ours(hubs, client, http, info):
    return restart_through_hub(hubs["swarm"], USERS["ours"], http, info, "ours")


def restart_single(hubs, client, http, info):
    return restart_through_hub(hubs["single"], USERS["single"], http, info, "single")


def restart_raw(hubs, client, http, info, key="raw"):
    """The forced update (or the scale to 0 and back), then the same readiness check on
    the new task's address."""
    api, user = client.api, USERS[key]
    service = api.inspect_service(f"rsbench-{user}")
    before = {t["ID"] for t in api.tasks(filters={"service": service["ID"]})}
    tic = time.perf_counter()
    if key == "scale":
        api.update_service(service["ID"], service["Version"]["Index"], **update_kwargs(service["Spec"], replicas=0))
        wait_until(lambda: not any(task_state(t) in TASK_ON_ITS_WAY | {"running"}
                                   for t in api.tasks(filters={"service": service["ID"]})), 90, what="scaled to 0")
        info.setdefault("scale_stopped", []).append(time.perf_counter() - tic)
        service = api.inspect_service(service["ID"])
        # Forced too: with restart condition "none" swarm starts no task in the slot otherwise.
        api.update_service(service["ID"], service["Version"]["Index"], **update_kwargs(
            service["Spec"], replicas=1, force=generation(service["Spec"]) + 1))
    else:
        api.update_service(service["ID"], service["Version"]["Index"], **update_kwargs(
            service["Spec"], force=generation(service["Spec"]) + 1))
    updated = time.perf_counter()

    def new_running_task():
        task = newest_task([t for t in api.tasks(filters={"service": service["ID"]}) if t["ID"] not in before])
        return task if task_state(task) == "running" else None

    task = wait_until(new_running_task, 90, what="the forced update's new task runs")
    running = time.perf_counter()
    ip, port = task_address(task, api.inspect_node(task["NodeID"]), 8888)
    wait_until(lambda: http_ok(f"http://{ip}:{port}/user/{user}/api", http), 90, what="the new task answers")
    total = time.perf_counter() - tic
    info.setdefault(f"{key}_update_call", []).append(updated - tic)
    info.setdefault(f"{key}_task_running", []).append(running - tic)
    return total


def restart_scale(hubs, client, http, info):
    return restart_raw(hubs, client, http, info, key="scale")


VARIANTS = {"ours": restart_ours, "raw": restart_raw, "scale": restart_scale, "single": restart_single}


def run(ctx):
    rounds = 1 if ctx.smoke else 10
    warmup = 0 if ctx.smoke else 1
    samples = {key: [] for key in VARIANTS}
    info = {}
    image_id = ctx.client.images.get(ctx.image).id
    # The rig first: it removes whatever rsbench-* is left on entry, node 2 too.
    with Rig(ctx, NAME) as rig, TwoNodeSwarm(ctx.client, ctx.image) as swarm, httpx.Client() as http:
        hubs = {}
        try:
            for name, settings in (("swarm", {}), ("raw", {"poll_interval": 0})):  # 0: JupyterHub never polls
                hub = swarm_hub(rig.workdir / name, swarm, image_id, name, hub_class=BenchHub, **settings)
                rig.hubs.append(hub)
                hubs[name] = hub.start()
            hubs["single"] = rig.start_hub("single")
            placement = {"ours": "swarm", "raw": "raw", "scale": "raw", "single": "single"}
            for key, user in USERS.items():
                hubs[placement[key]].create_user(user)
                hubs[placement[key]].request_start(user)
            for key, user in USERS.items():
                hubs[placement[key]].wait_route(user, timeout=180, http=http)

            order = list(VARIANTS)
            for i in range(warmup + rounds):
                for key in order[i % len(order):] + order[: i % len(order)]:
                    time.sleep(SETTLE)
                    seconds = VARIANTS[key](hubs, ctx.client, http, info)
                    if i >= warmup:
                        samples[key].append(seconds)
                    print(f"  [swarm] round {i + 1 - warmup}{' (warm-up)' if i < warmup else ''} {key}: {seconds:.3f}s",
                          flush=True)
                if i < warmup:
                    info.clear()
        finally:
            for hub in rig.hubs:  # before the swarm goes: they stop their services
                hub.stop()
    return build_report(samples, info, rounds)


def build_report(samples, info, rounds):
    med = {k: median(v) for k, v in samples.items()}
    ratio = med["ours"] / med["raw"]
    table = md_table(SUMMARY_HEADERS, [summary_row(LABELS[k], samples[k]) for k in VARIANTS])
    ratios = md_table(
        ["ratio of medians", "value"],
        [
            ["ours on swarm / (a) raw forced update", f"{ratio:.3f}"],
            ["(b) scale to 0 and back / (a) raw forced update", f"{med['scale'] / med['raw']:.3f}"],
            ["ours on swarm / (c) ours on a single host", f"{med['ours'] / med['single']:.3f}"],
        ],
    )
    where = md_table(
        ["where the time goes (medians)", "seconds"],
        [
            ["ours: until the API call returned", fmt(median(info["ours_api_returned"]))],
            ["ours: inside native_restart() (server-side duration_seconds)", fmt(median(info["ours_server_side"]))],
            ["(a): the update call itself", fmt(median(info["raw_update_call"]))],
            ["(a): until swarm reports the new task running", fmt(median(info["raw_task_running"]))],
            ["(b): until swarm reports the old task stopped", fmt(median(info["scale_stopped"]))],
            ["(b): until swarm reports the new task running", fmt(median(info["scale_task_running"]))],
            ["(c): inside native_restart() on one host", fmt(median(info["single_server_side"]))],
        ],
    )
    body = f"""
Time from the request to the user's server answering `GET /user/<name>/api` with 200,
{rounds} interleaved rounds per variant (order rotated each round, one warm-up round
discarded in full runs), each variant on its own user's server, all on node 2 of a
two-node swarm (the manager is this machine's engine, node 2 a docker-in-docker
container) except (c), on this machine's engine without swarm. This script checks
readiness every 50 ms in every variant.

- **ours**: `POST /hub/api/users/<name>/restart-server` (ResettableSwarmSpawner: the
  same forced update, the route moved to the new task's port), then the route through the proxy.
- **(a) raw `docker service update --force`**: the forced update the CLI sends, without
  its wait for convergence, on an identical service of a hub that never polls; then the
  new task's host port from swarm and the server directly (no hub, no proxy).
- **(b) raw scale to 0, then back to 1**: the other primitive that keeps the service:
  two updates (the second forced: with restart condition "none" swarm starts no task in
  the slot otherwise), on another service of that hub, with the same readiness check.
- **(c) single host**: ResettableDockerSpawner's restart in place (stop and start of the
  same container), through the proxy, for comparison.

{table}

{ratios}

{where}
"""
    goals = [
        Goal(
            "ours <= 1.1 x (a) raw docker service update --force",
            ratio <= 1.1,
            f"median ours {med['ours']:.3f}s vs (a) {med['raw']:.3f}s: ratio {ratio:.3f}",
        ),
    ]
    return Report(NAME, TITLE, body, goals, samples={LABELS[k]: v for k, v in samples.items()}, extra={"breakdown": info})
