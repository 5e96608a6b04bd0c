"""7. Engine failures: dockerd SIGKILLed mid-operation, and frozen with SIGSTOP.

A throwaway dockerd (tests/support/dockerd.py: its own socket, data root, exec root and
bridge) with the single-user image copied in, and hubs on it.

(a) Kill. For a restart's stop phase (its container SIGSTOPped, so the stop waits out
    ``restart_timeout``), a backup copy and a restore (768 MiB each): SIGKILL dockerd
    mid-way. Measured: the time from the kill to the answer and its status; after
    dockerd starts again, the time until the hub's view of the server matches Docker's
    and no helper is left (the hub sweeps every 2 s here), the leftovers then, and the
    status of the retry.
(b) Freeze. SIGSTOP dockerd for 30 s. At its start and halfway through, a restart, a
    ``GET .../home-volume`` and a reset, each on our hub (``docker_call_timeout`` at its
    default) and on a control hub with ``docker_call_timeout = 3600`` (no bound in
    practice: every call waits for the engine, as before the bound existed). All along,
    ``GET /hub/api/users`` back to back on both hubs (it needs no Docker call): its p99
    against its idle p99, measured just before. After SIGCONT: the time until
    ``GET .../home-volume`` answers 200 again, and a restart's status, without a hub
    restart.
"""

import dataclasses
import time
from concurrent.futures import ThreadPoolExecutor

# .common first: it sets the name prefix that tests.support reads when imported.
from .common import PREFIX, BenchHub, Goal, Report, Rig, container_of, fill_volume, md_table, ms, percentile, wait_until  # isort: skip
from resettable_spawner.base import EngineSpawner
from resettable_spawner.objects import HELPER_LABEL
from tests.support.dockerd import ThrowawayDockerd

from .bench_responsiveness import Prober

NAME = "engine_faults"
TITLE = "Engine failures: dockerd killed and frozen"

RESTART_TIMEOUT = 6
HTTP_TIMEOUT = 30
DEFAULT_CALL_TIMEOUT = EngineSpawner.docker_call_timeout.default_value
UNBOUNDED = 3600
BIG_FILES, BIG_FILE_KIB = 48, 16384  # 768 MiB: a copy takes a few seconds here

_pool = ThreadPoolExecutor(16)


def timed(call):
    """Run call() on a thread; the future gives (result or exception, monotonic end time)."""

    def run():
        try:
            result = call()
        except Exception as e:
            result = e
        return result, time.monotonic()

    return _pool.submit(run)


def code(result):
    return getattr(result, "status_code", type(result).__name__)


def home(user):
    return f"{PREFIX}-{user}---home"


def helpers(engine):
    return [
        h
        for h in engine.client.api.containers(all=True, filters={"label": HELPER_LABEL})
        if h["Names"][0].lstrip("/").startswith(PREFIX)
    ]


def backups_of(engine, volume):
    return engine.client.volumes.list(filters={"label": f"resettable-spawner.backup-of={volume}"})


def running(engine, hub, user):
    try:
        return container_of(engine.client, hub, user).status == "running"
    except Exception:  # not found
        return False


def hub_says_running(hub, user):
    return bool((hub.server_model(user) or {}).get("ready"))


def start_hub(rig, engine, name, **settings):
    hub = BenchHub(rig.workdir / name, rig.ctx.image, name, docker_url=engine.url, **settings)
    hub.env["RS_HUB_CONNECT_IP"] = engine.gateway  # its containers reach it on the throwaway bridge
    rig.hubs.append(hub)
    return hub.start()


def spawn(hub, user):
    hub.create_user(user)
    hub.request_start(user)
    hub.wait_route(user)


# --- (a) kill ---------------------------------------------------------------------


