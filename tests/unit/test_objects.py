"""The pure builders of resettable_spawner/objects.py: names, labels, helper specs,
``du`` parsing, volume descriptions, retention, and the status and backup JSON models.
No Docker, no hub."""

import datetime
import logging

from resettable_spawner import objects


def test_which_templates_are_per_server():
    assert objects.is_per_server_template("{prefix}-{username}_home")
    assert objects.is_per_server_template("lab-{servername}")
    assert objects.is_per_server_template("x-{raw_username}")
    assert not objects.is_per_server_template("shared-data")
    assert not objects.is_per_server_template("{prefix}-shared")
    assert not objects.is_per_server_template("{imagename}-cache")
    assert not objects.is_per_server_template("broken-{")


def test_describe_volumes_marks_home_shared_and_read_only():
    entries = [
        ("{prefix}-{username}_work", "jl-a_work", "/home/jovyan/work", False),
        ("shared-data", "shared-data", "/home/jovyan/shared", False),
        ("{prefix}-{username}_home", "jl-a_home", "/home/jovyan/", False),
        ("{prefix}-{username}_ref", "jl-a_ref", "/ref", True),
        ("/srv/data", "/srv/data", "/data", False),
        ("/srv/homes/{username}", "/srv/homes/a", "/scratch", False),
    ]
    out = objects.describe_volumes(entries, "/home/jovyan", host_roots=["/srv/homes"])
    assert [v["name"] for v in out] == ["jl-a_home", "/srv/data", "shared-data", "jl-a_work", "jl-a_ref", "/srv/homes/a"]
    by = {v["name"]: v for v in out}
    assert by["jl-a_home"] == {
        "name": "jl-a_home", "kind": "volume", "mount_path": "/home/jovyan", "home": True, "resettable": True,
    }
    assert by["shared-data"]["resettable"] is False
    assert by["jl-a_ref"]["resettable"] is False  # read-only
    assert by["jl-a_work"]["resettable"] is True
    # Host paths: a shared one never; a per-user one inside a root only.
    assert (by["/srv/data"]["kind"], by["/srv/data"]["resettable"]) == ("host-path", False)
    assert by["/srv/homes/a"]["resettable"] is True
    outside = objects.describe_volumes(entries, "/home/jovyan", host_roots=["/srv/other"])
    assert not next(v for v in outside if v["name"] == "/srv/homes/a")["resettable"]


def test_host_root_of_is_strictly_inside_after_resolving_dots():
    roots = ["/srv/homes", "/data/users/"]
    assert objects.host_root_of("/srv/homes/alice", roots) == "/srv/homes"
    assert objects.host_root_of("/data/users/bob/x", roots) == "/data/users"
    assert objects.host_root_of("/srv/homes", roots) is None  # the root itself
    assert objects.host_root_of("/srv/homes/../etc", roots) is None
    assert objects.host_root_of("/srv/homes/a/../../etc", roots) is None
    assert objects.host_root_of("/srv/homesick/a", roots) is None  # a sibling with the same prefix
    assert objects.host_root_of("srv/homes/a", roots) is None  # not absolute
    assert objects.host_root_of("/srv/homes/a", []) is None


def test_is_driver_backed():
    assert not objects.is_driver_backed({"Driver": "local", "Options": None})
    assert not objects.is_driver_backed({"Driver": "local", "Options": {}})
    assert objects.is_driver_backed({"Driver": "local", "Options": {"type": "none", "o": "bind", "device": "/x"}})
    assert objects.is_driver_backed({"Driver": "local", "Options": {"type": "nfs", "o": "addr=h", "device": ":/e"}})
    assert objects.is_driver_backed({"Driver": "someplugin", "Options": {}})


def test_name_stem_keeps_volume_names_and_makes_host_paths_safe():
    assert objects.name_stem("jl-a_home", "jl") == "jl-a_home"
    stem = objects.name_stem("/srv/homes/a b/../x", "jl")
    assert stem.startswith("jl-host_")
    assert objects.valid_backup_id(objects.derived_name(stem, "backup", objects.utcnow(), "abcd"))
    assert stem != objects.name_stem("/srv/homes/a_b/x", "jl")  # the hash tells similar paths apart


