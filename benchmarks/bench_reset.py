"""4. Reset latency: our reset of a full home volume against a raw `docker volume rm`.

The deletion alone (`?backup=0`): what a backup adds is measured in bench_backup.

Each round fills two volumes the same way (many small files, synced to disk): the home
volume of a stopped server, and a free-standing volume. Then it times our API reset of
the one and a raw volume removal of the other, in alternating order.
"""

import time

from .common import (
    PREFIX,
    SUMMARY_HEADERS,
    Goal,
    Report,
    Rig,
    fill_volume,
    median,
    md_table,
    summary_row,
)

NAME = "reset"
TITLE = "Reset latency"

USER = "resetme"
FILE_KIB = 64
GOAL_EXTRA = 0.3  # seconds


def run(ctx):
    rounds = 1 if ctx.smoke else 5
    files = 16 if ctx.smoke else 16384  # 1 MiB in smoke mode, 1 GiB otherwise
    labels = {"ours": "ours: DELETE reset-home-volume?backup=0", "raw": "raw docker volume rm"}
    samples = {k: [] for k in labels}
    server_side = []
    with Rig(ctx, NAME) as rig:
        hub = rig.start_hub("hub")
        hub.create_user(USER)
        for i in range(rounds):
            # A fresh home volume each round: the previous round's reset removed it.
            hub.request_start(USER)
            hub.wait_route(USER)
            hub.request_stop(USER)
            hub.wait_stopped(USER)
            home = hub.home_volume(USER)["volume"]["name"]
            raw = f"{PREFIX}-rawvol-{i}"
            fill_volume(ctx.client, ctx.image, home, files, FILE_KIB)
            fill_volume(ctx.client, ctx.image, raw, files, FILE_KIB)
            time.sleep(1.0)  # let the filesystem settle after the fill's sync

            def ours():
                tic = time.perf_counter()
                r = hub.reset(USER, backup=False)
                seconds = time.perf_counter() - tic
                if r.status_code != 200:
                    raise RuntimeError(f"reset failed: {r.status_code} {r.text}")
                server_side.append(r.json()["duration_seconds"])
                return seconds

            def raw_rm():
                tic = time.perf_counter()
                # The Engine API call `docker volume rm` makes, without the CLI's own startup.
                ctx.client.api.remove_volume(raw)
                return time.perf_counter() - tic

            steps = [("ours", ours), ("raw", raw_rm)]
            for key, fn in steps if i % 2 == 0 else reversed(steps):
                samples[key].append(fn())
                print(f"  [reset] round {i + 1} {key}: {samples[key][-1]:.3f}s", flush=True)
                time.sleep(1.0)

    return build_report(samples, labels, server_side, rounds, files)


def build_report(samples, labels, server_side, rounds, files):
    med = {k: median(v) for k, v in samples.items()}
    extra = med["ours"] - med["raw"]
    size = files * FILE_KIB / 1024
    size_text = f"{size / 1024:.0f} GiB" if size >= 1024 else f"{size:.0f} MiB"
    table = md_table(SUMMARY_HEADERS, [summary_row(labels[k], samples[k]) for k in labels])
    diff = md_table(
        ["comparison (medians)", "value"],
        [
            ["ours - raw", f"{extra:+.3f} s"],
            # Rounds alternate which goes first; pairing shows the spread of that noise.
            ["median of per-round differences (ours - raw)", f"{median([o - r for o, r in zip(samples['ours'], samples['raw'])]):+.3f} s"],
            ["ours / raw", f"{med['ours'] / med['raw']:.3f}"],
            ["ours inside reset_home_volume() (server-side duration_seconds)", f"{median(server_side):.3f} s"],
        ],
    )
    body = f"""
Time to delete a home volume holding {size_text} in {files} files of {FILE_KIB} KiB
(written by a throwaway container and synced to disk), {rounds} rounds, order alternated.

- **ours**: `DELETE /hub/api/users/<name>/reset-home-volume` on a stopped server
  (remove=False, so the stopped container is removed first), timed from request to response.
- **raw**: the Engine API's volume removal (what `docker volume rm` sends) of an equal
  free-standing volume.

{table}

{diff}
"""
    goals = [
        Goal(
            f"ours <= raw + {GOAL_EXTRA} s",
            extra <= GOAL_EXTRA,
            f"median ours {med['ours']:.3f}s vs raw {med['raw']:.3f}s: {extra:+.3f}s",
        )
    ]
    return Report(NAME, TITLE, body, goals, samples={labels[k]: v for k, v in samples.items()}, extra={"server_side": server_side})
