"""The maintenance page's row model (resettable_spawner/maintenance.py)."""

from resettable_spawner.maintenance import (
    backup_summary,
    container_summary,
    overview_model,
    row_actions,
    started_at,
)

CONTAINER = {
    "Id": "abc",
    "State": {"Status": "running", "Running": True, "StartedAt": "2026-11-26T10:15:01.734562312Z"},
    "Config": {"Image": "resettable-spawner/singleuser:81feaffc53c9"},
}
HISTORY = [  # newest first, as MaintenanceHistory.newest_first()
    {"time": "2026-11-26T10:20:00Z", "action": "restart", "actor": "admin", "outcome": "done",
     "reason": "", "message": None, "status": 200},
    {"time": "2026-11-26T10:10:00Z", "action": "reset", "actor": "alice", "outcome": "refused",
     "reason": "wrong-state", "message": "The server is running.", "status": 409},
    {"time": "2026-11-26T10:00:00Z", "action": "restart", "actor": "alice", "outcome": "failed",
     "reason": "failed", "message": "x", "status": 502},
]


def test_started_at_in_whole_seconds_and_never_is_none():
    assert started_at(CONTAINER) == "2026-11-26T10:15:01Z"
    assert started_at({"State": {"StartedAt": "0001-01-01T00:00:00Z"}}) is None
    assert started_at(None) is None
    assert started_at({"State": {}}) is None


def test_container_summary():
    assert container_summary(CONTAINER) == {
        "status": "running",
        "started_at": "2026-11-26T10:15:01Z",
        "image": "resettable-spawner/singleuser:81feaffc53c9",
    }
    assert container_summary(None) is None
    assert container_summary({"State": {"Status": "exited"}})["image"] is None


def test_overview_takes_the_newest_restart_and_reset():
    model = overview_model("running", None, CONTAINER, HISTORY)
    assert model["state"] == "running" and model["pending"] is None
    assert model["last_restart"] == {"time": "2026-11-26T10:20:00Z", "actor": "admin", "outcome": "done",
                                     "reason": "", "message": None}
    assert model["last_reset"]["outcome"] == "refused" and model["last_reset"]["actor"] == "alice"
    empty = overview_model("stopped", None, None, [])
    assert empty["container"] is None and empty["last_restart"] is None and empty["last_reset"] is None


def test_backup_summary_per_server():
    backups = [
        {"_user": "alice", "_server": "", "size_bytes": 100},
        {"_user": "alice", "_server": "", "size_bytes": None},
        {"_user": "alice", "_server": "lab", "size_bytes": 5},
        {"_user": "bob", "_server": "", "size_bytes": 7},
    ]
    s = backup_summary(backups)
    assert s[("alice", "")] == {"count": 2, "size_bytes": 100, "unmeasured": 1}
    assert s[("alice", "lab")] == {"count": 1, "size_bytes": 5, "unmeasured": 0}
    assert ("carol", "") not in s


def test_row_actions_by_state_and_permission():
    assert row_actions("running", True, True) == {"restart": True, "reset": False, "backups": False, "logs": True}
    assert row_actions("running", False, True)["restart"] is False
    assert row_actions("stopped", True, True) == {"restart": False, "reset": True, "backups": True, "logs": True}
    assert row_actions("stopped", True, False)["reset"] is False
    busy = row_actions("restarting", True, True)
    assert not busy["restart"] and not busy["reset"] and not busy["backups"]
