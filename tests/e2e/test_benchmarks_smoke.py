"""`benchmarks/` in smoke mode (one round, tiny data), so the scripts keep working.

The full benchmarks (`make bench`) are not part of the tests: speed is never asserted here.
"""

import os
import subprocess
import sys

from tests.support import ROOT


def test_benchmarks_run_in_smoke_mode(docker, image, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.run_all", "--smoke", "--out", str(tmp_path)],
        cwd=ROOT,
        env=dict(os.environ, RS_TEST_IMAGE=image),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    written = {p.name for p in tmp_path.iterdir()}
    # Every registered benchmark writes its report. The registry is read from a child
    # process: importing benchmarks/ here would set this process's name prefix to theirs.
    listed = subprocess.run(
        [sys.executable, "-m", "benchmarks.run_all", "--list"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
    )
    names = listed.stdout.split()
    assert "swarm" in names and "move" in names, names
    reports = tuple(f"{name}.md" for name in names)
    assert {*reports, "latency.png", "storm.png"} <= written
    for name in reports:
        text = (tmp_path / name).read_text()
        assert "## Goals" in text and "## Reproduce" in text
