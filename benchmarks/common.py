"""Shared helpers for the benchmarks: the hub rig, timing, statistics and reports.

Every benchmark starts its own hub(s) through ``Rig``, which stops them and removes
every container and volume named ``rsbench-*`` when the benchmark ends, also on error.
"""

import datetime
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
PREFIX = "rsbench"

# tests/support/hubproc.py reads its name prefix from the environment at import time.
# The tests ("rstest") and the demo ("rsdev") may run on this machine at the same time,
# and cleanup removes everything with our prefix, so it must be ours alone.
os.environ["RS_TEST_PREFIX"] = PREFIX

import docker  # noqa: E402
import httpx  # noqa: E402

from tests.support import hubproc  # noqa: E402
from tests.support.dockerutil import container_of, docker_escape  # noqa: E402,F401
from tests.support.hubproc import HubProcess, cleanup_docker, docker_client, quote  # noqa: E402,F401

if hubproc.PREFIX != PREFIX:  # imported earlier by someone with another prefix
    raise RuntimeError(
        f"tests/support/hubproc.py was loaded with prefix {hubproc.PREFIX!r}, not {PREFIX!r}"
    )

# Client-side readiness polling, identical for every variant of every benchmark, so a
# variant's number differs from another's only by what the system under test does.
POLL_INTERVAL = 0.05


# --- context and reports ----------------------------------------------------------


@dataclass
class Context:
    image: str
    smoke: bool
    client: docker.DockerClient
    out_dir: Path


@dataclass
class Goal:
    text: str  # the goal as the issue states it
    met: bool
    detail: str  # the numbers that decided it

    def line(self):
        verdict = "goal met" if self.met else "goal MISSED"
        return f"{verdict}: {self.text} ({self.detail})"


@dataclass
class Report:
    name: str
    title: str
    body: str  # markdown: what was measured, tables, ratios
    goals: list = field(default_factory=list)
    samples: dict = field(default_factory=dict)  # label -> list of seconds, for the plot
    extra: dict = field(default_factory=dict)  # anything else worth keeping in the JSON


def md_table(headers, rows):
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def fmt(seconds, digits=3):
    return f"{seconds:.{digits}f}"


def ms(seconds):
    return f"{seconds * 1000:.1f}"


# --- statistics -------------------------------------------------------------------


def median(values):
    return statistics.median(values)


