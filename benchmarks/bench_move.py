"""Backups by move: reset and restore time, disk, and the copy path's throughput.

Two hubs side by side on one engine, driven from the same process: "move"
(``backup_by_move`` on, the default) and "copy" (``backup_by_move=0``: backups and
restores by ``cp -a``, as before the move). For each data size (1 GiB and 10 GiB in
files of 64 KiB, real bytes written and synced), each round takes a fresh user on each
hub (the hubs' order alternates from round to round) through:

1. fill the home volume; on the copy hub, a raw helper container ``cp -a`` of the same
   data, before the reset from the home volume (even rounds) or after it from the
   backup (odd rounds);
2. a reset with a backup, timed from request to response, while a thread samples the
   used bytes of the filesystem holding Docker's data root every 20 ms (the peak,
   minus the value just before the request); 1 s sampled the same way just before,
   with nothing of ours running, shows what the rest of the machine writes meanwhile;
3. the home volume made anew as a server's start makes it (the image's home and one
   file), then a restore of that backup, timed and sampled the same way; then the
   data left on disk: the volume and its remaining backups by ``GET
   home-volume?sizes=1``, and the filesystem's used bytes against just after the fill;
4. those backups deleted, then a reset of the restored volume with ``?backup=0``,
   timed and sampled: the reset that a reset with a backup is compared with.

The page cache is dropped (``sync; echo 3 > /proc/sys/vm/drop_caches``) before every
measured request and every raw copy, so each starts from the same cold cache. On the
move hub each round also times a raw ``du -sb`` helper on the moved data from a cold
cache and an empty helper (``true``): the move script ends with a ``du -sb`` to report
the backup's size, so that is what the move costs beyond a helper's own start.
"""

import os
import threading
import time
import uuid

from .bench_backup import _run_helper
from .common import PREFIX, SUMMARY_HEADERS, Goal, Report, Rig, fill_volume, median, md_table, run_threads, summary_row

NAME = "move"
TITLE = "Backups by move: reset and restore time, disk, the copy path"

FILE_KIB = 64
GIB_FILES = 2**30 // (FILE_KIB * 1024)  # 16,384 files of 64 KiB
# (label, files, rounds per hub). One round at 10 GiB (a copy round there takes about
# 1.5 minutes on 2 cores, the whole run about 4); the 1 GiB rounds give the copy path's
# 5 pairs.
SIZES = [("1 GiB", GIB_FILES, 5), ("10 GiB", 10 * GIB_FILES, 1)]
SMOKE_SIZES = [("1 MiB", 16, 1)]
SAMPLE_INTERVAL = 0.02
IDLE_WINDOW = 1.0  # seconds sampled with nothing of ours running, just before the reset
DROP_CACHES = "/proc/sys/vm/drop_caches"

GOAL_ADDED_SECONDS = 0.3
GOAL_RESTORE_SPEEDUP = 10
GOAL_PEAK_BYTES = 2**20
GOAL_THROUGHPUT = 0.9
MiB = 2**20


# --- disk and cache --------------------------------------------------------------


def used_bytes(path):
    """Bytes in use on the filesystem holding path (ext4 counts delayed allocations)."""
    st = os.statvfs(path)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


class DiskPeak:
    """The used bytes of a filesystem while a block runs: peak and end, minus just before."""

    def __init__(self, path, interval=SAMPLE_INTERVAL):
        self.path = path
        self.interval = interval

    def __enter__(self):
        self._stop = threading.Event()
        self.before = self._peak = used_bytes(self.path)
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(self.interval):
            self._peak = max(self._peak, used_bytes(self.path))

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        after = used_bytes(self.path)
        self.peak = max(self._peak, after) - self.before
        self.left = after - self.before
        return False


def page_cache_dropper(enabled):
    """A callable that syncs and, when enabled, drops the page cache (needs root)."""
    if enabled and not os.access(DROP_CACHES, os.W_OK):
        raise RuntimeError(f"this benchmark drops the page cache before each measurement: run it as root ({DROP_CACHES})")

    def drop():
        os.sync()
        if enabled:
            with open(DROP_CACHES, "w") as f:
                f.write("3\n")

    return drop


def docker_root(client):
    root = client.info()["DockerRootDir"]
    if not os.path.isdir(root):
        raise RuntimeError(f"Docker's data root {root} is not on this machine: run the benchmark on the engine's host")
    return root


# --- one round on one hub --------------------------------------------------------


def _ok(r, what):
    if r.status_code != 200:
        raise RuntimeError(f"{what} failed: {r.status_code} {r.text}")
    return r.json()


def _timed(request):
    tic = time.perf_counter()
    r = request()
    return time.perf_counter() - tic, r