def kill_round(rig, engine, hub, kind, user):
    """One SIGKILL mid-operation and the recovery; a dict of what was measured."""
    image = rig.ctx.image
    if kind == "restart (stop phase)":
        spawn(hub, user)
        container_of(engine.client, hub, user).kill(signal="SIGSTOP")
        answer = timed(lambda: hub.restart(user))
        wait_until(lambda: hub.home_volume(user)["state"] == "restarting", 10, what="restarting")
        time.sleep(1)
    else:
        hub.create_user(user)
        fill_volume(engine.client, image, home(user), BIG_FILES, BIG_FILE_KIB)
        if kind == "backup copy":
            answer = timed(lambda: hub.reset(user))
            helper = "backup"
        else:
            r = hub.reset(user)
            r.raise_for_status()
            backup_id = r.json()["backups"][0]["id"]
            answer = timed(lambda: hub.api("POST", hub.extension_path(user) + "/restore-home-volume",
                                           json={"backup": backup_id}, timeout=120))
            helper = "restore"
        wait_until(
            lambda: any(h["Labels"].get(HELPER_LABEL) == helper for h in helpers(engine)), 60, what="helper runs"
        )
        time.sleep(0.5)
    killed = time.monotonic()
    engine.kill()
    result, answered = answer.result(300)
    to_error = answered - killed
    body = result.json() if code(result) in (502, 503) else {}

    engine.start()
    up = time.monotonic()

    def recovered():
        if helpers(engine):
            return False
        if kind == "backup copy" and backups_of(engine, home(user)):
            return False
        return hub_says_running(hub, user) == running(engine, hub, user)

    wait_until(recovered, 120, interval=0.2, what="recovered")
    recovery = time.monotonic() - up
    time.sleep(2)  # a few polls and sweeps later, still so
    leftovers = len(helpers(engine)) + (len(backups_of(engine, home(user))) if kind == "backup copy" else 0)
    agree = hub_says_running(hub, user) == running(engine, hub, user)

    if kind == "restart (stop phase)":
        if not running(engine, hub, user):
            hub.request_start(user)
            hub.wait_route(user)
        retry = hub.restart(user)
        refused_start = None
        hub.request_stop(user)
        hub.wait_stopped(user)
    elif kind == "backup copy":
        retry = hub.reset(user)
        refused_start = None
    else:
        start = hub.api("POST", hub.server_path(user))
        refused_start = start.status_code
        retry = hub.api("POST", hub.extension_path(user) + "/restore-home-volume", json={"backup": backup_id},
                        timeout=120)
    return {
        "kind": kind,
        "status": code(result),
        "json": bool(body.get("message")),
        "to_error": to_error,
        "recovery": recovery,
        "leftovers": leftovers,
        "agree": agree,
        "retry": code(retry),
        "refused_start": refused_start,
    }


# --- (b) freeze ---------------------------------------------------------------------


def needs_docker(hub, running_user, stopped_user):
    """A restart, a GET home-volume and a reset, requested at once; their futures."""
    return {
        "restart": timed(lambda: hub.restart(running_user)),
        "GET home-volume": timed(lambda: hub.api("GET", hub.extension_path(running_user) + "/home-volume")),
        # Without a backup: the control hub's helper would be a stranger to our sweep.
        "reset": timed(lambda: hub.reset(stopped_user, backup=False)),
    }


def freeze_phase(rig, engine, hubs, freeze, idle_seconds):
    """hubs: {label: (hub, running user, stopped user)}. What was measured, by hub."""
    for hub, user, stopped in hubs.values():
        spawn(hub, user)
        hub.create_user(stopped)
        engine.client.volumes.create(home(stopped))
    time.sleep(3)
    probes = {label: Prober(hub).start() for label, (hub, _, _) in hubs.items()}
    time.sleep(idle_seconds)
    idle = {label: p.stop() for label, p in probes.items()}

    probes = {label: Prober(hub).start() for label, (hub, _, _) in hubs.items()}
    time.sleep(0.5)
    engine.freeze()
    frozen = time.monotonic()
    asked = [time.monotonic()]
    rounds = {label: [needs_docker(*h)] for label, h in hubs.items()}
    time.sleep(freeze / 2)
    asked.append(time.monotonic())
    for label, h in hubs.items():
        rounds[label].append(needs_docker(*h))
    time.sleep(max(0.0, freeze - (time.monotonic() - frozen)))
    engine.thaw()
    thawed = time.monotonic()
    during = {label: p.stop() for label, p in probes.items()}
    hub, user, _ = hubs["ours"]
    wait_until(lambda: hub.api("GET", hub.extension_path(user) + "/home-volume").status_code == 200, 60,
               interval=0.1, what="home-volume answers again")
    resumed = time.monotonic() - thawed

    out = {}
    for label, (hub, user, stopped) in hubs.items():
        answers = []
        for i, futures in enumerate(rounds[label]):
            for what, future in futures.items():
                result, end = future.result(300)
                answers.append({"round": i + 1, "what": what, "status": code(result), "seconds": end - asked[i]})
        out[label] = {"answers": answers, "idle": idle[label], "frozen": during[label]}
    hub, user, _ = hubs["ours"]
    out["ours"]["resumed"] = resumed
    out["ours"]["restart_after"] = code(hub.restart(user))
    out["ours"]["still_running"] = hub_says_running(hub, user) and running(engine, hub, user)
    return out