def test_helper_scripts_take_the_path_as_an_argument_and_stay_inside_the_root():
    volume, host = objects.Storage("jl-a_home"), objects.Storage("/srv/homes/a;rm -rf x", "/srv/homes")
    assert objects.script_argv(objects.EMPTY_SCRIPT, volume) == ["/bin/sh", "-c", objects.EMPTY_SCRIPT, "sh", "volume"]
    argv = objects.script_argv(objects.BACKUP_SCRIPT, host)
    assert argv[:3] == ["/bin/sh", "-c", objects.BACKUP_SCRIPT] and argv[4] == "a;rm -rf x"
    for script in (objects.BACKUP_SCRIPT, objects.RESTORE_SCRIPT, objects.EMPTY_SCRIPT):
        assert "realpath -m" in script and "exit 4" in script and "a;rm" not in script
    m = host.mount("/host", read_only=True)
    assert (m["Type"], m["Source"], m["Target"], m["ReadOnly"]) == ("bind", "/srv/homes", "/host", True)
    m = volume.mount("/host", read_only=False)
    assert (m["Type"], m["Source"], m["Target"], m["ReadOnly"]) == ("volume", "jl-a_home", "/host/volume", False)


def _b(i, volume="v", created="2026-01-0{}T00:00:00Z", expires="2026-02-01T00:00:00Z"):
    return {"id": f"{volume}.{i}", "volume": volume, "created": created.format(i), "expires": expires}


def test_backups_over_keep_drop_the_oldest_per_volume_but_never_protected():
    backups = [_b(i) for i in range(1, 6)] + [_b(i, "w") for i in range(1, 3)]
    assert [b["id"] for b in objects.backups_over_keep(backups, 3)] == ["v.2", "v.1"]
    assert [b["id"] for b in objects.backups_over_keep(backups, 3, protect={"v.1"})] == ["v.2"]
    assert objects.backups_over_keep(backups, 5) == []


def test_expired_backups():
    now = datetime.datetime(2026, 2, 1, tzinfo=datetime.timezone.utc)
    backups = [
        _b(1, expires="2026-01-31T23:59:59Z"),
        _b(2, expires="2026-02-01T00:00:00Z"),
        _b(3, expires="2026-02-01T00:00:01Z"),
        _b(4, expires="garbage"),
    ]
    assert [b["id"] for b in objects.expired_backups(backups, now)] == ["v.1", "v.2", "v.4"]


def test_backup_labels_round_trip_and_names():
    now = datetime.datetime(2026, 11, 26, 10, 15, 0, tzinfo=datetime.timezone.utc)
    labels = objects.backup_labels("jl-a_home", "a@b", "", now, now + datetime.timedelta(days=7), "jl", "reset")
    assert labels["resettable-spawner.backup-of"] == "jl-a_home"
    assert labels["resettable-spawner.created"] == "2026-11-26T10:15:00Z"
    assert labels["resettable-spawner.expires"] == "2026-12-03T10:15:00Z"
    entry = objects.backup_from_volume({"Name": "x", "Labels": labels})
    assert objects.public(entry) == {
        "id": "x", "volume": "jl-a_home", "created": "2026-11-26T10:15:00Z",
        "expires": "2026-12-03T10:15:00Z", "reason": "reset", "size_bytes": None,
    }
    assert objects.backup_from_volume({"Name": "y", "Labels": {"other": "1"}}) is None
    assert objects.derived_name("jl-a_home", "backup", now, "abcd") == "jl-a_home.backup-20261126T101500Z-abcd"
    assert objects.valid_backup_id("jl-a_home.backup-20261126T101500Z-abcd")
    assert not objects.valid_backup_id("../etc") and not objects.valid_backup_id("") and not objects.valid_backup_id("a/b")


