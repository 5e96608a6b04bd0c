"""2. Isolation: another user's spawn while one user's restart waits out a 10 s stop timeout.

Two hubs run side by side: ours, and a "naive" one (naive_config.py) whose restart goes
through DockerSpawner's shared single-thread executor. On each, user "quick" is spawned
with nothing else going on (baseline), and again while user "slow" restarts a container
that ignores SIGTERM (SIGSTOPped from the host), so Docker waits the full 10 s before
it kills it. The spawn is timed from the start request until its route answers.
"""

import datetime
import threading
import time

import httpx

from .common import (
    HERE,
    SUMMARY_HEADERS,
    Goal,
    Report,
    Rig,
    container_of,
    median,
    md_table,
    summary_row,
    wait_for_docker_event,
)

NAME = "isolation"
TITLE = "Isolation: another user's spawn during a slow restart"

# Per hub: both hubs share the rsbench prefix, and container names come from it and
# the user name, so each hub needs user names of its own.
USERS = {"ours": ("oslow", "oquick"), "naive": ("nslow", "nquick")}
RESTART_TIMEOUT = 10
GOAL_ADDED = 0.5  # seconds
# Before each timed spawn: a just-restarted server is still busy starting up for a few
# seconds, and that CPU load must not land on one variant only (2 cores).
SETTLE = 3.0

VARIANTS = {
    "ours": "ours: spawn, no restart running",
    "ours_during": "ours: spawn during slow restart",
    "naive": "naive: spawn, no restart running",
    "naive_during": "naive: spawn during slow restart",
}


