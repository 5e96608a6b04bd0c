"""1. Restart latency: our native restart against a raw `docker restart` and the hub's stop+start.

Each variant restarts its own user's server; all containers are identical (same image,
config and volumes). The raw `docker restart` happens behind a hub's back, and a polling
hub that sees the container down mid-restart declares the server dead and stops it, so
the raw variants' servers live on a second hub with polling off. Rounds interleave the
variants and rotate their order, so drift on this shared machine hits all alike.
"""

import asyncio
import time

import httpx
from jupyterhub.utils import exponential_backoff

from .common import (
    SUMMARY_HEADERS,
    Goal,
    Report,
    Rig,
    container_of,
    fmt,
    host_port,
    median,
    md_table,
    summary_row,
    wait_until,
    http_ok,
)

NAME = "restart"
TITLE = "Restart latency"

USERS = {"ours": "ours", "raw": "raw", "stopstart": "stopstart", "raw_backoff": "rawbackoff"}
RAW_HUB_USERS = ("raw", "raw_backoff")  # on the hub that never polls
LABELS = {
    "ours": "ours: POST restart-server",
    "raw": "(a) raw docker restart",
    "stopstart": "(b) hub stop + start",
    "raw_backoff": "diagnostic: (a) waiting with JupyterHub's backoff",
}
SETTLE = 0.75  # seconds between operations, so one's aftermath is not the next one's load


def restart_ours(hubs, ctx, http, info):
    """API call until the route answers through the proxy."""
    user, hub = USERS["ours"], hubs["main"]
    tic = time.perf_counter()
    r = hub.restart(user)
    if r.status_code != 200:
        raise RuntimeError(f"restart failed: {r.status_code} {r.text}")
    returned = time.perf_counter()
    hub.wait_route(user, http=http)
    total = time.perf_counter() - tic
    body = r.json()
    info.setdefault("ours_api_returned", []).append(returned - tic)
    info.setdefault("ours_server_side", []).append(body["duration_seconds"])
    info.setdefault("ours_route_updated", []).append(body["route_updated"])
    return total


def restart_raw(hubs, ctx, http, info, key="raw"):
    """`docker restart` through the Engine API, then the same readiness check on the new port."""
    user, hub = USERS[key], hubs["raw"]
    container = container_of(ctx.client, hub, user)
    tic = time.perf_counter()
    container.restart(timeout=10)
    restarted = time.perf_counter()
    url = f"http://127.0.0.1:{host_port(container)}/user/{user}/api"
    if key == "raw_backoff":
        # How the hub's own spawn waits: jupyterhub.utils.wait_for_http_server polls
        # through exponential_backoff (random waits of up to 0.2, 0.4, 0.8, 1.6 s, ...).
        asyncio.run(exponential_backoff(lambda: http_ok(url, http), "no answer", timeout=90))
    else:
        wait_until(lambda: http_ok(url, http), 90, what="raw-restarted container answers")
    total = time.perf_counter() - tic
    info.setdefault(f"{key}_docker_call", []).append(restarted - tic)
    return total


def restart_raw_backoff(hubs, ctx, http, info):
    """Diagnostic, not a baseline: (a) with the hub's backoff instead of a 50 ms poll."""
    return restart_raw(hubs, ctx, http, info, key="raw_backoff")


def restart_stopstart(hubs, ctx, http, info):
    """The hub's own DELETE then POST /users/<name>/server, until the route answers."""
    user, hub = USERS["stopstart"], hubs["main"]
    tic = time.perf_counter()
    hub.request_stop(user)
    hub.wait_stopped(user)
    stopped = time.perf_counter()
    hub.request_start(user)
    hub.wait_route(user, http=http)
    total = time.perf_counter() - tic
    info.setdefault("stopstart_stop", []).append(stopped - tic)
    return total


VARIANTS = {
    "ours": restart_ours,
    "raw": restart_raw,
    "stopstart": restart_stopstart,
    "raw_backoff": restart_raw_backoff,
}


