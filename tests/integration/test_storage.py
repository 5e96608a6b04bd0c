"""Reset, backup, restore, sizes and delete on the storage operators really use, checked on disk.

- A bind-backed ``local`` volume (``type=none,o=bind,device=<folder>``), as NFS-style
  volumes are: ``docker volume rm`` would drop its definition and leave the files.
- Host-path homes (``volumes = {"<root>/{username}": "/home/jovyan"}``) under
  ``host_home_roots``, and ones outside the roots or behind a symlink out of them.

The tests run on the Docker host, so the folders behind the storage are read directly.
"""

import os
import subprocess

import pytest

from tests.support.dockerutil import container_of, docker_escape, write_file
from tests.support.hubproc import PREFIX, quote, running_hub


def home_of(user):
    return f"{PREFIX}-{docker_escape(user)}---home"


def path(user, action):
    return f"/users/{quote(user)}/{action}"


def listing(folder):
    return sorted(os.listdir(folder))


def du_sb(folder):
    return int(subprocess.run(["du", "-sb", folder], capture_output=True, text=True, check=True).stdout.split()[0])


def jovyan_folder(folder):
    folder.mkdir(parents=True)
    os.chown(folder, 1000, 1000)
    return folder


@pytest.fixture(scope="module")
def deleting_hub(tmp_path_factory, docker, image):
    """The default test config, with remove_volumes_on_delete for the delete test."""
    with running_hub(tmp_path_factory, docker, image, "storage-hub", remove_volumes_on_delete="1") as h:
        yield h


@pytest.fixture(scope="module")
def host_base(tmp_path_factory):
    base = tmp_path_factory.mktemp("host-homes")
    (base / "homes").mkdir()
    (base / "outside").mkdir()
    return base


@pytest.fixture(scope="module")
def host_path_hub(tmp_path_factory, docker, image, host_base):
    """Homes are host paths: <base>/homes/{username}, allowed; outside-* users' <base>/outside/{username}."""
    with running_hub(tmp_path_factory, docker, image, "host-path-hub", host_home_base=str(host_base)) as h:
        yield h


def test_bind_backed_volume_is_emptied_in_place_and_restored_onto_the_same_storage(
    deleting_hub, docker, image, username, tmp_path
):
    hub = deleting_hub
    folder = jovyan_folder(tmp_path / "nfs-like" / username)
    options = {"type": "none", "o": "bind", "device": str(folder)}
    docker.volumes.create(home_of(username), driver="local", driver_opts=options, labels={"site": "nfs"})
    hub.create_user(username)
    hub.start_server(username)
    skeleton = listing(folder)  # what Docker copied from the image into the empty storage
    assert ".bashrc" in skeleton
    write_file(container_of(docker, hub, username), "/home/jovyan/data.txt", "precious")
    assert (folder / "data.txt").read_text() == "precious"
    hub.stop_server(username)

    sized = hub.api("GET", path(username, "home-volume") + "?sizes=1").json()
    home = next(v for v in sized["volumes"] if v["home"])
    assert home["size_bytes"] == du_sb(folder)  # the data behind the volume, measured

    r = hub.api("DELETE", path(username, "reset-home-volume"))
    assert r.status_code == 200, r.text
    assert r.json()["volumes"] == [home_of(username)]
    (backup,) = r.json()["backups"]
    # The files behind the volume are gone; the volume keeps its driver, options and labels.
    assert listing(folder) == []
    volume = docker.volumes.get(home_of(username)).attrs
    assert (volume["Driver"], volume["Options"], volume["Labels"]) == ("local", options, {"site": "nfs"})

    # The next start sees the image's skeleton, on the same storage.
    hub.start_server(username)
    assert listing(folder) == skeleton
    hub.stop_server(username)

    r = hub.api("POST", path(username, "restore-home-volume"), json={"backup": backup["id"]})
    assert r.status_code == 200, r.text
    assert (folder / "data.txt").read_text() == "precious"
    assert docker.volumes.get(home_of(username)).attrs["Options"] == options

    # delete_forever with remove_volumes_on_delete deletes the data, not only the definition.
    assert hub.api("DELETE", f"/users/{quote(username)}").status_code == 204
    hub.wait_for(lambda: home_of(username) not in {v.name for v in docker.volumes.list()}, timeout=30)
    assert folder.is_dir() and listing(folder) == []


