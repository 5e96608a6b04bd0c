"""The README's quick start installs as it says, each line run as written into a fresh venv.

No package named resettable-spawner is on PyPI: the README installs from a checkout, or
from the wheels `make dist` builds into dist/. Both wheels carry the license that
pyproject.toml declares, with the LICENSE file.
"""

import os
import re
import subprocess
import sys
import venv
import zipfile

from tests.support import ROOT

README = (ROOT / "README.md").read_text()


def quick_start_commands():
    """The shell lines of the sh blocks under "Quick start", comments dropped."""
    section = README.split("## Quick start for an existing JupyterHub", 1)[1].split("\n## ", 1)[0]
    lines = [line for block in re.findall(r"```sh\n(.*?)```", section, re.S) for line in block.splitlines()]
    return [line.split("#", 1)[0].strip() for line in lines if line.split("#", 1)[0].strip()]


def checkout(tmp_path):
    """The repository where the README's `git clone` puts it: ./resettable-spawner."""
    (clone,) = [c for c in quick_start_commands() if c.startswith("git clone")]
    target = tmp_path / clone.split()[-1]
    target.symlink_to(ROOT)
    return target


def fresh_venv(path):
    venv.EnvBuilder(with_pip=True).create(path)
    return path / "bin"


def run_line(line, cwd, bin_dir):
    # The machine's own pip settings and cache; the venv's pip first on PATH.
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}", VIRTUAL_ENV=str(bin_dir.parent))
    env.pop("PYTHONPATH", None)
    subprocess.run(["bash", "-ec", line], cwd=cwd, env=env, check=True, capture_output=True, text=True)


def installed(bin_dir):
    """What the venv imports (from a folder without the checkout in it)."""
    out = subprocess.run(
        [
            str(bin_dir / "python"),
            "-c",
            "import importlib.metadata as m, resettable_spawner as r; d = m.distribution('resettable-spawner');"
            "print(d.metadata['License-Expression']); print(r.template_dir);"
            "print(any(str(f).endswith('licenses/LICENSE') for f in d.files))",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=bin_dir,
    ).stdout.split()
    return out


def test_the_quick_start_names_no_package_that_is_not_on_pypi():
    commands = quick_start_commands()
    assert any(c.startswith("pip install") for c in commands), commands
    for c in commands:
        assert not re.match(r"pip install\s+resettable[-_]spawner\b", c), c


def test_the_checkout_line_installs_into_a_fresh_venv(tmp_path):
    (line,) = [c for c in quick_start_commands() if c.startswith("pip install ./")]
    checkout(tmp_path)
    bin_dir = fresh_venv(tmp_path / "venv")
    run_line(line, tmp_path, bin_dir)
    license_expression, template_dir, has_license = installed(bin_dir)
    assert license_expression == "BSD-3-Clause" and has_license == "True"
    assert template_dir.startswith(str(tmp_path / "venv")) and template_dir.endswith("resettable_spawner/templates")


def test_the_dist_lines_build_both_wheels_and_install_into_a_fresh_venv(tmp_path):
    commands = quick_start_commands()
    (make,) = [c for c in commands if "make dist" in c]
    wheel_line = [c for c in commands if c.startswith("pip install dist/")]
    assert wheel_line, commands
    bin_dir = fresh_venv(tmp_path / "venv")
    repo = checkout(tmp_path)
    run_line(make, tmp_path, bin_dir)
    for wheel in [wheel_line[0].split()[-1], "dist/resettable_spawner_labextension-0.1.0-py3-none-any.whl"]:
        with zipfile.ZipFile(ROOT / wheel) as z:
            meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
            text = z.read(meta).decode()
            assert "License-Expression: BSD-3-Clause" in text, wheel
            assert "License-File: LICENSE" in text, wheel
            assert any(n.endswith(".dist-info/licenses/LICENSE") for n in z.namelist()), wheel
    run_line(wheel_line[0], repo, bin_dir)
    license_expression, template_dir, has_license = installed(bin_dir)
    assert license_expression == "BSD-3-Clause" and has_license == "True"
    assert template_dir.startswith(str(tmp_path / "venv"))


if __name__ == "__main__":  # pragma: no cover
    print(quick_start_commands(), file=sys.stderr)
