"""latency.png: the latency distributions of benchmarks 1 (restart) and 2 (isolation);
storm.png: the restart-storm curve of benchmark 5 (hub p99 and storm length by bound).

Reads the JSON samples that run_all writes beside the tables, so `--only restart`
redraws the figure with the isolation samples of the last full run.
"""

import json
import random
import statistics

import matplotlib

matplotlib.use("Agg")  # no display on a server or in CI
import matplotlib.pyplot as plt  # noqa: E402

PANELS = [
    ("restart.json", "1. Restart latency (request until the server answers)"),
    ("isolation.json", "2. Another user's spawn while a restart waits out a 10 s stop timeout"),
]


def draw(out_dir):
    """Write out_dir/latency.png from the JSON files present; return its path or None."""
    panels = [(json.loads((out_dir / f).read_text()), t) for f, t in PANELS if (out_dir / f).exists()]
    if not panels:
        return None
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 3.4 * len(panels)), squeeze=False)
    rng = random.Random(0)  # fixed jitter: the same data gives the same picture
    for ax, (data, title) in zip(axes[:, 0], panels):
        labels = list(data["samples"])
        values = [data["samples"][k] for k in labels]
        ax.boxplot(values, vert=False, widths=0.5, showfliers=False)
        for i, vs in enumerate(values, start=1):
            ax.scatter(vs, [i + rng.uniform(-0.15, 0.15) for _ in vs], s=14, alpha=0.7, zorder=3)
            ax.annotate(
                f"median {statistics.median(vs):.2f} s",
                (max(vs), i),
                xytext=(8, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
            )
        ax.set_yticks(range(1, len(labels) + 1), labels)
        ax.invert_yaxis()  # first variant (ours) on top
        ax.set_xlabel("seconds")
        ax.set_xlim(left=0, right=max(max(vs) for vs in values) * 1.25)
        ax.grid(axis="x", alpha=0.3)
        when = data["machine"].get("started (UTC)", "")
        ax.set_title(f"{title}\n{when} UTC, {data['machine'].get('nproc')} cores", fontsize=10)
    fig.tight_layout()
    path = out_dir / "latency.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def draw_storm(out_dir):
    """Write out_dir/storm.png from storm.json if present; return its path or None."""
    source = out_dir / "storm.json"
    if not source.exists():
        return None
    data = json.loads(source.read_text())
    curve = data["extra"]["curve"]
    labels = sorted(curve, key=lambda k: (k == "unbounded", int(k) if k.isdigit() else 0))
    xs = range(len(labels))
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.plot(xs, [curve[k]["p99_ratio"] for k in labels], "o-", label="hub API p99 / idle p99")
    ax.plot(xs, [curve[k]["time_ratio"] for k in labels], "s--", label="storm length / unbounded")
    ax.axhline(2, color="grey", lw=0.8, ls=":")
    ax.axhline(1.3, color="grey", lw=0.8, ls=":")
    ax.set_xticks(list(xs), labels)
    ax.set_xlabel("max_concurrent_restarts")
    ax.set_ylabel("ratio")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    when = data["machine"].get("started (UTC)", "")
    ax.set_title(f"20 restarts at once\n{when} UTC, {data['machine'].get('nproc')} cores", fontsize=10)
    fig.tight_layout()
    path = out_dir / "storm.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
