"""The wheel ships the templates and the event schema, and template_dir points at them."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_wheel_ships_templates(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    wheel = next(tmp_path.glob("resettable_spawner-*.whl"))
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    names = {p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file()}
    assert {
        "resettable_spawner/templates/home.html",
        "resettable_spawner/templates/resettable-home.js",
        "resettable_spawner/event-schemas/server-maintenance.yaml",
    } <= names
    entry_points = next(site.glob("*.dist-info/entry_points.txt")).read_text()
    assert "resettable-docker = resettable_spawner:ResettableDockerSpawner" in entry_points

    out = subprocess.run(
        [sys.executable, "-c", "import resettable_spawner; print(resettable_spawner.template_dir)"],
        env={"PYTHONPATH": str(site)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert out == str(site / "resettable_spawner" / "templates")
