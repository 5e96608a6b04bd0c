"""8. Bulk restart: one POST /hub/api/bulk-restart of N servers against the same N restarts
sent as N concurrent single requests, on one hub with the default max_concurrent_restarts.

Both go through native_restart() and the same start slots, so the bulk restart should
take as long as the singles (goal: total time <= 1.05 x) and load the hub no more (goal:
GET /hub/api/users p99 during it <= 2 x an idle probe right before it). The variants
alternate (ABBA), on the same servers and the same hub.
"""

import time

from .bench_responsiveness import Prober, spawn_all
from .common import Goal, Report, Rig, container_of, md_table, median, ms, percentile, run_threads

NAME = "bulk"
TITLE = "Bulk restart against the same restarts as concurrent single requests"

# How often the benchmark asks GET /hub/api/bulk-restart/{id} whether it has finished. The
# length itself is the hub's duration_seconds, so following it rarely loads the hub it
# measures no more than the singles' open requests do.
FOLLOW_INTERVAL = 2.0


def bulk(hub, users):
    """Seconds from the request to the end of the last server, as the hub measured them."""
    r = hub.api("POST", "/bulk-restart", json={"servers": users})
    if r.status_code != 202:
        raise RuntimeError(f"bulk restart refused: {r.status_code} {r.text}")
    bulk_id = r.json()["id"]
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        time.sleep(FOLLOW_INTERVAL)
        body = hub.api("GET", f"/bulk-restart/{bulk_id}").json()
        if body["finished"]:
            if body["counts"]["done"] != len(users):
                raise RuntimeError(f"bulk restart did not restart every server: {body['counts']}")
            return body["duration_seconds"]
    raise TimeoutError(f"bulk restart {bulk_id} did not finish")


def singles(hub, users):
    """Seconds from sending the requests until the last one answered."""
    tic = time.perf_counter()
    responses = run_threads([lambda u=u: hub.restart(u, timeout=600) for u in users])
    seconds = time.perf_counter() - tic
    failed = [r for r in responses if isinstance(r, Exception) or r.status_code != 200]
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(users)} restarts failed: {failed[:3]}")
    return seconds


VARIANTS = {"bulk": bulk, "singles": singles}


def measure(hub, users, variant, idle_seconds):
    probe = Prober(hub).start()
    time.sleep(idle_seconds)
    idle = probe.stop()
    probe = Prober(hub).start()
    time.sleep(0.5)
    seconds = VARIANTS[variant](hub, users)
    load = probe.stop()
    if probe.errors:
        raise RuntimeError(f"{probe.errors} probe requests failed")
    return idle, load, seconds


def run(ctx):
    n_users = 3 if ctx.smoke else 20
    rounds = 1 if ctx.smoke else 3
    idle_seconds = 2 if ctx.smoke else 6
    users = [f"bulk{i:02d}" for i in range(n_users)]
    results = {v: {"idle": [], "load": [], "seconds": []} for v in VARIANTS}
    with Rig(ctx, NAME) as rig:
        hub = rig.start_hub("hub", restart_timeout=10)
        for user in users:
            hub.create_user(user)
        spawn_all(hub, users)
        ids = {u: container_of(ctx.client, hub, u).id for u in users}
        for round_ in range(rounds):
            order = ["bulk", "singles"] if round_ % 2 == 0 else ["singles", "bulk"]
            for variant in order:
                idle, load, seconds = measure(hub, users, variant, idle_seconds)
                results[variant]["idle"] += idle
                results[variant]["load"] += load
                results[variant]["seconds"].append(seconds)
                print(f"  {variant}: {seconds:.1f}s, p99 {ms(percentile(load, 99))} ms"
                      f" vs idle {ms(percentile(idle, 99))} ms", flush=True)
        moved = [u for u in users if container_of(ctx.client, hub, u).id != ids[u]]
        if moved:
            raise RuntimeError(f"containers replaced by the restarts: {moved}")
    return build_report(results, n_users, rounds)


def build_report(results, n_users, rounds):
    rows, curve = [], {}
    for variant, r in results.items():
        idle_p99, load_p99 = percentile(r["idle"], 99), percentile(r["load"], 99)
        curve[variant] = {"seconds": median(r["seconds"]), "p99_ratio": load_p99 / idle_p99}
        rows.append([
            {"bulk": "one `POST /hub/api/bulk-restart`", "singles": f"{n_users} concurrent `POST .../restart-server`"}[variant],
            f"{median(r['seconds']):.1f}",
            ", ".join(f"{s:.1f}" for s in r["seconds"]),
            ms(idle_p99),
            ms(load_p99),
            f"{load_p99 / idle_p99:.2f}",
        ])
    time_ratio = curve["bulk"]["seconds"] / curve["singles"]["seconds"]
    table = md_table(
        ["variant", "total (s, median)", "rounds (s)", "idle p99 (ms)", "p99 during (ms)", "p99 ratio"],
        rows,
    )
    body = f"""
{n_users} running servers restarted by one bulk restart, against the same {n_users} restarts sent
as concurrent single requests, {rounds} round(s) each, alternating, on one hub with the default
`max_concurrent_restarts` (1). Total: from the request(s) until the last server is done: for
the bulk restart its `duration_seconds`, measured by the hub from the request to the end of its
last server (the benchmark asks `GET /hub/api/bulk-restart/{{id}}` every {FOLLOW_INTERVAL:.0f} s whether it
has finished); for the singles, until the last one answered (each once its server answers).
Latency: `GET /hub/api/users` back to back on one keep-alive connection, nearest-rank p99,
during each against an idle probe right before it (the probe runs until the variant has
ended, so the bulk restart's is up to {FOLLOW_INTERVAL:.0f} s longer).

{table}

Bulk total / singles total: **{time_ratio:.3f}**.
"""
    goals = [
        Goal("bulk restart total time <= 1.05 x the same restarts as concurrent single requests",
             time_ratio <= 1.05, f"ratio {time_ratio:.3f}"),
        Goal("with the default bound, hub API p99 during the bulk restart <= 2 x idle",
             curve["bulk"]["p99_ratio"] <= 2, f"ratio {curve['bulk']['p99_ratio']:.2f}"),
    ]
    return Report(
        NAME, TITLE, body, goals,
        samples={f"during the {v}": r["load"] for v, r in results.items()},
        extra={"curve": curve, "time_ratio": time_ratio},
    )
