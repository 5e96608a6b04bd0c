"""Which volumes a backup may move: the pure rule (objects.movable_data_path)."""

from resettable_spawner import objects


def test_movable_only_plain_local_volumes_in_the_engine_folder():
    folder = "/var/lib/docker/volumes"
    plain = {"Name": "vv", "Driver": "local", "Options": None, "Mountpoint": f"{folder}/vv/_data"}
    assert objects.movable_data_path("vv", plain, folder) == "/volumes/vv/_data"
    assert objects.movable_data_path("vv", {**plain, "Options": {"type": "nfs"}}, folder) is None
    assert objects.movable_data_path("vv", {**plain, "Driver": "plugin"}, folder) is None
    assert objects.movable_data_path("vv", {**plain, "Mountpoint": "/elsewhere/vv/_data"}, folder) is None
    assert objects.movable_data_path("vv", {**plain, "Name": "w"}, folder) is None
    assert objects.movable_data_path("vv", plain, None) is None
    for name in ("..", "a/b", "a;b", "../v", "-v"):
        assert objects.movable_data_path(name, {**plain, "Name": name, "Mountpoint": f"{folder}/{name}/_data"}, folder) is None
