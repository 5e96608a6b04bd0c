"""5. Safe reset: backup throughput, reset with and without a backup, size measurement.

(a) Backup throughput. Each round fills a stopped server's home volume (1 GiB in 16,384
    files, synced), then times our backup (the server-side ``backup_duration_seconds``
    of a reset: helper container created, started, waited for and removed) against a
    raw helper-container copy of the same data, ``cp -a`` from volume to volume, timed
    the same way from the client. The order alternates (raw from the home volume before
    our reset, or from our backup after it), since the second reads warm data.
(b) Reset with a backup against ``?backup=0`` on the same data, from request to response.
(c) Sizes of one server's three volumes: our ``GET .../home-volume?sizes=1`` (cache off)
    against a raw ``du -sb`` helper on the same three volumes, and against one
    ``docker system df`` (the Engine's /system/df) on a host holding 50 other volumes.
"""

import time
import uuid

from .common import PREFIX, SUMMARY_HEADERS, Goal, Report, Rig, fill_volume, median, md_table, summary_row

NAME = "backup"
TITLE = "Safe reset: backup throughput, reset with a backup, sizes"

USER = "backupme"
FILE_KIB = 64
GOAL_THROUGHPUT = 0.8


def _run_helper(client, image, volumes, command):
    """Seconds for a helper container (create, start, wait, remove), as our spawner runs one."""
    tic = time.perf_counter()
    c = client.containers.create(
        image,
        command,
        entrypoint=[],
        user="0:0",
        network_disabled=True,
        volumes=volumes,
        name=f"{PREFIX}-rawhelper-{uuid.uuid4().hex[:8]}",
    )
    try:
        c.start()
        status = c.wait(timeout=1800)["StatusCode"]
        out = c.logs(stdout=True, stderr=False).decode()
    finally:
        c.remove(force=True)
    seconds = time.perf_counter() - tic
    if status != 0:
        raise RuntimeError(f"helper {command} failed with {status}")
    return seconds, out