def raw_copy(ctx, source, subdir, drop):
    """Seconds of a raw helper container ``cp -a`` of ``source`` into a new volume, from a cold cache."""
    dst = f"{PREFIX}-rawdst-{uuid.uuid4().hex[:6]}"
    drop()
    seconds, _ = _run_helper(
        ctx.client, ctx.image,
        {source: {"bind": "/source", "mode": "ro"}, dst: {"bind": "/backup", "mode": "rw"}},
        ["cp", "-a", "/source" + subdir, "/backup/data"],
    )
    ctx.client.volumes.get(dst).remove(force=True)
    return seconds


def one_round(ctx, hub, user, files, drop, root, raw=None):
    """Fill, reset with a backup, restore it, reset with ?backup=0; the measurements.

    ``raw``: None (the move hub: raw ``du -sb`` and empty helpers instead), "before" or
    "after" (the copy hub: when the raw ``cp -a`` runs, relative to the reset).
    """
    client = ctx.client
    hub.create_user(user)
    home = hub.home_volume(user)["volume"]["name"]
    path = hub.extension_path(user)
    m = {}
    fill_volume(client, ctx.image, home, files, FILE_KIB)
    time.sleep(1.0)
    data_only = used_bytes(root)

    if raw == "before":
        m["raw_copy"] = raw_copy(ctx, home, "", drop)
    drop()
    with DiskPeak(root) as idle:  # what the rest of the machine writes meanwhile
        time.sleep(IDLE_WINDOW)
    m["peak_idle"] = idle.peak
    with DiskPeak(root) as disk:
        m["reset_with"], r = _timed(lambda: hub.reset(user, timeout=1800))
    body = _ok(r, "reset")
    (backup,) = body["backups"]
    m["backup_step"] = body["backup_duration_seconds"]
    m["bytes"] = backup["size_bytes"]
    m["peak_reset_with"] = disk.peak
    if raw == "after":
        m["raw_copy"] = raw_copy(ctx, backup["id"], "/data", drop)
    if raw is None:
        drop()
        m["raw_du"], _ = _run_helper(
            client, ctx.image, {backup["id"]: {"bind": "/backup", "mode": "ro"}}, ["du", "-sb", "/backup/data"]
        )
        m["raw_empty_helper"], _ = _run_helper(client, ctx.image, {}, ["true"])

    fill_volume(client, ctx.image, home, 1, FILE_KIB)  # the home volume as a new start makes it
    drop()
    with DiskPeak(root) as disk:
        m["restore"], r = _timed(
            lambda: hub.api("POST", path + "/restore-home-volume", json={"backup": backup["id"]}, timeout=1800)
        )
    _ok(r, "restore")
    m["peak_restore"] = disk.peak
    status = _ok(hub.api("GET", path + "/home-volume?sizes=1", timeout=600), "sizes")
    m["fs_after_restore"] = used_bytes(root) - data_only
    m["volume_after_restore"] = next(v["size_bytes"] for v in status["volumes"] if v["name"] == home)
    left = [b for b in status["backups"] if b["volume"] == home]
    m["backups_after_restore"] = sum(b["size_bytes"] or 0 for b in left)
    m["backups_left"] = len(left)
    m["restored_from_kept"] = any(b["id"] == backup["id"] for b in left)
    for b in left:
        _ok(hub.api("DELETE", path + f"/home-volume-backups/{b['id']}", timeout=600), "delete backup")

    drop()
    with DiskPeak(root) as disk:
        m["reset_without"], r = _timed(lambda: hub.reset(user, timeout=1800, backup=False))
    _ok(r, "reset ?backup=0")
    m["peak_reset_without"] = disk.peak
    return m


def run(ctx):
    sizes = SMOKE_SIZES if ctx.smoke else SIZES
    drop = page_cache_dropper(not ctx.smoke)
    root = docker_root(ctx.client)
    results = {label: {"move": [], "copy": []} for label, _, _ in sizes}
    raw_order = {}
    load = os.getloadavg()[0]
    with Rig(ctx, NAME) as rig:
        started = run_threads([
            lambda: rig.start_hub("move", backup_by_move=1, volume_size_cache_seconds=0),
            lambda: rig.start_hub("copy", backup_by_move=0, volume_size_cache_seconds=0),
        ])
        for hub in started:
            if isinstance(hub, BaseException):
                raise hub
        hubs = dict(zip(("move", "copy"), started))
        if not ctx.smoke:
            # The first reset of a hub probes the engine's volume folder; not measured.
            for kind, hub in hubs.items():
                one_round(ctx, hub, f"{kind}-warmup", 1, drop, root, None if kind == "move" else "before")
        for label, files, rounds in sizes:
            tag = label.replace(" ", "").lower()
            for i in range(rounds):
                raw_order.setdefault(label, []).append("before" if i % 2 == 0 else "after")
                for kind in ("move", "copy") if i % 2 == 0 else ("copy", "move"):
                    m = one_round(ctx, hubs[kind], f"{kind}-{tag}-r{i}", files, drop, root,
                                  None if kind == "move" else raw_order[label][-1])
                    results[label][kind].append(m)
                    print(f"  [move] {label} round {i + 1} {kind}: reset with {m['reset_with']:.2f}s"
                          f" (backup {m['backup_step']:.2f}s), without {m['reset_without']:.2f}s,"
                          f" restore {m['restore']:.2f}s, peak {m['peak_reset_with'] / MiB:.2f} MiB"
                          f" (idle {m['peak_idle'] / MiB:.2f} MiB)"
                          + (f", raw cp -a {m['raw_copy']:.2f}s" if "raw_copy" in m else "")
                          + (f", raw du {m['raw_du']:.2f}s" if "raw_du" in m else ""), flush=True)
    load = (load, os.getloadavg()[0])
    return build_report(results, sizes, raw_order, dropped=not ctx.smoke, load=load)