def run(ctx):
    rounds = 2 if ctx.smoke else 10
    warmup = 0 if ctx.smoke else 1
    samples = {key: [] for key in VARIANTS}
    info = {}
    with Rig(ctx, NAME) as rig, httpx.Client() as http:
        hubs = {
            "main": rig.start_hub("hub", restart_timeout=10),
            "raw": rig.start_hub("rawhub", poll_interval=0),  # 0: JupyterHub never polls
        }
        placement = {k: hubs["raw" if k in RAW_HUB_USERS else "main"] for k in USERS}
        for key, user in USERS.items():
            placement[key].create_user(user)
            placement[key].request_start(user)
        for key, user in USERS.items():
            placement[key].wait_route(user, http=http)

        order = list(VARIANTS)
        for i in range(warmup + rounds):
            # Rotate the order every round: no variant always runs first or last.
            for key in order[i % len(order) :] + order[: i % len(order)]:
                time.sleep(SETTLE)
                seconds = VARIANTS[key](hubs, ctx, http, info)
                if i >= warmup:
                    samples[key].append(seconds)
                print(f"  [restart] round {i + 1 - warmup}{' (warm-up)' if i < warmup else ''} {key}: {seconds:.3f}s", flush=True)
            if i < warmup:
                info.clear()

    return build_report(samples, info, rounds)


def build_report(samples, info, rounds):
    med = {k: median(v) for k, v in samples.items()}
    ratio_a = med["ours"] / med["raw"]
    ratio_b = med["ours"] / med["stopstart"]
    table = md_table(SUMMARY_HEADERS, [summary_row(LABELS[k], samples[k]) for k in VARIANTS])
    ratios = md_table(
        ["ratio of medians", "value"],
        [
            ["ours / (a) raw docker restart", f"{ratio_a:.3f}"],
            ["ours / (b) hub stop + start", f"{ratio_b:.3f}"],
            ["diagnostic / (a) raw docker restart", f"{med['raw_backoff'] / med['raw']:.3f}"],
        ],
    )
    where = md_table(
        ["where the time goes (medians)", "seconds"],
        [
            ["ours: until the API call returned", fmt(median(info["ours_api_returned"]))],
            ["ours: inside native_restart() (server-side duration_seconds)", fmt(median(info["ours_server_side"]))],
            ["ours: route answered after the call returned", fmt(median(samples["ours"]) - median(info["ours_api_returned"]))],
            ["(a): the docker restart call itself", fmt(median(info["raw_docker_call"]))],
            ["(a): server answering after the docker call returned", fmt(med["raw"] - median(info["raw_docker_call"]))],
            ["(b): stop (DELETE until the server is gone)", fmt(median(info["stopstart_stop"]))],
        ],
    )
    body = f"""
Time from the request to the user's server answering `GET /user/<name>/api` with 200,
{rounds} interleaved rounds per variant (order rotated each round, one warm-up round
discarded in full runs), each variant on its own user's identical container: ours and
(b) on the test hub (restart_timeout 10 s, poll_interval 1 s), (a) and the diagnostic
on a second hub that never polls, which would otherwise stop a container it catches
down in the middle of a raw restart. This script checks readiness every 50 ms in
every variant (the diagnostic excepted), so the variants differ only by what the system
under test does.

- **ours**: `POST /hub/api/users/<name>/restart-server`, then `GET /user/<name>/api` through the proxy.
- **(a) raw docker restart**: `docker restart` through the Engine API (the call the
  spawner makes), then the container's published port read again and
  `GET http://127.0.0.1:<port>/user/<name>/api` directly (no hub, no proxy).
- **(b) hub stop + start**: `DELETE` then `POST /hub/api/users/<name>/server`, until
  `GET /user/<name>/api` answers through the proxy.
- **diagnostic** (not a baseline, no goal): (a) again, but waiting for the server with
  `jupyterhub.utils.exponential_backoff`, the jittered 0.2 s, 0.4 s, 0.8 s, ... backoff
  of `wait_for_http_server`, with which the hub's own spawn in (b) waits for a server.
  Its gap to (a) is what that way of waiting costs; native_restart() checks at a fixed
  `ready_check_interval` instead.

{table}

{ratios}

{where}

Route moved to a new host port in {sum(info['ours_route_updated'])} of {len(info['ours_route_updated'])} native restarts.
"""
    goals = [
        Goal(
            "ours <= 1.15 x (a) raw docker restart",
            ratio_a <= 1.15,
            f"median ours {med['ours']:.3f}s vs (a) {med['raw']:.3f}s: ratio {ratio_a:.3f}",
        ),
        Goal(
            "ours < (b) hub stop + start",
            med["ours"] < med["stopstart"],
            f"median ours {med['ours']:.3f}s vs (b) {med['stopstart']:.3f}s: ratio {ratio_b:.3f}",
        ),
    ]
    return Report(
        NAME,
        TITLE,
        body,
        goals,
        samples={LABELS[k]: v for k, v in samples.items()},
        extra={"breakdown": info},
    )