def test_helper_spec_runs_as_root_without_network_and_entrypoint_overridden():
    spec = objects.helper_spec("img", "n", ["/bin/sh", "-c", "echo"], {"l": "1"})
    assert spec["user"] == "0:0" and spec["network_disabled"] is True
    # What Docker runs is entrypoint + command; a non-empty entrypoint overrides the image's.
    assert spec["entrypoint"] and spec["entrypoint"] + spec["command"] == ["/bin/sh", "-c", "echo"]
    mounts = objects.backup_mounts(objects.Storage("vol"), "vol.backup-x", {"resettable-spawner.backup-of": "vol"})
    assert mounts[0]["ReadOnly"] is True and mounts[0]["Source"] == "vol"
    assert mounts[1]["Source"] == "vol.backup-x"
    assert mounts[1]["VolumeOptions"]["Labels"] == {"resettable-spawner.backup-of": "vol"}
    storages = [objects.Storage("a"), objects.Storage("/srv/h/b", "/srv/h")]
    ms, paths = objects.size_mounts_and_paths(storages, ["c"])
    assert paths == {"/v/0/volume": "a", "/v/1/b": "/srv/h/b", "/v/2/data": "c"}
    assert all(m["ReadOnly"] for m in ms)
    assert objects.parse_du("123\t/v/0/volume\nxx\n7\t/v/2/data\n", paths) == {"a": 123, "c": 7}


# --- times and templates --------------------------------------------------------------


def test_parse_iso_reads_utc_z_offsets_and_naive_times_and_refuses_garbage():
    utc = datetime.timezone.utc
    assert objects.parse_iso("2026-11-26T10:15:00Z") == datetime.datetime(2026, 11, 26, 10, 15, tzinfo=utc)
    # An offset is kept as an instant: 12:15+02:00 is 10:15 UTC.
    assert objects.parse_iso("2026-11-26T12:15:00+02:00") == datetime.datetime(2026, 11, 26, 10, 15, tzinfo=utc)
    # No zone: taken as UTC, never as the hub's local time.
    naive = objects.parse_iso("2026-11-26T10:15:00")
    assert naive == datetime.datetime(2026, 11, 26, 10, 15, tzinfo=utc) and naive.tzinfo is utc
    assert objects.parse_iso("garbage") is None
    assert objects.parse_iso("") is None
    assert objects.parse_iso(None) is None


def test_iso_writes_utc_with_z_and_round_trips_through_parse_iso():
    plus_two = datetime.timezone(datetime.timedelta(hours=2))
    assert objects.iso(datetime.datetime(2026, 11, 26, 12, 15, 30, tzinfo=plus_two)) == "2026-11-26T10:15:30Z"
    assert objects.iso(objects.parse_iso("2026-01-02T03:04:05Z")) == "2026-01-02T03:04:05Z"
    now = objects.utcnow()
    assert now.tzinfo is not None and now.utcoffset() == datetime.timedelta(0) and now.microsecond == 0


def test_template_fields_are_the_top_level_replacement_fields():
    assert objects.template_fields("{prefix}-{username}_home") == {"prefix", "username"}
    # Attribute and index access name the field they start from.
    assert objects.template_fields("{user.name}-{servers[0]}") == {"user", "servers"}
    assert objects.template_fields("{username!r:>10}") == {"username"}
    assert objects.template_fields("shared-data") == set()
    assert objects.template_fields("{{username}}") == set()  # escaped braces are text
    assert objects.template_fields("broken-{") == set()
    assert objects.template_fields("") == set()


def test_per_server_templates_by_every_per_server_field():
    for field in ("username", "safe_username", "raw_username", "servername", "raw_servername"):
        assert objects.is_per_server_template(f"vol-{{{field}}}"), field
    assert not objects.is_per_server_template("{{username}}-literal")
    assert not objects.is_per_server_template("{prefix}-{imagename}")


def test_host_paths_are_not_named_volumes():
    assert objects.is_host_path("/srv/data")
    assert objects.is_host_path("./data") and objects.is_host_path("~/data")
    assert not objects.is_host_path("jl-a_home")