def run(ctx):
    rounds = 1 if ctx.smoke else 4
    files = 16 if ctx.smoke else 16384  # 1 MiB in smoke mode, 1 GiB otherwise
    size_rounds = 1 if ctx.smoke else 5
    others = 3 if ctx.smoke else 50
    other_files = 10 if ctx.smoke else 2000
    client = ctx.client
    s = {"ours_backup": [], "raw_copy": [], "reset_with": [], "reset_without": [],
         "sizes_ours": [], "sizes_du": [], "sizes_df": []}
    bytes_copied = []
    with Rig(ctx, NAME) as rig:
        hub = rig.start_hub("hub", volume_size_cache_seconds=0)
        hub.create_user(USER)
        info = hub.home_volume(USER)
        home = info["volume"]["name"]
        three = [v["name"] for v in info["volumes"]]

        def ours_reset(backup, fill=True):
            if fill:
                fill_volume(client, ctx.image, home, files, FILE_KIB)
                time.sleep(1.0)
            tic = time.perf_counter()
            r = hub.api("DELETE", hub.extension_path(USER) + "/reset-home-volume" + ("" if backup else "?backup=0"), timeout=1800)
            seconds = time.perf_counter() - tic
            if r.status_code != 200:
                raise RuntimeError(f"reset failed: {r.status_code} {r.text}")
            body = r.json()
            return seconds, body["backup_duration_seconds"], body["backups"]

        def delete_backups(backups):
            for b in backups:
                bytes_copied.append(b["size_bytes"])
                d = hub.api("DELETE", hub.extension_path(USER) + f"/home-volume-backups/{b['id']}")
                if d.status_code != 200:
                    raise RuntimeError(f"delete backup failed: {d.status_code} {d.text}")

        def raw_copy(src, subdir=""):
            dst = f"{PREFIX}-rawdst-{uuid.uuid4().hex[:6]}"
            seconds, _ = _run_helper(
                client, ctx.image,
                {src: {"bind": "/source", "mode": "ro"}, dst: {"bind": "/backup", "mode": "rw"}},
                ["cp", "-a", "/source" + subdir, "/backup/data"],
            )
            client.volumes.get(dst).remove(force=True)
            return seconds

        # (a) and (b): the same data for ours and raw in each round. The one that runs
        # second reads a source the first has just read, so the order alternates: raw
        # copies the home volume before our reset, or our backup after it.
        for i in range(rounds):
            fill_volume(client, ctx.image, home, files, FILE_KIB)
            time.sleep(1.0)
            if i % 2 == 0:
                s["raw_copy"].append(raw_copy(home))
                time.sleep(1.0)
                total, backup, made = ours_reset(True, fill=False)
            else:
                total, backup, made = ours_reset(True, fill=False)
                time.sleep(1.0)
                s["raw_copy"].append(raw_copy(made[0]["id"], "/data"))
            s["reset_with"].append(total)
            s["ours_backup"].append(backup)
            delete_backups(made)
            time.sleep(1.0)
            s["reset_without"].append(ours_reset(False)[0])
            print(f"  [backup] round {i + 1}: ours backup {backup:.2f}s, raw cp -a {s['raw_copy'][-1]:.2f}s,"
                  f" reset with {total:.2f}s, without {s['reset_without'][-1]:.2f}s", flush=True)
            time.sleep(1.0)

        # (c) sizes: three volumes with data; 50 other volumes on the host.
        for name, n in zip(three, (files, files // 4 or 1, files // 16 or 1)):
            fill_volume(client, ctx.image, name, n, FILE_KIB)
        other_names = [f"{PREFIX}-other-{i:02d}" for i in range(others)]
        script = (
            "import os\n"
            "block = os.urandom(4096)\n"
            "for d in sorted(os.listdir('/o')):\n"
            f"    for i in range({other_files}):\n"
            "        sub = f'/o/{d}/d{i // 100}'\n"
            "        os.makedirs(sub, exist_ok=True)\n"
            "        with open(f'{sub}/f{i}', 'wb') as f:\n"
            "            f.write(block)\n"
            "os.sync()\n"
        )
        _run_helper(client, ctx.image, {n: {"bind": f"/o/{n}", "mode": "rw"} for n in other_names},
                    ["/usr/bin/python3", "-c", script])
        sizes_seen = {}
        for i in range(size_rounds):
            def ours():
                tic = time.perf_counter()
                r = hub.api("GET", hub.extension_path(USER) + "/home-volume?sizes=1", timeout=600)
                r.raise_for_status()
                sizes_seen["ours"] = {v["name"]: v["size_bytes"] for v in r.json()["volumes"]}
                return time.perf_counter() - tic

            def du():
                seconds, out = _run_helper(
                    client, ctx.image, {n: {"bind": f"/v/{j}", "mode": "ro"} for j, n in enumerate(three)},
                    ["du", "-sb"] + [f"/v/{j}" for j in range(len(three))],
                )
                sizes_seen["du"] = [int(line.split("\t")[0]) for line in out.splitlines()]
                return seconds

            def df():
                tic = time.perf_counter()
                client.df()
                return time.perf_counter() - tic

            for key, fn in [("sizes_ours", ours), ("sizes_du", du), ("sizes_df", df)][:: 1 if i % 2 == 0 else -1]:
                s[key].append(fn())
            print(f"  [backup] sizes round {i + 1}: ours {s['sizes_ours'][-1]:.3f}s, du {s['sizes_du'][-1]:.3f}s,"
                  f" df {s['sizes_df'][-1]:.3f}s", flush=True)
        host_volumes = len(client.volumes.list())
    return build_report(s, bytes_copied, rounds, files, size_rounds, others, other_files, host_volumes, sizes_seen)


LABELS = {
    "ours_backup": "ours: backup inside a reset (server-side)",
    "raw_copy": "raw: helper container `cp -a` volume to volume",
    "reset_with": "ours: DELETE reset-home-volume (with backup)",
    "reset_without": "ours: DELETE reset-home-volume?backup=0",
    "sizes_ours": "ours: GET home-volume?sizes=1 (3 volumes, cache off)",
    "sizes_du": "raw: helper container `du -sb` on the same 3 volumes",
    "sizes_df": "one `docker system df` (Engine /system/df)",
}


def build_report(s, bytes_copied, rounds, files, size_rounds, others, other_files, host_volumes, sizes_seen):
    med = {k: median(v) for k, v in s.items()}
    size_mib = files * FILE_KIB / 1024
    copied = median(bytes_copied) if bytes_copied else 0
    tp_ours = copied / med["ours_backup"] / 2**20
    tp_raw = copied / med["raw_copy"] / 2**20
    ratio = tp_ours / tp_raw
    table = lambda keys: md_table(SUMMARY_HEADERS, [summary_row(LABELS[k], s[k]) for k in keys])  # noqa: E731
    body = f"""
### (a) Backup throughput

{size_mib:.0f} MiB in {files} files of {FILE_KIB} KiB (backups measured {copied / 2**20:.1f} MiB by `du -sb`),
{rounds} rounds on the same data each, order alternated. Both sides run one helper container
from the server's image (create, start, wait, remove), the raw one timed from the client.

{table(["ours_backup", "raw_copy"])}

| throughput (medians) | MiB/s |
|---|---|
| ours | {tp_ours:.1f} |
| raw `cp -a` | {tp_raw:.1f} |
| ours / raw | {ratio:.3f} |

### (b) Reset with a backup against without, same data

{table(["reset_with", "reset_without"])}

The backup adds {med["reset_with"] - med["reset_without"]:+.3f} s (median) to a reset of this volume
({med["reset_with"] / med["reset_without"]:.2f} ×): the price of being able to undo it.

### (c) Sizes of one server's three volumes

{size_rounds} rounds; the host held {host_volumes} volumes, {others} of them extra ones of
{other_files} files each made for this benchmark.

{table(["sizes_ours", "sizes_du", "sizes_df"])}

Ours against the raw `du -sb` helper: {med["sizes_ours"] / med["sizes_du"]:.2f} ×. One `docker system df`
walks every volume on the host and took {med["sizes_df"] / med["sizes_ours"]:.2f} × as long as ours; it grows
with the host's volumes, ours with this server's data only. Sizes by ours: {sizes_seen.get("ours")};
by `du -sb`: {sizes_seen.get("du")}.
"""
    goals = [
        Goal(
            f"backup throughput >= {GOAL_THROUGHPUT:.0%} of a raw helper-container `cp -a`",
            ratio >= GOAL_THROUGHPUT,
            f"{tp_ours:.1f} vs {tp_raw:.1f} MiB/s: {ratio:.3f}",
        ),
    ]
    return Report(NAME, TITLE, body, goals, samples={LABELS[k]: v for k, v in s.items()},
                  extra={"bytes_copied": bytes_copied})