def run(ctx):
    smoke = ctx.smoke
    freeze = 6 if smoke else 30
    call_timeout = 2.0 if smoke else DEFAULT_CALL_TIMEOUT
    idle_seconds = 3 if smoke else 10
    kinds = ["restart (stop phase)"] if smoke else ["restart (stop phase)", "backup copy", "restore"]
    rounds = 1 if smoke else 2
    engine = ThrowawayDockerd()
    try:
        engine.start()
        engine.load_image(ctx.image)
        # The rig's clean-up and logs on the throwaway engine: nothing of this benchmark
        # lives on the main one, and what others have there stays untouched.
        with Rig(dataclasses.replace(ctx, client=engine.client), NAME) as rig:
            hub = start_hub(
                rig, engine, "hub",
                restart_timeout=RESTART_TIMEOUT, http_timeout=HTTP_TIMEOUT,
                docker_call_timeout=call_timeout, backup_prune_interval=2,
                backup_by_move=0,  # copies: the kills must land mid-copy (a move takes well under 1 s)
            )
            try:
                kills = [
                    kill_round(rig, engine, hub, kind, f"kill{k}r{r}")
                    for r in range(rounds)
                    for k, kind in enumerate(kinds)
                ]
                # The control hub only now: its sweep, at start-up, finds nothing in flight.
                control = start_hub(rig, engine, "control", docker_call_timeout=UNBOUNDED)
                frozen = freeze_phase(
                    rig, engine,
                    {"ours": (hub, "frzours", "frzoursstopped"), "control": (control, "frzctl", "frzctlstopped")},
                    freeze, idle_seconds,
                )
            finally:
                if engine.proc.poll() is not None:
                    engine.start()  # the rig stops the hubs, and they their servers, through it
                engine.thaw()
    finally:
        engine.stop()
    return build_report(kills, frozen, freeze, call_timeout)


def stats(samples):
    return {"n": len(samples), "p50": percentile(samples, 50), "p99": percentile(samples, 99), "max": max(samples)}