def test_describe_volumes_lists_each_name_once_and_normalises_mount_paths():
    entries = [
        ("{prefix}-{username}_home", "jl-a_home", "/home/jovyan/./", False),
        ("{prefix}-{username}_home", "jl-a_home", "/elsewhere", False),
    ]
    assert objects.describe_volumes(entries, "/home/jovyan") == [
        {"name": "jl-a_home", "kind": "volume", "mount_path": "/home/jovyan", "home": True, "resettable": True}
    ]
    assert objects.describe_volumes([], "/home/jovyan") == []


def test_restore_mounts_read_the_backup_and_write_the_target():
    backup, target = objects.restore_mounts(objects.Storage("vol"), "vol.backup-x")
    assert (backup["Target"], backup["Source"], backup["ReadOnly"]) == ("/backup", "vol.backup-x", True)
    assert (target["Target"], target["Source"], target["ReadOnly"]) == ("/host/volume", "vol", False)


def test_helper_spec_takes_the_argv_as_a_list_never_a_shell_string():
    spec = objects.helper_spec("img", "n", ["du", "-sb", "/v/0"], {})
    assert spec["entrypoint"] == ["du"] and spec["command"] == ["-sb", "/v/0"]


# --- the status and backups JSON models -----------------------------------------------


def test_server_state_queued_then_operation_then_pending_then_ready():
    assert objects.server_state(None, False, None, True) == "running"
    assert objects.server_state(None, False, None, False) == "stopped"
    assert objects.server_state(None, False, "spawn", False) == "pending"
    assert objects.server_state(None, False, "stop", True) == "pending"
    assert objects.server_state("restart", False, None, True) == "restarting"
    assert objects.server_state("reset", False, None, False) == "resetting"
    assert objects.server_state("restore", False, None, False) == "restoring"
    assert objects.server_state("other", False, None, False) == "other"  # named as it is
    # An operation wins over a pending spawn or stop; a queued restart wins over both.
    assert objects.server_state("restart", False, "spawn", False) == "restarting"
    assert objects.server_state("restart", True, "spawn", True) == "queued"
    assert objects.server_state(None, True, None, False) == "queued"


def _volumes():
    return [
        {"name": "jl-a_work", "mount_path": "/home/jovyan/work", "home": False, "resettable": True, "exists": True},
        {"name": "jl-a_home", "mount_path": "/home/jovyan", "home": True, "resettable": True, "exists": False},
        {"name": "jl-a_cache", "mount_path": "/home/jovyan/.cache", "home": False, "resettable": True, "exists": False},
        {"name": "shared", "mount_path": "/home/jovyan/shared", "home": False, "resettable": False, "exists": True},
    ]


def test_status_model_reports_home_kept_volumes_policy_and_public_backups():
    backup = {**_b(1, "jl-a_home"), "reason": "reset", "size_bytes": 5, "_user": "a", "_server": "", "_prefix": "jl"}
    status = objects.status_model(
        "jl-a_home", "/home/jovyan", _volumes(), [backup], "stopped", "", (True, 604800, 3), None
    )
    assert status["volume"] == {"name": "jl-a_home", "exists": False, "mount_path": "/home/jovyan", "resettable": True}
    # Every volume but home, by mount path.
    assert status["kept_volumes"] == [
        {"name": "jl-a_cache", "mount_path": "/home/jovyan/.cache"},
        {"name": "shared", "mount_path": "/home/jovyan/shared"},
        {"name": "jl-a_work", "mount_path": "/home/jovyan/work"},
    ]
    assert status["state"] == "stopped"
    assert status["pending"] is None  # "" is no pending action
    assert status["volumes"] == _volumes()
    assert status["backups"] == [
        {"id": "jl-a_home.1", "volume": "jl-a_home", "created": "2026-01-01T00:00:00Z",
         "expires": "2026-02-01T00:00:00Z", "reason": "reset", "size_bytes": 5}
    ]
    assert status["backup_policy"] == {"enabled": True, "retention_seconds": 604800, "keep": 3}
    assert status["interrupted_restore"] is None


