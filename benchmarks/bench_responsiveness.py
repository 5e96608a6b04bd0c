"""3. Hub responsiveness: latency of GET /hub/api/users at idle and under restarts and resets.

One hub, N users, each with a running default server and a stopped named server
"data" (its container kept, remove=False, so a reset removes container and volume).
The load is one restart of every default server and one reset of every "data" home
volume, all requested at once: 2N operations across N users.

A control phase does the same container work without the probed hub: raw Engine
restarts of N identical servers that belong to a second hub (which never polls, so it
leaves them alone) and N volume removals, on as many threads as the spawner's pool.
Its latency shows what the machine's CPU contention alone does to the hub on 2 cores.
"""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from .common import (
    PREFIX,
    Goal,
    Report,
    Rig,
    container_of,
    host_port,
    http_ok,
    md_table,
    median,
    ms,
    percentile,
    run_threads,
    wait_until,
)

NAME = "responsiveness"
TITLE = "Hub responsiveness during restarts and resets"

NAMED = "data"
GAP = 0.01  # pause between probe requests: a busy client, not a flood that is the load itself
POOL = 4  # ResettableDockerSpawner.long_call_threads' default: restarts and resets at once
SETTLE = 5  # seconds for restarted servers' startup work to die down between phases


class Prober:
    """Times GET /hub/api/users back to back on one keep-alive connection."""

    def __init__(self, hub):
        self.hub = hub
        self.samples = []
        self.errors = 0
        self._stop = threading.Event()
        self._thread = None

    def _loop(self):
        headers = {"Authorization": f"token {self.hub.admin_token}"}
        with httpx.Client(base_url=self.hub.url, headers=headers, timeout=30) as http:
            while not self._stop.is_set():
                tic = time.perf_counter()
                try:
                    ok = http.get("/hub/api/users").status_code == 200
                except httpx.HTTPError:
                    ok = False
                if ok:
                    self.samples.append(time.perf_counter() - tic)
                else:
                    self.errors += 1
                time.sleep(GAP)

    def start(self):
        self._thread = threading.Thread(target=self._loop)
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join()
        return self.samples


def spawn_all(hub, users, server=""):
    for user in users:
        hub.request_start(user, server)
    for user in users:
        hub.wait_route(user, server, timeout=180)


def probe_during(hub, action):
    """Latencies of GET /hub/api/users while action() runs; (samples, seconds, result)."""
    probe = Prober(hub).start()
    time.sleep(0.5)  # the probe is up before the load begins
    tic = time.perf_counter()
    result = action()
    seconds = time.perf_counter() - tic
    samples = probe.stop()
    if probe.errors:
        raise RuntimeError(f"{probe.errors} probe requests failed")
    return samples, seconds, result


def our_load(hub, users):
    """N restarts and N resets through our API, all requested at once."""
    operations = [lambda u=u: hub.restart(u) for u in users]
    # Without backups, so that ours and the control do the same container work; the
    # backups' own price is measured by bench_backup.
    operations += [lambda u=u: hub.reset(u, NAMED, backup=False) for u in users]
    responses = run_threads(operations)
    failed = [
        r if isinstance(r, Exception) else f"{r.status_code} {r.text}"
        for r in responses
        if isinstance(r, Exception) or r.status_code != 200
    ]
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(responses)} operations failed: {failed[:3]}")
    return len(responses)


def control_load(ctx, control_hub, users, volumes):
    """The same Engine work without the probed hub: restarts, volume removals, servers up."""
    containers = [container_of(ctx.client, control_hub, u) for u in users]
    with ThreadPoolExecutor(POOL) as pool:
        jobs = [pool.submit(c.restart, timeout=10) for c in containers]
        jobs += [pool.submit(ctx.client.api.remove_volume, v) for v in volumes]
        for job in jobs:
            job.result()
    # Our restarts return once the server answers; so does this phase.
    for user, c in zip(users, containers):
        url = f"http://127.0.0.1:{host_port(c)}/user/{user}/api"
        wait_until(lambda: http_ok(url), 90, what=f"control server {user} answers")
    return len(jobs)