def percentile(values, q):
    """Nearest-rank percentile: the smallest sample with at least q% of samples at or below it."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summary_row(label, values):
    """label, n, median, p10, p90, min, max (seconds)."""
    return [
        label,
        len(values),
        fmt(median(values)),
        fmt(percentile(values, 10)),
        fmt(percentile(values, 90)),
        fmt(min(values)),
        fmt(max(values)),
    ]


SUMMARY_HEADERS = ["variant", "n", "median (s)", "p10 (s)", "p90 (s)", "min (s)", "max (s)"]


# --- machine description ------------------------------------------------------------


def _run(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine_info(client):
    import dockerspawner
    import jupyterhub

    mem_kib = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    version = client.version()
    commit = _run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    dirty = _run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"])
    return {
        "started (UTC)": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory": f"{mem_kib / 1024 / 1024:.1f} GiB",
        "kernel": f"{platform.system()} {platform.release()}",
        "docker engine": f"{version.get('Version')} (storage driver {client.info().get('Driver')})",
        "python": platform.python_version(),
        "jupyterhub": jupyterhub.__version__,
        "dockerspawner": dockerspawner.__version__,
        "configurable-http-proxy": _run(["configurable-http-proxy", "--version"]),
        "single-user image": os.environ.get("RS_TEST_IMAGE", "?"),
        "git commit": commit + (" (with uncommitted changes)" if dirty else ""),
    }


def render_markdown(report, machine, command, smoke):
    parts = [f"# {report.title}", ""]
    if smoke:
        parts += ["**Smoke run** (1-2 rounds, tiny data): checks that the script works, not a measurement.", ""]
    parts += [report.body.strip(), "", "## Goals", ""]
    parts += [f"- {g.line()}" for g in report.goals] or ["- (none)"]
    parts += ["", "## Machine", ""]
    parts += [f"- {k}: {v}" for k, v in machine.items()]
    parts += ["", "## Reproduce", "", "```sh", *command, "```", ""]
    return "\n".join(parts)


def print_report(report):
    print()
    print(report.body.strip())
    print()
    for g in report.goals:
        print(g.line())
    sys.stdout.flush()


# --- the rig: hubs, scratch directories, cleanup ----------------------------------


class BenchHub(HubProcess):
    """HubProcess (tests/support/hubproc.py) with the calls the benchmarks make."""

    def __init__(self, workdir, image, name, config=None, **settings):
        super().__init__(workdir, image, python=sys.executable, name=name, config=config, **settings)

    # --- what the benchmarks do, one call each ---

    def route_url(self, user, server=""):
        return f"{self.url}/user/{quote(user)}/{quote(server) + '/' if server else ''}api"

    @staticmethod
    def extension_path(user, server=""):
        """Base path of resettable-spawner's endpoints for one server."""
        if server:
            return f"/users/{quote(user)}/servers/{quote(server)}"
        return f"/users/{quote(user)}"

    def restart(self, user, server="", timeout=120):
        return self.api("POST", self.extension_path(user, server) + "/restart-server", timeout=timeout)

    def reset(self, user, server="", timeout=120, backup=True):
        query = "" if backup else "?backup=0"
        return self.api(
            "DELETE", self.extension_path(user, server) + "/reset-home-volume" + query, timeout=timeout
        )

    def home_volume(self, user, server=""):
        r = self.api("GET", self.extension_path(user, server) + "/home-volume")
        r.raise_for_status()
        return r.json()

    def request_start(self, user, server=""):
        r = self.api("POST", self.server_path(user, server))
        if r.status_code not in (201, 202):
            raise RuntimeError(f"start of {user}/{server} failed: {r.status_code} {r.text}")

    def request_stop(self, user, server=""):
        r = self.api("DELETE", self.server_path(user, server))
        if r.status_code not in (202, 204):
            raise RuntimeError(f"stop of {user}/{server} failed: {r.status_code} {r.text}")

    def wait_stopped(self, user, server="", timeout=60):
        wait_until(lambda: self.server_model(user, server) is None, timeout, what=f"{user}/{server} stopped")

    def wait_route(self, user, server="", timeout=90, http=None):
        """Until the single-user server answers 200 through the proxy."""
        url = self.route_url(user, server)
        wait_until(lambda: http_ok(url, http), timeout, what=f"route of {user}/{server} answers")

    def timed_spawn(self, user, server="", http=None):
        """Seconds from the start request to the route answering through the proxy."""
        tic = time.perf_counter()
        self.request_start(user, server)
        self.wait_route(user, server, http=http)
        return time.perf_counter() - tic