def test_status_model_existing_home_pending_and_interrupted_restore():
    volumes = _volumes()
    volumes[1]["exists"] = True
    interrupted = {"volume": "jl-a_home", "backup": "b1", "replaced_backup": "b2", "helper": "h", "other": 1}
    status = objects.status_model(
        "jl-a_home", "/home/jovyan", volumes, [], "pending", "spawn", (False, 60, 1), interrupted
    )
    assert status["volume"]["exists"] is True
    assert status["pending"] == "spawn"
    assert status["backups"] == []
    assert status["backup_policy"] == {"enabled": False, "retention_seconds": 60, "keep": 1}
    # Only the three keys the API documents, not the rest of the record.
    assert status["interrupted_restore"] == {"volume": "jl-a_home", "backup": "b1", "replaced_backup": "b2"}


def test_status_model_without_a_home_volume():
    status = objects.status_model(None, "/home/jovyan", _volumes()[:1], [], "running", None, (True, 1, 1), None)
    assert status["volume"] == {"name": None, "exists": False, "mount_path": "/home/jovyan", "resettable": False}
    assert status["kept_volumes"] == [{"name": "jl-a_work", "mount_path": "/home/jovyan/work"}]


def _status(state, home_exists=True, volumes=None, backups=()):
    return {
        "state": state,
        "volume": {"name": "jl-a_home", "exists": home_exists, "mount_path": "/home/jovyan", "resettable": True},
        "volumes": volumes if volumes is not None else _volumes(),
        "backups": list(backups),
    }


def test_actions_restart_only_while_running_reset_and_restore_only_while_stopped():
    running = objects.actions_model(_status("running", backups=[{"id": "x"}]), True, True, True)
    assert running == {
        "restart": True, "reset": False, "reset_volumes": False, "restore": False, "delete_backup": True,
    }
    stopped = objects.actions_model(_status("stopped", backups=[{"id": "x"}]), True, True, False)
    assert stopped == {
        "restart": False, "reset": True, "reset_volumes": True, "restore": True, "delete_backup": False,
    }
    for state in ("pending", "queued", "restarting", "resetting", "restoring"):
        busy = objects.actions_model(_status(state, backups=[{"id": "x"}]), True, True, True)
        assert busy == {
            "restart": False, "reset": False, "reset_volumes": False, "restore": False, "delete_backup": True,
        }, state


def test_actions_follow_permissions():
    assert objects.actions_model(_status("running"), False, True, False)["restart"] is False
    denied = objects.actions_model(_status("stopped", backups=[{"id": "x"}]), True, False, False)
    assert (denied["reset"], denied["reset_volumes"], denied["restore"]) == (False, False, False)


def test_actions_reset_needs_something_that_exists_and_restore_a_backup():
    gone = objects.actions_model(_status("stopped", home_exists=False), True, True, True)
    # The home volume is gone, but jl-a_work exists and is resettable.
    assert (gone["reset"], gone["reset_volumes"], gone["restore"]) == (False, True, False)
    only_shared = [v for v in _volumes() if not v["resettable"]]
    nothing = objects.actions_model(_status("stopped", home_exists=False, volumes=only_shared), True, True, True)
    assert (nothing["reset"], nothing["reset_volumes"]) == (False, False)


# --- container settings ---------------------------------------------------------------


def test_no_auto_remove_turns_it_off_in_a_copy():
    operator = {"auto_remove": True, "mem_limit": "1g"}
    assert objects.no_auto_remove(operator) == {"auto_remove": False, "mem_limit": "1g"}
    assert operator == {"auto_remove": True, "mem_limit": "1g"}  # the operator's dict is untouched
    assert objects.no_auto_remove(None) == {"auto_remove": False}
    assert objects.no_auto_remove({}) == {"auto_remove": False}


def test_no_auto_remove_warns_only_when_it_was_asked_for(caplog):
    log = logging.getLogger("test-no-auto-remove")
    with caplog.at_level(logging.WARNING, logger=log.name):
        objects.no_auto_remove({"auto_remove": False}, log)
        objects.no_auto_remove({}, log)
        assert caplog.records == []
        objects.no_auto_remove({"auto_remove": True}, log)
    assert len(caplog.records) == 1
    assert "auto_remove" in caplog.records[0].getMessage()
    assert caplog.records[0].levelno == logging.WARNING
