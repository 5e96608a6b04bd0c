"""5. Restart storms: the hub API's p99 latency and the storm's length, per start bound.

N users' servers run; all N restart at once through the API, and a prober times
GET /hub/api/users meanwhile. The same servers and the same hub are used for every
bound (max_concurrent_restarts 1, 2, 4 and 0 = unbounded): the hub is restarted with
the next bound (cleanup_servers off, so the servers keep running), and the bounds are
interleaved over the rounds so that drift of the machine hits them all alike. Each
storm is compared with an idle probe taken right before it.
"""

import time

from .bench_responsiveness import Prober, spawn_all
from .common import Goal, Report, Rig, md_table, median, ms, percentile, run_threads

NAME = "storm"
TITLE = "Restart storms: hub latency and storm length by max_concurrent_restarts"

DEFAULT_BOUND = 1  # ResettableDockerSpawner.max_concurrent_restarts' default
SETTLE = 5


def storm(hub, users):
    responses = run_threads([lambda u=u: hub.restart(u, timeout=300) for u in users])
    failed = [r for r in responses if isinstance(r, Exception) or r.status_code != 200]
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(users)} restarts failed: {failed[:3]}")


def measure(hub, users, idle_seconds):
    probe = Prober(hub).start()
    time.sleep(idle_seconds)
    idle = probe.stop()
    probe = Prober(hub).start()
    time.sleep(0.5)
    tic = time.perf_counter()
    storm(hub, users)
    seconds = time.perf_counter() - tic
    load = probe.stop()
    return idle, load, seconds


def run(ctx):
    n_users = 3 if ctx.smoke else 20
    bounds = [1, 0] if ctx.smoke else [1, 2, 4, 0]
    rounds = 1 if ctx.smoke else 2
    idle_seconds = 2 if ctx.smoke else 6
    users = [f"storm{i:02d}" for i in range(n_users)]
    results = {b: {"idle": [], "load": [], "seconds": []} for b in bounds}
    with Rig(ctx, NAME) as rig:
        hub = rig.start_hub("hub", restart_timeout=10, keep_servers=1)
        for user in users:
            hub.create_user(user)
        spawn_all(hub, users)
        for round_ in range(rounds):
            order = bounds if round_ % 2 == 0 else list(reversed(bounds))
            for bound in order:
                hub.stop()
                hub.env["RS_MAX_CONCURRENT_RESTARTS"] = str(bound)
                hub.start()
                for user in users:
                    hub.wait_route(user)
                time.sleep(SETTLE)
                idle, load, seconds = measure(hub, users, idle_seconds)
                results[bound]["idle"] += idle
                results[bound]["load"] += load
                results[bound]["seconds"].append(seconds)
                print(f"  bound {bound or 'none'}: storm {seconds:.1f}s, p99 {ms(percentile(load, 99))} ms"
                      f" vs idle {ms(percentile(idle, 99))} ms", flush=True)
                time.sleep(SETTLE)
    return build_report(results, n_users, rounds)


def build_report(results, n_users, rounds):
    unbounded = median(results[0]["seconds"])
    rows, curve = [], {}
    for bound, r in results.items():
        idle_p99, load_p99 = percentile(r["idle"], 99), percentile(r["load"], 99)
        seconds = median(r["seconds"])
        curve[bound or "unbounded"] = {
            "p99_ratio": load_p99 / idle_p99,
            "storm_seconds": seconds,
            "time_ratio": seconds / unbounded,
        }
        rows.append([
            bound or "unbounded",
            ms(idle_p99),
            ms(load_p99),
            f"{load_p99 / idle_p99:.2f}",
            f"{seconds:.1f}",
            f"{seconds / unbounded:.2f}",
        ])
    table = md_table(
        ["max_concurrent_restarts", "idle p99 (ms)", "storm p99 (ms)", "p99 ratio",
         "storm length (s, median)", "length / unbounded"],
        rows,
    )
    body = f"""
{n_users} running servers restart at once, one API request each, {rounds} round(s) per
bound, bounds interleaved. Latency: `GET /hub/api/users` back to back on one keep-alive
connection, nearest-rank p99, during the storm against an idle probe right before it.
Storm length: from the requests until the last restart answered (each answers once its
server answers again).

{table}
"""
    default = curve[DEFAULT_BOUND] if DEFAULT_BOUND in curve else None
    goals = []
    if default:
        goals = [
            Goal("with the default bound, p99 during a storm < 2 x idle p99",
                 default["p99_ratio"] < 2, f"ratio {default['p99_ratio']:.2f}"),
            Goal("with the default bound, storm length <= 1.3 x unbounded",
                 default["time_ratio"] <= 1.3, f"ratio {default['time_ratio']:.2f}"),
        ]
    return Report(
        NAME, TITLE, body, goals,
        samples={f"storm, bound {b or 'none'}": r["load"] for b, r in results.items()},
        extra={"curve": {str(k): v for k, v in curve.items()}},
    )