def http_ok(url, http=None):
    try:
        return (http or httpx).get(url, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def wait_until(predicate, timeout, interval=POLL_INTERVAL, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout}s")
        time.sleep(interval)


def host_port(container):
    """The host port Docker published for the single-user server (it changes on restart)."""
    container.reload()
    return container.ports["8888/tcp"][0]["HostPort"]


def wait_for_docker_event(client, container_id, action, since, timeout=30, **attributes):
    """The first ``action`` event of the container after ``since`` (a time.time()) whose
    attributes include ``attributes`` (e.g. signal="15").

    Polls with an ``until`` bound so each call returns at once instead of streaming.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = client.events(
            since=f"{since:.9f}",
            until=f"{time.time():.9f}",
            filters={"container": container_id, "event": action},
            decode=True,
        )
        try:
            for event in events:
                found = event.get("Actor", {}).get("Attributes", {})
                if all(found.get(k) == v for k, v in attributes.items()):
                    return event
        finally:
            events.close()
        time.sleep(POLL_INTERVAL)
    raise TimeoutError(f"no {action} event {attributes} for {container_id[:12]} within {timeout}s")


def fill_volume(client, image, volume, files, file_kib):
    """Write ``files`` files of ``file_kib`` KiB into a volume and sync them to disk.

    The volume is mounted at /home/jovyan, as in a server, so an empty volume also gets
    the image's home directory copied in first, exactly like a server's home volume.
    """
    script = (
        "import os\n"
        f"d = '/home/jovyan/bench-fill'\n"
        "os.makedirs(d, exist_ok=True)\n"
        f"block = os.urandom({file_kib} * 1024)\n"
        f"for i in range({files}):\n"
        "    with open(f'{d}/f{i:05d}', 'wb') as f:\n"
        "        f.write(block)\n"
        "os.sync()\n"
    )
    filler = client.containers.run(
        image,
        ["/usr/bin/python3", "-c", script],
        entrypoint=[],
        user="root",
        volumes={volume: {"bind": "/home/jovyan", "mode": "rw"}},
        name=f"{PREFIX}-fill-{uuid.uuid4().hex[:8]}",
        detach=True,
    )
    try:
        status = filler.wait(timeout=600)["StatusCode"]
        if status != 0:
            raise RuntimeError(f"filling {volume} failed: {filler.logs().decode(errors='replace')}")
    finally:
        filler.remove(force=True)


class Rig:
    """Hubs and scratch space for one benchmark; tears everything down on exit.

    On error the hubs' directories (with their logs) are kept and named on stderr.
    """

    def __init__(self, ctx, name):
        self.ctx = ctx
        self.name = name
        self.hubs = []
        self.workdir = Path(tempfile.mkdtemp(prefix=f"{PREFIX}-{name}-"))

    def __enter__(self):
        # A crashed earlier run may have left containers or volumes behind.
        cleanup_docker(self.ctx.client, PREFIX)
        return self

    def start_hub(self, name="hub", config=None, **settings):
        hub = BenchHub(self.workdir / name, self.ctx.image, name, config=config, **settings)
        self.hubs.append(hub)
        return hub.start()

    def __exit__(self, exc_type, exc, tb):
        for hub in self.hubs:
            try:
                hub.stop()
            except Exception:
                traceback.print_exc()
        if exc_type is not None:
            self._print_container_logs()
        cleanup_docker(self.ctx.client, PREFIX)
        if exc_type is None:
            shutil.rmtree(self.workdir, ignore_errors=True)
        else:
            print(f"[{self.name}] failed; hub logs kept in {self.workdir}", file=sys.stderr)
            for hub in self.hubs:
                if hub.log_path.exists():
                    print(f"--- last lines of {hub.log_path} ---", file=sys.stderr)
                    print(hub.log()[-2000:], file=sys.stderr)
        return False

    def _print_container_logs(self):
        """The servers' own logs, which the hub log does not include, before cleanup."""
        try:
            for c in self.ctx.client.containers.list(all=True, filters={"name": PREFIX}):
                if c.name.startswith(PREFIX):
                    print(f"--- {c.name} ({c.status}), last log lines ---", file=sys.stderr)
                    print(c.logs(tail=30).decode(errors="replace"), file=sys.stderr)
        except Exception:
            traceback.print_exc()


def run_threads(functions):
    """Run callables at once on threads; return their results (or exceptions) in order."""
    results = [None] * len(functions)

    def call(i, fn):
        try:
            results[i] = fn()
        except BaseException as e:  # reported by the caller
            results[i] = e

    threads = [threading.Thread(target=call, args=(i, fn)) for i, fn in enumerate(functions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def save_json(path, report, machine, smoke):
    path.write_text(
        json.dumps(
            {
                "name": report.name,
                "smoke": smoke,
                "machine": machine,
                "samples": report.samples,
                "extra": report.extra,
                "goals": [g.__dict__ for g in report.goals],
            },
            indent=1,
        )
    )