def run(ctx):
    n_users = 2 if ctx.smoke else 10
    idle_seconds = 3 if ctx.smoke else 10
    users = [f"resp{i}" for i in range(n_users)]
    control_users = [f"ctl{i}" for i in range(n_users)]
    control_volumes = [f"{PREFIX}-ctlvol-{i}" for i in range(n_users)]
    with Rig(ctx, NAME) as rig:
        hub = rig.start_hub("hub", restart_timeout=10)
        control_hub = rig.start_hub("control", poll_interval=0)  # 0: never polls
        for user in users:
            hub.create_user(user)
        for user in control_users:
            control_hub.create_user(user)
        # Spawn in waves of N, not 3N at once, to keep setup within the 2 cores.
        spawn_all(hub, users)
        spawn_all(hub, users, NAMED)
        spawn_all(control_hub, control_users)
        for user in users:
            hub.request_stop(user, NAMED)
        for user in users:
            hub.wait_stopped(user, NAMED)
        for volume in control_volumes:
            ctx.client.volumes.create(volume)
        time.sleep(SETTLE)

        idle_probe = Prober(hub).start()
        time.sleep(idle_seconds)
        idle = idle_probe.stop()

        control, control_seconds, n_control = probe_during(
            hub, lambda: control_load(ctx, control_hub, control_users, control_volumes)
        )
        time.sleep(SETTLE)
        load, load_seconds, n_ops = probe_during(hub, lambda: our_load(hub, users))

    return build_report(idle, load, control, n_users, n_ops, load_seconds, control_seconds)


def build_report(idle, load, control, n_users, n_ops, load_seconds, control_seconds):
    phases = (
        ("idle", idle),
        ("under load: our restarts and resets", load),
        ("control: same Engine work, not through this hub", control),
    )
    stats = {
        label: {"n": len(v), "p50": percentile(v, 50), "p99": percentile(v, 99), "max": max(v)}
        for label, v in phases
    }
    idle_s, load_s, control_s = (stats[label] for label, _ in phases)
    ratio = load_s["p99"] / idle_s["p99"]
    table = md_table(
        ["GET /hub/api/users", "requests", "p50 (ms)", "p99 (ms)", "max (ms)"],
        [[k, s["n"], ms(s["p50"]), ms(s["p99"]), ms(s["max"])] for k, s in stats.items()],
    )
    ratios = md_table(
        ["ratio", "value"],
        [
            ["p99 under load / p99 idle", f"{ratio:.2f}"],
            ["p50 under load / p50 idle", f"{load_s['p50'] / idle_s['p50']:.2f}"],
            ["p99 control / p99 idle", f"{control_s['p99'] / idle_s['p99']:.2f}"],
            ["p99 under load / p99 control", f"{load_s['p99'] / control_s['p99']:.2f}"],
        ],
    )
    body = f"""
Latency of `GET /hub/api/users` (admin token, one keep-alive connection, {GAP * 1000:.0f} ms
between requests) on a hub with {n_users} users, each with a running server and a stopped
named server. Percentiles are nearest-rank.

- **idle**: nothing else happens.
- **under load**: {n_ops} operations requested at once through the hub's API
  ({n_users} in-place restarts of the running servers and {n_users} home-volume resets of the
  stopped ones, `?backup=0`); all finished in {load_seconds:.1f} s.
- **control**: the same kind of container work done directly against the Engine, not
  through the probed hub: {n_users} `docker restart`s of identical servers belonging to a
  second hub and {n_users} volume removals, {POOL} at a time like the spawner's pool, until
  every restarted server answers; {control_seconds:.1f} s. It measures what the CPU
  contention of {n_users} servers starting at once on this machine does to the hub by itself.

{table}

{ratios}
"""
    goals = [
        Goal(
            "p99 under load < 2 x p99 at idle",
            ratio < 2,
            f"p99 {ms(load_s['p99'])} ms under load vs {ms(idle_s['p99'])} ms idle: ratio {ratio:.2f}"
            f"; control (no hub involved) p99 {ms(control_s['p99'])} ms",
        )
    ]
    return Report(
        NAME,
        TITLE,
        body,
        goals,
        samples={label: v for label, v in phases},
        extra={
            "load_seconds": load_seconds,
            "control_seconds": control_seconds,
            "median_idle": median(idle),
            "median_load": median(load),
            "median_control": median(control),
        },
    )