# --- the report ------------------------------------------------------------------


def _mib(values, digits=2):
    return f"{median(values) / MiB:+.{digits}f} (max {max(values) / MiB:+.{digits}f})"


def build_report(results, sizes, raw_order, dropped, load):
    parts, goals, samples = [], [], {}
    added, speedups, peaks, kept, data_bytes, throughputs = {}, {}, {}, {}, {}, {}
    for label, files, rounds in sizes:
        mv, cp = results[label]["move"], results[label]["copy"]
        col = lambda side, key: [m[key] for m in side]  # noqa: E731
        rows = [
            ("move: reset with a backup", col(mv, "reset_with")),
            ("move: reset `?backup=0`", col(mv, "reset_without")),
            ("copy: reset with a backup", col(cp, "reset_with")),
            ("copy: reset `?backup=0`", col(cp, "reset_without")),
            ("move: restore", col(mv, "restore")),
            ("copy: restore", col(cp, "restore")),
            ("move: backup step of the reset (server-side)", col(mv, "backup_step")),
            ("copy: backup step of the reset (server-side)", col(cp, "backup_step")),
            ("raw: helper `du -sb` of the moved data", col(mv, "raw_du")),
            ("raw: empty helper (`true`)", col(mv, "raw_empty_helper")),
        ]
        for name, values in rows:
            samples[f"{label} {name}"] = values
        data = data_bytes[label] = median(col(mv, "bytes") + col(cp, "bytes"))
        diff = lambda side: median([m["reset_with"] - m["reset_without"] for m in side])  # noqa: E731
        added[label] = median(col(mv, "reset_with")) - median(col(mv, "reset_without"))
        copy_added = median(col(cp, "reset_with")) - median(col(cp, "reset_without"))
        speedups[label] = median(col(cp, "restore")) / median(col(mv, "restore"))
        peaks[label] = median(col(mv, "peak_reset_with"))
        kept[label] = max(col(mv, "backups_after_restore"))
        ours_s, raw_s = col(cp, "backup_step"), col(cp, "raw_copy")
        throughputs[label] = median(raw_s) / median(ours_s)
        pair_rows = [
            [i + 1, f"raw {'first' if order == 'before' else 'second'}", f"{o:.3f}", f"{r:.3f}",
             f"{b / o / MiB:.0f}", f"{b / r / MiB:.0f}", f"{r / o:.3f}"]
            for i, (o, r, b, order) in enumerate(zip(ours_s, raw_s, col(cp, "bytes"), raw_order[label]))
        ]
        disk_rows = [
            ["peak extra during the reset with a backup", _mib(col(mv, "peak_reset_with")),
             _mib(col(cp, "peak_reset_with"))],
            ["peak extra during the restore", _mib(col(mv, "peak_restore")), _mib(col(cp, "peak_restore"))],
            [f"peak extra in {IDLE_WINDOW:.0f} s with nothing of ours running, just before the reset (the machine's noise)",
             _mib(col(mv, "peak_idle")), _mib(col(cp, "peak_idle"))],
            ["peak extra during the reset `?backup=0` (reference: no helper, frees the data)",
             _mib(col(mv, "peak_reset_without")), _mib(col(cp, "peak_reset_without"))],
            ["after the restore: the volume (`du -sb`)", _mib(col(mv, "volume_after_restore"), 1),
             _mib(col(cp, "volume_after_restore"), 1)],
            ["after the restore: its backups (`du -sb`)", _mib(col(mv, "backups_after_restore"), 1),
             _mib(col(cp, "backups_after_restore"), 1)],
            ["after the restore: the filesystem, against the data alone", _mib(col(mv, "fs_after_restore"), 1),
             _mib(col(cp, "fs_after_restore"), 1)],
            ["backups left after the restore (the one restored from among them)",
             f"{median(col(mv, 'backups_left')):.0f} ({sum(col(mv, 'restored_from_kept'))} of {len(mv)})",
             f"{median(col(cp, 'backups_left')):.0f} ({sum(col(cp, 'restored_from_kept'))} of {len(cp)})"],
        ]
        parts.append(f"""
## {label}: {files} files of {FILE_KIB} KiB ({data / MiB:.1f} MiB by `du -sb`), {rounds} round(s) per hub

### Time, from request to response

{md_table(SUMMARY_HEADERS, [summary_row(n, v) for n, v in rows])}

- A backup adds **{added[label]:+.3f} s** to a reset by move (medians; median of the per-round
  differences {diff(mv):+.3f} s), against {copy_added:+.3f} s by copy ({diff(cp):+.3f} s).
- Restore: the copy takes **{speedups[label]:.1f} ×** as long as the move (medians).
- The move's backup step took {median(col(mv, "backup_step")):.3f} s: an empty helper takes
  {median(col(mv, "raw_empty_helper")):.3f} s and a raw `du -sb` of the data from a cold cache
  {median(col(mv, "raw_du")):.3f} s (the move script ends with one, for the backup's size).

### Disk (MiB; median of the rounds, max in brackets)

{md_table(["measured", "move", "copy"], disk_rows)}

### The copy path's throughput against a raw `cp -a` helper

Server-side `backup_duration_seconds` of the copy hub's reset against a raw helper
container `cp -a` of the same data (timed from the client; create, start, wait, remove),
each after a dropped page cache; the raw copy ran before the reset (from the home
volume) or after it (from the backup), alternately.

{md_table(["round", "order", "ours (s)", "raw (s)", "ours MiB/s", "raw MiB/s", "ours / raw"], pair_rows)}

Ours / raw: **{throughputs[label]:.3f}** by the medians ({median(ours_s):.3f} s against
{median(raw_s):.3f} s); the median of the per-round ratios is
{median([r / o for o, r in zip(ours_s, raw_s)]):.3f}.
""")
    largest = sizes[-1][0]
    cache = ("The page cache was dropped before every measured request and every raw copy."
             if dropped else "Smoke run: the page cache was not dropped.")
    body = f"""
Two hubs on one engine, side by side in one run: **move** (`backup_by_move` on, the
default) and **copy** (`backup_by_move=0`, backups and restores by `cp -a` as before).
Each round, on a fresh user of each hub (the hubs' order alternating): fill the home
volume with real data (synced); reset with a backup; make the home volume anew (the
image's home and one file, as a start does) and restore that backup; delete the
backups left; reset the restored volume with `?backup=0`. {cache} Disk: the used bytes
of the filesystem holding Docker's data root, sampled every {SAMPLE_INTERVAL * 1000:.0f} ms in a
thread during the request, minus the value just before it; what other work on the
machine writes meanwhile shows up too (the idle and `?backup=0` rows show how much).
Sizes by the hub's own `du -sb`. Load average (1 min) of the machine, shared with other
work: {load[0]:.2f} at the start, {load[1]:.2f} at the end ({os.cpu_count()} cores).
{"".join(parts)}"""
    goals = [
        Goal(f"a backup adds at most +{GOAL_ADDED_SECONDS} s to a reset, at every size",
             all(a <= GOAL_ADDED_SECONDS for a in added.values()),
             "; ".join(f"{k}: {v:+.3f} s" for k, v in added.items())),
        Goal(f"restore by move at least {GOAL_RESTORE_SPEEDUP} × faster than by copy at {largest}",
             speedups[largest] >= GOAL_RESTORE_SPEEDUP,
             "; ".join(f"{k}: {v:.1f} ×" for k, v in speedups.items())),
        Goal("peak extra disk during a reset with a backup under 1 MiB (median of the rounds), at every size",
             all(p < GOAL_PEAK_BYTES for p in peaks.values()),
             "; ".join(f"{k}: {v / MiB:+.3f} MiB" for k, v in peaks.items())),
        Goal("after a restore by move, no second copy of the backup's data (backups left < 1 % of the data)",
             all(v < 0.01 * data_bytes[k] for k, v in kept.items()),
             "; ".join(f"{k}: at most {v / MiB:.2f} MiB left in backups of {data_bytes[k] / MiB:.0f} MiB"
                       for k, v in kept.items())),
        Goal(f"the copy path's throughput >= {GOAL_THROUGHPUT} of a raw `cp -a` helper, at every size",
             all(t >= GOAL_THROUGHPUT for t in throughputs.values()),
             "; ".join(f"{k}: {v:.3f}" for k, v in throughputs.items())),
    ]
    extra = {"rounds": results, "raw_order": raw_order, "load_average_start_end": load}
    return Report(NAME, TITLE, body, goals, samples=samples, extra=extra)
