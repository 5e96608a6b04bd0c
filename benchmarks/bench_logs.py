"""Server logs: a tail of 1000 lines from a container that has written 1 GiB of log.

    RS_TEST_IMAGE=<image> .venv/bin/python -m benchmarks.bench_logs [--smoke]

Two stopped containers of the single-user image: "big" has written 1 GiB of log (1 KiB
lines), "small" 2000 lines of the same kind. Each round times ``DockerEngine.server_logs``
(the engine primitive behind GET .../server-logs: docker-py's ``logs(tail=1001,
timestamps=True)`` and the parsing) on both, in alternating order, then once a full read
of the big log streamed and thrown away, as the cost a reader of the whole log would pay.
If the tail read only the tail, the big container's time equals the small one's (ratio
about 1); reading the whole log would cost about the full read's time.

Writes benchmarks/results/logs.md and logs.json (not in --smoke mode).
"""

import argparse
import asyncio
import json
import logging
import os
import statistics
import sys
import time
from pathlib import Path

import docker

from resettable_spawner.engine import DockerEngine

PREFIX = "rsbench-logs"
LINE_BYTES = 1024  # with its newline
RESULTS = Path(__file__).resolve().parent / "results"
# One line of 1023 "x" and a newline, repeated: `yes` is fast, `head -c` stops at the size.
WRITE = 'yes "$(head -c 1023 /dev/zero | tr "\\0" x)" | head -c {size}'


def engine(client):
    """A DockerEngine whose calls run docker-py on a thread, as DockerCalls does in the hub."""

    class Calls:
        where = "the local engine"

        async def __call__(self, method, *args, long=False, **kwargs):
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(None, lambda: getattr(client.api, method)(*args, **kwargs))

    log = logging.getLogger("bench_logs")
    return DockerEngine(Calls(), None, log, "bench")


def write_log(client, image, name, size):
    for old in client.containers.list(all=True, filters={"name": name}):
        old.remove(force=True)
    tic = time.perf_counter()
    c = client.containers.run(
        image, ["sh", "-c", WRITE.format(size=size)], entrypoint=[], name=name, user="root", detach=True
    )
    status = c.wait(timeout=3600)["StatusCode"]
    assert status == 0, status
    return c, time.perf_counter() - tic


def log_file_bytes(client, container):
    container.reload()
    path = container.attrs.get("LogPath")
    try:
        return os.path.getsize(path)
    except (OSError, TypeError):
        return None


async def time_tail(eng, name, tail):
    tic = time.perf_counter()
    logs = await eng.server_logs(name, tail)
    seconds = time.perf_counter() - tic
    assert len(logs["lines"]) == tail and logs["truncated"], (len(logs["lines"]), logs["truncated"])
    assert len(logs["lines"][-1]["text"]) == LINE_BYTES - 1
    return seconds


def time_full_read(client, name):
    tic = time.perf_counter()
    total = 0
    for chunk in client.api.logs(name, stdout=True, stderr=True, timestamps=True, stream=True, follow=False):
        total += len(chunk)
    return time.perf_counter() - tic, total


async def main(image, smoke):
    client = docker.from_env()
    big_size = (16 if smoke else 1024) * 1024 * 1024
    rounds = 3 if smoke else 9
    tail = 1000
    big_name, small_name = f"{PREFIX}-big", f"{PREFIX}-small"
    try:
        print(f"[logs] writing {big_size // 2**20} MiB of log ...", flush=True)
        big, write_seconds = write_log(client, image, big_name, big_size)
        small, _ = write_log(client, image, small_name, 2000 * LINE_BYTES)
        eng = engine(client)
        samples = {"big": [], "small": []}
        for i in range(rounds):
            order = ["big", "small"] if i % 2 == 0 else ["small", "big"]
            for key in order:
                samples[key].append(await time_tail(eng, big_name if key == "big" else small_name, tail))
            print(f"[logs] round {i + 1}: big {samples['big'][-1]:.4f}s small {samples['small'][-1]:.4f}s", flush=True)
        full_seconds, full_bytes = time_full_read(client, big_name)
        print(f"[logs] full read of the big log: {full_seconds:.2f}s, {full_bytes / 2**20:.0f} MiB", flush=True)
        result = {
            "log_written_bytes": big_size,
            "log_file_bytes": log_file_bytes(client, big),
            "write_seconds": round(write_seconds, 1),
            "tail": tail,
            "rounds": rounds,
            "tail_seconds_big": [round(s, 4) for s in samples["big"]],
            "tail_seconds_small": [round(s, 4) for s in samples["small"]],
            "median_big": round(statistics.median(samples["big"]), 4),
            "median_small": round(statistics.median(samples["small"]), 4),
            "full_read_seconds": round(full_seconds, 2),
            "full_read_bytes": full_bytes,
        }
        result["ratio_big_to_small"] = round(result["median_big"] / result["median_small"], 2)
        result["ratio_full_to_tail"] = round(full_seconds / result["median_big"], 1)
        return result
    finally:
        for name in (big_name, small_name):
            for c in client.containers.list(all=True, filters={"name": name}):
                c.remove(force=True)


def markdown(r):
    gib = r["log_written_bytes"] / 2**30
    file_gib = (r["log_file_bytes"] or 0) / 2**30
    return f"""# Server logs: the tail of a 1 GiB log

`DockerEngine.server_logs(name, {r['tail']})` (docker-py `logs(tail={r['tail'] + 1}, timestamps=True)`
and the parsing), {r['rounds']} rounds alternating between a stopped container that wrote
{gib:.2f} GiB of log in 1 KiB lines (its json-file log: {file_gib:.2f} GiB on disk) and one that
wrote 2000 such lines. Command: `RS_TEST_IMAGE=<image> .venv/bin/python -m benchmarks.bench_logs`.

| container | median (s) | all rounds (s) |
|---|---|---|
| 1 GiB of log | {r['median_big']} | {', '.join(map(str, r['tail_seconds_big']))} |
| 2000 lines of log | {r['median_small']} | {', '.join(map(str, r['tail_seconds_small']))} |

Ratio big / small: **{r['ratio_big_to_small']}** (goal: about 1, the tail alone is read).
A full read of the big log, streamed and thrown away, took {r['full_read_seconds']} s
({r['ratio_full_to_tail']} times the tail). Writing the log took {r['write_seconds']} s.
"""


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    image = os.environ.get("RS_TEST_IMAGE")
    if not image:
        sys.exit("RS_TEST_IMAGE must name the single-user image (make -s image)")
    result = asyncio.run(main(image, args.smoke))
    print(json.dumps(result, indent=2))
    if not args.smoke:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "logs.json").write_text(json.dumps(result, indent=2) + "\n")
        (RESULTS / "logs.md").write_text(markdown(result))
