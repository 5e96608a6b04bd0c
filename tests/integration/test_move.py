"""Backups by move: the data itself moves (same inodes), exactly, and the helper stays narrow.

- A reset's backup holds the very files of the volume (their inode numbers are
  unchanged), listed and sized like a copy's; a restore moves them back and consumes
  the backup; the replaced content becomes a new backup the same way.
- The move scripts, run in a real helper container on a folder laid out as the
  engine's volume folder, refuse every argument that is not exactly
  ``/volumes/<name>/_data`` (``..``, nesting, shell metacharacters, a symlinked data
  folder) and touch nothing then.
"""

import os
import subprocess

import pytest

from resettable_spawner import objects
from tests.support.dockerutil import docker_escape, volume_names
from tests.support.hubproc import PREFIX, quote, running_hub
from tests.support.volumes import fill, listing, run_in


def vol(user):
    return f"{PREFIX}-{docker_escape(user)}---home"


def inodes(docker, image, volume, sub=""):
    out = run_in(docker, image, volume, f"cd /v{sub} && find . -type f -printf '%p %i\\n' | sort", read_only=True)
    return out


@pytest.fixture(scope="module")
def hub(tmp_path_factory, docker, image):
    with running_hub(tmp_path_factory, docker, image, "move-hub") as h:
        yield h


def test_reset_and_restore_move_the_very_files(hub, docker, image, username):
    hub.create_user(username)
    home = vol(username)
    fill(docker, image, home)
    tree, before = listing(docker, image, home), inodes(docker, image, home)

    r = hub.api("DELETE", f"/users/{quote(username)}/reset-home-volume")
    assert r.status_code == 200, r.text
    (made,) = r.json()["backups"]
    assert home not in volume_names(docker)
    # The backup's data/ holds the same files, not copies of them.
    assert inodes(docker, image, made["id"], "/data") == before
    labels = docker.volumes.get(made["id"]).attrs["Labels"]
    assert labels["resettable-spawner.backup-of"] == home and labels["resettable-spawner.reason"] == "reset"
    du = run_in(docker, image, made["id"], "du -sb /v/data | cut -f1", read_only=True).strip()
    assert made["size_bytes"] == int(du)
    listed = hub.api("GET", f"/users/{quote(username)}/home-volume?sizes=1").json()["backups"]
    assert [(b["id"], b["size_bytes"]) for b in listed] == [(made["id"], int(du))]

    # New content, then a restore: the backup's files come back, the new ones go to a backup.
    fill(docker, image, home, "echo new > /v/state; chown -R 1000:100 /v")
    new_tree, new_inodes = listing(docker, image, home), inodes(docker, image, home)
    r = hub.api("POST", f"/users/{quote(username)}/restore-home-volume", json={"backup": made["id"]})
    assert r.status_code == 200, r.text
    replaced = r.json()["replaced_backup"]
    assert listing(docker, image, home) == tree
    assert inodes(docker, image, home) == before
    assert inodes(docker, image, replaced["id"], "/data") == new_inodes
    assert made["id"] not in volume_names(docker)  # consumed
    ids = [b["id"] for b in hub.api("GET", f"/users/{quote(username)}/home-volume").json()["backups"]]
    assert ids == [replaced["id"]]
    # And the undo: the replaced content back, exactly.
    r = hub.api("POST", f"/users/{quote(username)}/restore-home-volume", json={"backup": replaced["id"]})
    assert r.status_code == 200, r.text
    assert listing(docker, image, home) == new_tree


def test_an_engine_folder_out_of_reach_means_copies(tmp_path_factory, docker, image, username):
    elsewhere = tmp_path_factory.mktemp("not-the-engine")  # what the engine reports; not its folder
    with running_hub(tmp_path_factory, docker, image, "far-engine-hub", engine_volume_folder=str(elsewhere)) as hub:
        hub.create_user(username)
        home = vol(username)
        fill(docker, image, home)
        tree, before = listing(docker, image, home), inodes(docker, image, home)
        r = hub.api("DELETE", f"/users/{quote(username)}/reset-home-volume")
        assert r.status_code == 200, r.text
        (made,) = r.json()["backups"]
        copied = inodes(docker, image, made["id"], "/data")
        assert copied != before and len(copied.splitlines()) == len(before.splitlines())  # copies
        assert "Backups by move: off" in hub.log()
        r = hub.api("POST", f"/users/{quote(username)}/restore-home-volume", json={"backup": made["id"]})
        assert r.status_code == 200, r.text
        assert listing(docker, image, home) == tree
        assert made["id"] in volume_names(docker)  # a copy's backup stays


@pytest.fixture
def fake_volume_folder(tmp_path):
    """A folder laid out as the engine's volume folder, and a file outside it."""
    root = tmp_path / "volumes"
    (root / "a" / "_data").mkdir(parents=True)
    (root / "a" / "_data" / "f").write_text("a's data")
    (root / "b" / "_data").mkdir(parents=True)
    (root / "linked").mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret").write_text("not a volume")
    (root / "linked" / "_data").symlink_to(tmp_path / "outside")
    return tmp_path


def tree_of(folder):
    return sorted(
        (str(p.relative_to(folder)), p.is_symlink() or p.read_text() if p.is_file() else None)
        for p in folder.rglob("*")
    )


@pytest.mark.parametrize(
    "args",
    [
        ("/volumes/../outside/_data", "/volumes/b/_data"),
        ("/volumes/a/_data", "/volumes/../outside/_data"),
        ("/volumes/a/../b/_data", "/volumes/b/_data"),
        ("/volumes/a/_data/..", "/volumes/b/_data"),
        ("/volumes/a;rm -rf $2/_data", "/volumes/b/_data"),
        ("/volumes/linked/_data", "/volumes/b/_data"),
        ("/volumes/a/_data", "/volumes/linked/_data"),
        ("/etc/_data", "/volumes/b/_data"),
        ("/volumes/_data", "/volumes/b/_data"),
    ],
    ids=["dotdot", "dotdot-target", "inner-dotdot", "trailing-dotdot", "metachars", "symlink", "symlink-target",
         "elsewhere", "no-name"],
)
def test_move_scripts_refuse_anything_but_two_volume_data_folders(docker, image, fake_volume_folder, args):
    folder = fake_volume_folder
    before = tree_of(folder)
    for script in (objects.MOVE_BACKUP_SCRIPT, objects.MOVE_RESTORE_SCRIPT, objects.UNMOVE_SCRIPT):
        result = subprocess.run(
            ["docker", "run", "--rm", "--network", "none", "-u", "0:0", "--name", f"{PREFIX}-moveprobe-{os.getpid()}",
             "-v", f"{folder / 'volumes'}:/volumes", "--entrypoint", "/bin/sh", image,
             *objects.move_argv(script, *args)[1:]],
            capture_output=True,
            text=True,
        )
        assert result.returncode == objects.OUTSIDE_ROOT_EXIT, (script[-60:], result.returncode, result.stderr)
        assert tree_of(folder) == before