def test_plain_local_volume_is_still_removed(deleting_hub, docker, username):
    hub = deleting_hub
    hub.create_user(username)
    hub.start_server(username)
    hub.stop_server(username)
    created = docker.volumes.get(home_of(username)).attrs["CreatedAt"]
    r = hub.api("DELETE", path(username, "reset-home-volume") + "?backup=0")
    assert r.status_code == 200, r.text
    assert home_of(username) not in {v.name for v in docker.volumes.list()}
    hub.start_server(username)
    assert docker.volumes.get(home_of(username)).attrs["CreatedAt"] != created  # a new volume
    hub.stop_server(username)


def test_host_path_home_under_an_allowed_root(host_path_hub, docker, host_base, username):
    hub = host_path_hub
    home = jovyan_folder(host_base / "homes" / username)
    hub.create_user(username)
    hub.start_server(username)
    write_file(container_of(docker, hub, username), "/home/jovyan/data.txt", "on the host")
    (home / "sub").mkdir()
    (home / "sub" / "deep.txt").write_text("deeper")
    hub.stop_server(username)
    assert (home / "data.txt").read_text() == "on the host"

    status = hub.api("GET", path(username, "home-volume") + "?sizes=1").json()
    assert status["volume"] == {"name": str(home), "exists": True, "mount_path": "/home/jovyan", "resettable": True}
    entry = next(v for v in status["volumes"] if v["home"])
    assert (entry["kind"], entry["resettable"], entry["size_bytes"]) == ("host-path", True, du_sb(home))
    assert status["actions"]["reset"] is True

    r = hub.api("DELETE", path(username, "reset-home-volume"))
    assert r.status_code == 200, r.text
    (backup,) = r.json()["backups"]
    assert home.is_dir() and listing(home) == []  # emptied, the folder kept

    r = hub.api("POST", path(username, "restore-home-volume"), json={"backup": backup["id"]})
    assert r.status_code == 200, r.text
    assert (home / "data.txt").read_text() == "on the host"
    assert (home / "sub" / "deep.txt").read_text() == "deeper"
    assert os.stat(home / "data.txt").st_uid == 1000


def test_host_path_behind_a_symlink_out_of_the_root_is_refused_and_untouched(host_path_hub, docker, host_base, username):
    hub = host_path_hub
    elsewhere = host_base / "elsewhere" / username
    elsewhere.mkdir(parents=True)
    (elsewhere / "keep.txt").write_text("not yours")
    (host_base / "homes" / username).symlink_to(elsewhere)
    hub.create_user(username)  # never started: Docker would follow the link itself

    r = hub.api("DELETE", path(username, "reset-home-volume"))
    assert r.status_code == 400, r.text
    assert "does not resolve inside" in r.json()["message"]
    assert (elsewhere / "keep.txt").read_text() == "not yours"
    assert os.path.islink(host_base / "homes" / username)
    assert hub.api("GET", path(username, "home-volume")).json()["backups"] == []
    # Also with ?backup=0, where no backup helper runs first.
    r = hub.api("DELETE", path(username, "reset-home-volume") + "?backup=0")
    assert r.status_code == 400, r.text
    assert (elsewhere / "keep.txt").read_text() == "not yours"


def test_host_path_outside_the_roots_is_refused_and_untouched(host_path_hub, host_base):
    hub = host_path_hub
    user = "outside-" + os.urandom(4).hex()
    home = host_base / "outside" / user
    home.mkdir()
    (home / "keep.txt").write_text("outside")
    hub.create_user(user)

    status = hub.api("GET", path(user, "home-volume")).json()
    assert status["volume"]["resettable"] is False and status["actions"]["reset"] is False
    r = hub.api("DELETE", path(user, "reset-home-volume"))
    assert r.status_code == 400, r.text
    assert "host_home_roots" in r.json()["message"]
    assert (home / "keep.txt").read_text() == "outside"