def engine_time(timestamp):
    """A Docker RFC 3339 timestamp (nanoseconds, UTC) as a time.time() value."""
    seconds, _, fraction = timestamp.rstrip("Z").partition(".")
    dt = datetime.datetime.strptime(seconds, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    return dt.timestamp() + float("0." + (fraction or "0"))


def timed_spawn(hub, ctx, user, http):
    """(seconds until the route answers, seconds until the Engine started the container).

    The second number leaves out the hub's jittered HTTP wait for the new server, so it
    shows queueing in front of Docker calls, the thing this benchmark is about, with
    less noise.
    """
    requested = time.time()
    seconds = hub.timed_spawn(user, http=http)
    container = container_of(ctx.client, hub, user)
    started = engine_time(container.attrs["State"]["StartedAt"])
    return seconds, started - requested


def spawn_during_slow_restart(hub, ctx, http, slow, quick):
    """Start slow's restart on a SIGTERM-deaf container; time quick's spawn meanwhile.

    Returns (spawn seconds, seconds to docker start, seconds the restart took, whether
    the spawn finished before the restart did).
    """
    container = container_of(ctx.client, hub, slow)
    # A stopped process never handles SIGTERM, so `docker restart` waits out its timeout.
    container.kill(signal="SIGSTOP")
    since = time.time()
    done = {}

    def restart():
        tic = time.perf_counter()
        done["response"] = hub.restart(slow)
        done["seconds"] = time.perf_counter() - tic
        done["at"] = time.perf_counter()

    thread = threading.Thread(target=restart)
    thread.start()
    try:
        # The Engine's SIGTERM "kill" event: the restart is now waiting out its timeout.
        # (Asking the naive hub would block behind the restart itself.)
        wait_for_docker_event(ctx.client, container.id, "kill", since, signal="15")
        spawn, to_start = timed_spawn(hub, ctx, quick, http)
        spawned_at = time.perf_counter()
    finally:
        thread.join(120)
    r = done.get("response")
    if r is None or r.status_code != 200:
        raise RuntimeError(f"slow restart failed on {hub.name}: {r and r.status_code} {r and r.text}")
    return spawn, to_start, done["seconds"], spawned_at < done["at"]


def stop(hub, user):
    hub.request_stop(user)
    hub.wait_stopped(user)


def run(ctx):
    rounds = 1 if ctx.smoke else 4
    samples = {k: [] for k in VARIANTS}
    to_start = {k: [] for k in VARIANTS}
    restart_seconds = {"ours": [], "naive": []}
    before_restart_end = {"ours": [], "naive": []}
    with Rig(ctx, NAME) as rig, httpx.Client() as http:
        hubs = {
            "ours": rig.start_hub("ours", restart_timeout=RESTART_TIMEOUT),
            "naive": rig.start_hub("naive", config=HERE / "naive_config.py", restart_timeout=RESTART_TIMEOUT),
        }
        for key, hub in hubs.items():
            slow, quick = USERS[key]
            hub.create_user(slow)
            hub.create_user(quick)
            hub.request_start(slow)
        for key, hub in hubs.items():
            slow, quick = USERS[key]
            hub.wait_route(slow, http=http)
            # Warm-up: the first spawn also creates the container and volumes; later
            # ones (remove=False) start the existing container, in every variant alike.
            hub.timed_spawn(quick, http=http)
            stop(hub, quick)

        for i in range(rounds):
            order = ["ours", "naive"] if i % 2 == 0 else ["naive", "ours"]
            for key in order:
                hub = hubs[key]
                slow, quick = USERS[key]

                time.sleep(SETTLE)
                seconds, started = timed_spawn(hub, ctx, quick, http)
                samples[key].append(seconds)
                to_start[key].append(started)
                stop(hub, quick)
                print(f"  [isolation] round {i + 1} {key} baseline spawn: {seconds:.3f}s", flush=True)

                time.sleep(SETTLE)
                spawn, started, restart, before = spawn_during_slow_restart(hub, ctx, http, slow, quick)
                samples[key + "_during"].append(spawn)
                to_start[key + "_during"].append(started)
                restart_seconds[key].append(restart)
                before_restart_end[key].append(before)
                stop(hub, quick)
                print(
                    f"  [isolation] round {i + 1} {key} spawn during restart: {spawn:.3f}s"
                    f" (restart took {restart:.1f}s)",
                    flush=True,
                )

    return build_report(samples, to_start, restart_seconds, before_restart_end, rounds)


def build_report(samples, to_start, restart_seconds, before_restart_end, rounds):
    med = {k: median(v) for k, v in samples.items()}
    med_start = {k: median(v) for k, v in to_start.items()}
    added = {k: med[k + "_during"] - med[k] for k in ("ours", "naive")}
    added_start = {k: med_start[k + "_during"] - med_start[k] for k in ("ours", "naive")}
    paired = {
        k: median([d - b for d, b in zip(samples[k + "_during"], samples[k])]) for k in ("ours", "naive")
    }
    table = md_table(SUMMARY_HEADERS, [summary_row(VARIANTS[k], samples[k]) for k in VARIANTS])
    effect = md_table(
        [
            "hub",
            "added delay to the spawn (median during - median baseline)",
            "median of per-round differences",
            "ratio during / baseline",
            "added delay until docker start",
            "spawns done before the restart ended",
            "restart duration (median)",
        ],
        [
            [
                k,
                f"{added[k]:+.3f} s",
                f"{paired[k]:+.3f} s",
                f"{med[k + '_during'] / med[k]:.2f}",
                f"{added_start[k]:+.3f} s",
                f"{sum(before_restart_end[k])} of {len(before_restart_end[k])}",
                f"{median(restart_seconds[k]):.1f} s",
            ]
            for k in ("ours", "naive")
        ],
    )
    starts = md_table(
        ["variant", "median seconds from the start request until the Engine started the container"],
        [[VARIANTS[k], f"{med_start[k]:.3f}"] for k in VARIANTS],
    )
    body = f"""
Spawn time of a user "quick" (start request until `GET /user/<name>/api` answers 200
through the proxy), {rounds} rounds per variant, hubs alternated each round. "During"
means while another user "slow"'s restart waits out a {RESTART_TIMEOUT} s stop timeout: its
container is SIGSTOPped from the host, and the spawn begins once the Engine reports the
restart's SIGTERM. The **naive** hub is the same hub with restarts sent through
DockerSpawner's shared single-thread executor (`benchmarks/naive_config.py`).

{table}

{effect}

The spawn time includes the hub's own jittered wait for the new server (exponential
backoff, up to 0.8-1.6 s of noise per spawn). The time until the Engine started the
container (its `State.StartedAt`) leaves that out and shows the queueing directly:

{starts}
"""
    goals = [
        Goal(
            f"ours adds < {GOAL_ADDED} s to another user's spawn during a slow restart",
            added["ours"] < GOAL_ADDED,
            f"median spawn {med['ours_during']:.3f}s during vs {med['ours']:.3f}s without: {added['ours']:+.3f}s"
            f" (until docker start {added_start['ours']:+.3f}s); the naive design adds {added['naive']:+.3f}s",
        )
    ]
    return Report(
        NAME,
        TITLE,
        body,
        goals,
        samples={VARIANTS[k]: v for k, v in samples.items()},
        extra={
            "seconds_to_docker_start": to_start,
            "restart_seconds": restart_seconds,
            "spawn_before_restart_end": before_restart_end,
        },
    )