def build_report(kills, frozen, freeze, call_timeout):
    bound = RESTART_TIMEOUT + HTTP_TIMEOUT
    kill_rows = []
    for kind in dict.fromkeys(k["kind"] for k in kills):
        mine = [k for k in kills if k["kind"] == kind]
        kill_rows.append([
            kind,
            len(mine),
            ", ".join(sorted({str(k["status"]) for k in mine})),
            ms(max(k["to_error"] for k in mine)),
            f"{max(k['recovery'] for k in mine):.1f}",
            sum(k["leftovers"] for k in mine),
            "yes" if all(k["agree"] for k in mine) else "NO",
            ", ".join(sorted({str(k["retry"]) for k in mine})),
            ", ".join(sorted({str(k["refused_start"]) for k in mine if k["refused_start"] is not None})) or "-",
        ])
    kill_table = md_table(
        ["killed during", "rounds", "answer", "kill to answer, max (ms)", "dockerd up to recovered, max (s)",
         "leftovers after", "hub view = Docker's", "retry", "start before the retry"],
        kill_rows,
    )
    answer_rows = []
    for label in ("ours", "control"):
        for a in frozen[label]["answers"]:
            answer_rows.append([label, a["round"], a["what"], a["status"], f"{a['seconds']:.2f}"])
    answer_table = md_table(["hub", "asked", "request", "answer", "seconds to the answer"], answer_rows)
    lat = {label: (stats(frozen[label]["idle"]), stats(frozen[label]["frozen"])) for label in ("ours", "control")}
    lat_table = md_table(
        ["GET /hub/api/users", "phase", "requests", "p50 (ms)", "p99 (ms)", "max (ms)"],
        [[label, phase, s["n"], ms(s["p50"]), ms(s["p99"]), ms(s["max"])]
         for label, (i, f) in lat.items() for phase, s in (("idle", i), ("frozen", f))],
    )
    ours = frozen["ours"]
    ratio = lat["ours"][1]["p99"] / lat["ours"][0]["p99"]
    our_answers = ours["answers"]
    slowest = max(a["seconds"] for a in our_answers)
    body = f"""
dockerd is a throwaway one (its own socket, data root, exec root and bridge). Our hub:
`restart_timeout` {RESTART_TIMEOUT} s, `http_timeout` {HTTP_TIMEOUT} s, `docker_call_timeout`
{call_timeout:g} s (the default is {DEFAULT_CALL_TIMEOUT:g} s), sweep every 2 s.

### (a) dockerd SIGKILLed mid-operation, then started again

{kill_table}

The bound is `restart_timeout + http_timeout` = {bound} s. "Recovered": no helper left (nor,
for a backup, a partial backup), and the hub's view of the server (ready or not) is
Docker's. A restart's container does not survive dockerd's restart (no live-restore), so the
hub shows the server stopped; the retry starts it, then restarts it. After a killed restore
the start is refused (409) until the retry has restored the volume.

### (b) dockerd frozen (SIGSTOP) for {freeze} s

Requests that need Docker, asked as the freeze began (1) and halfway (2):

{answer_table}

The control hub (`docker_call_timeout` = {UNBOUNDED}) shows what happens without the bound:
its requests wait until the engine thaws.

{lat_table}

Our hub's p99 while frozen / idle: {ratio:.2f}. After SIGCONT, `GET .../home-volume`
answered 200 again within {ours['resumed']:.2f} s, and a restart answered
{ours['restart_after']}, without a hub restart.
"""
    goals = [
        Goal(
            f"after a SIGKILL of dockerd, a clear 502/503 JSON error (never 500) within restart_timeout + http_timeout ({bound} s)",
            all(k["status"] in (502, 503) and k["json"] and k["to_error"] < bound for k in kills),
            f"statuses {sorted({str(k['status']) for k in kills})}, slowest {max(k['to_error'] for k in kills):.3f} s",
        ),
        Goal(
            "no leftovers once dockerd is back, the hub's view matches Docker's, the retry works",
            all(k["leftovers"] == 0 and k["agree"] and k["retry"] == 200 for k in kills),
            f"leftovers {sum(k['leftovers'] for k in kills)}, retries {sorted({str(k['retry']) for k in kills})}",
        ),
        Goal(
            f"while dockerd is frozen, calls that need it answer 503 within docker_call_timeout ({call_timeout:g} s) + 1 s",
            all(a["status"] == 503 for a in our_answers) and slowest < call_timeout + 1,
            f"statuses {sorted({str(a['status']) for a in our_answers})}, slowest {slowest:.2f} s",
        ),
        Goal(
            "hub API p99 while frozen < 2 x idle p99",
            ratio < 2,
            f"{ms(lat['ours'][1]['p99'])} ms frozen vs {ms(lat['ours'][0]['p99'])} ms idle: {ratio:.2f}",
        ),
        Goal(
            "after SIGCONT everything resumes without a hub restart",
            ours["restart_after"] == 200 and ours["still_running"],
            f"home-volume 200 after {ours['resumed']:.2f} s, restart {ours['restart_after']}",
        ),
    ]
    samples = {f"{label} {phase}": v for label in ("ours", "control")
               for phase, v in (("idle", frozen[label]["idle"]), ("frozen", frozen[label]["frozen"]))}
    return Report(NAME, TITLE, body, goals, samples=samples, extra={"kills": kills, "freeze": {
        label: frozen[label]["answers"] for label in ("ours", "control")}})
