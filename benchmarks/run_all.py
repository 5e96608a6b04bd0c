"""Run the benchmarks and write their tables to benchmarks/results/.

    make bench                                   # all of them, about 40 minutes on 2 cores
    make bench-smoke                             # 1-2 rounds, tiny data, temporary output
    .venv/bin/python -m benchmarks.run_all --list  # the registered benchmarks
    RS_TEST_IMAGE=<image> .venv/bin/python -m benchmarks.run_all --only restart

Each benchmark starts its own hub, proxy and containers and removes them when done
(everything named rsbench-*). Run one benchmark run at a time: each one begins by
removing whatever rsbench-* a crashed earlier run left behind.

Exit status: 1 if any benchmark crashed, 0 otherwise (a missed goal is reported, not
an error).
"""

import argparse
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

from . import (
    bench_backup,
    bench_bulk,
    bench_engine_faults,
    bench_isolation,
    bench_move,
    bench_reset,
    bench_responsiveness,
    bench_restart,
    bench_storm,
    bench_swarm,
    plot,
)
from .common import Context, docker_client, machine_info, print_report, render_markdown, save_json

BENCHMARKS = {
    m.NAME: m
    for m in (
        bench_restart, bench_isolation, bench_responsiveness, bench_reset, bench_storm, bench_bulk, bench_backup, bench_move, bench_engine_faults,
        bench_swarm,
    )
}
RESULTS = Path(__file__).resolve().parent / "results"


def reproduce_commands(name, image, smoke):
    flags = ("--smoke " if smoke else "") + f"--only {name}"
    return [
        "# all benchmarks (builds the image if needed):",
        "make bench-smoke" if smoke else "make bench",
        "# this one alone, from the repository root:",
        f"RS_TEST_IMAGE={image} .venv/bin/python -m benchmarks.run_all {flags}",
    ]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run_all", description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="1-2 rounds, tiny data; results go to a temporary directory")
    parser.add_argument("--only", choices=sorted(BENCHMARKS), action="append", help="run only this benchmark (repeatable)")
    parser.add_argument("--out", type=Path, help="where to write results (default: benchmarks/results/, or a temporary directory with --smoke)")
    parser.add_argument("--list", action="store_true", help="print the registered benchmarks' names, one a line, and exit")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(BENCHMARKS))
        return 0

    image = os.environ.get("RS_TEST_IMAGE")
    if not image:
        parser.error("set RS_TEST_IMAGE to the single-user image (make bench does)")
    # Smoke runs must never overwrite the tables the README quotes.
    out_dir = args.out or (Path(tempfile.mkdtemp(prefix="rsbench-smoke-")) if args.smoke else RESULTS)
    out_dir.mkdir(parents=True, exist_ok=True)

    client = docker_client()
    client.images.get(image)  # fail early and clearly if the image is missing
    ctx = Context(image=image, smoke=args.smoke, client=client, out_dir=out_dir)
    names = args.only or list(BENCHMARKS)

    crashed, goals = [], []
    started = time.monotonic()
    for name in names:
        print(f"\n=== {name}{' (smoke)' if args.smoke else ''} ===", flush=True)
        tic = time.monotonic()
        machine = machine_info(client)  # taken first: "started" is when this benchmark began
        try:
            report = BENCHMARKS[name].run(ctx)
        except Exception:
            traceback.print_exc()
            crashed.append(name)
            print(f"=== {name}: CRASHED after {time.monotonic() - tic:.0f}s ===", flush=True)
            continue
        machine["duration of this benchmark"] = f"{time.monotonic() - tic:.0f} s"
        md = render_markdown(report, machine, reproduce_commands(name, image, args.smoke), args.smoke)
        (out_dir / f"{name}.md").write_text(md)
        save_json(out_dir / f"{name}.json", report, machine, args.smoke)
        print_report(report)
        goals += [(name, g) for g in report.goals]
        print(f"=== {name}: done in {time.monotonic() - tic:.0f}s, wrote {out_dir / (name + '.md')} ===", flush=True)

    png = plot.draw(out_dir)
    plot.draw_storm(out_dir)
    print(f"\nAll done in {time.monotonic() - started:.0f}s. Results in {out_dir}" + (f", plot {png}" if png else ""))
    for name, g in goals:
        print(f"  {name}: {g.line()}")
    if crashed:
        print(f"CRASHED: {', '.join(crashed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
