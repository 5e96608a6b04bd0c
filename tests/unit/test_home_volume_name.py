"""Which volume is home: rendered by DockerSpawner's own templates and escaping.

Pure configuration logic, so these construct the spawner directly (no Docker call is made).
"""

from types import SimpleNamespace

import pytest
from dockerspawner.volumenamingstrategy import escaped_format_volume_name

from resettable_spawner import ResettableDockerSpawner
from resettable_spawner.errors import BadRequest
from resettable_spawner.objects import kept_volumes


def spawner(user="dot.user@example.com", server="", **config):
    # The server name comes from the hub's database record, as in a real hub.
    orm_spawner = SimpleNamespace(name=server, display_name=server, server=None)
    return ResettableDockerSpawner(user=SimpleNamespace(name=user), orm_spawner=orm_spawner, **config)


def test_home_is_the_volume_mounted_at_home_mount_path():
    s = spawner(
        volumes={
            "jl-{username}-{servername}_cache": "/home/jovyan/.cache",
            "jl-{username}-{servername}_home": {"bind": "/home/jovyan/", "mode": "rw"},
        },
        server="Lab",
    )
    assert s.home_volume_name == "jl-dot-2euser-40example-2ecom-lab_home"
    assert kept_volumes(s.server_volumes()) == [
        {"name": "jl-dot-2euser-40example-2ecom-lab_cache", "mount_path": "/home/jovyan/.cache"}
    ]


def test_format_volume_name_is_respected():
    s = spawner(
        volumes={"home-{username}": "/home/jovyan"}, format_volume_name=escaped_format_volume_name
    )
    assert s.home_volume_name == "home-dot-2euser-40example-2ecom"


def test_mounts_of_type_volume_count():
    s = spawner(
        mounts=[{"source": "m-{username}", "target": "/home/jovyan", "type": "volume"}],
        user="bob",
    )
    assert s.home_volume_name == "m-bob"


@pytest.mark.parametrize(
    "volumes",
    [{}, {"x-{username}": "/home/jovyan/work"}],
    ids=["nothing", "only-nested"],
)
def test_no_home_volume_is_reported(volumes):
    s = spawner(volumes=volumes)
    assert s.home_volume_name is None


def test_a_host_path_home_is_resettable_only_inside_host_home_roots():
    volumes = {"/srv/homes/{username}": "/home/jovyan"}
    s = spawner(volumes=volumes)
    assert s.home_volume_name == "/srv/homes/dot-2euser-40example-2ecom"
    with pytest.raises(BadRequest, match="host_home_roots"):
        s.volumes_to_reset(None)
    s = spawner(volumes=volumes, host_home_roots=["/srv/homes/"])
    assert s.volumes_to_reset(None) == ["/srv/homes/dot-2euser-40example-2ecom"]
    assert s.storage_of(s.home_volume_name).relative_path == "dot-2euser-40example-2ecom"
    escaping = spawner(volumes={"/srv/homes/{username}/../../etc": "/home/jovyan"}, host_home_roots=["/srv/homes"])
    with pytest.raises(BadRequest):
        escaping.volumes_to_reset(None)
    shared = spawner(volumes={"/srv/homes/shared": "/home/jovyan"}, host_home_roots=["/srv/homes"])
    with pytest.raises(BadRequest):
        shared.volumes_to_reset(None)


def test_home_mount_path_must_be_absolute():
    with pytest.raises(Exception, match="absolute"):
        spawner(home_mount_path="home/jovyan")


def test_spawner_lists_its_volumes_with_dockerspawner_rendering():
    s = spawner(
        server="Lab",
        prefix="jl",
        volumes={
            "{prefix}-{username}-{servername}_home": "/home/jovyan",
            "{prefix}-shared": {"bind": "/home/jovyan/shared", "mode": "rw"},
        },
        read_only_volumes={"{prefix}-{username}_ref": "/ref"},
    )
    assert s.per_user_volume_names() == ["jl-dot-2euser-40example-2ecom-lab_home"]
    names = {v["name"]: v["resettable"] for v in s.server_volumes()}
    assert names == {
        "jl-dot-2euser-40example-2ecom-lab_home": True,
        "jl-shared": False,
        "jl-dot-2euser-40example-2ecom_ref": False,
    }
    # A reset takes the home volume by default, and never a shared one.
    assert s.home_volume_name == "jl-dot-2euser-40example-2ecom-lab_home"
    with pytest.raises(BadRequest):
        s.volumes_to_reset(["jl-shared"])
    assert s.volumes_to_reset(None) == ["jl-dot-2euser-40example-2ecom-lab_home"]
