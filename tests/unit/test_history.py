"""The maintenance history: entries, its bound, and its place in the spawner's persisted state."""

import datetime
from types import SimpleNamespace

from resettable_spawner import ResettableDockerSpawner
from resettable_spawner.history import HISTORY_KEY, KEEP, MaintenanceHistory, history_entry

NOW = datetime.datetime(2025, 3, 15, 12, 0, tzinfo=datetime.timezone.utc)


def entry(i=0, action="reset"):
    return history_entry(
        action, "alice", "done", "", 200, 1.23456,
        {"volumes": [f"v{i}"], "backups": [f"v{i}.backup-1"]}, now=NOW,
    )


def test_entry_has_time_actor_outcome_volumes_and_backups():
    assert entry() == {
        "time": "2025-03-15T12:00:00Z",
        "action": "reset",
        "actor": "alice",
        "outcome": "done",
        "reason": "",
        "status": 200,
        "duration_seconds": 1.235,
        "volumes": ["v0"],
        "backups": ["v0.backup-1"],
        "backup": None,
        "message": None,
    }
    failed = history_entry("restore", "service:ops", "refused", "wrong-state", 409, 0.01,
                           {"backup": "b1"}, message="x" * 1000, now=NOW)
    assert failed["backup"] == "b1" and failed["volumes"] == [] and len(failed["message"]) == 300


def test_bounded_newest_first_and_saved_on_each_add():
    saves = []
    history = MaintenanceHistory(lambda: saves.append(1))
    for i in range(KEEP + 7):
        history.add(entry(i))
    assert len(history.entries) == KEEP and len(saves) == KEEP + 7
    newest = history.newest_first()
    assert newest[0]["volumes"] == [f"v{KEEP + 6}"] and newest[-1]["volumes"] == ["v7"]


def test_round_trip_through_state_and_bad_state_ignored():
    history = MaintenanceHistory(lambda: None)
    assert history.save_into({}) == {}  # nothing written while empty
    history.add(entry(1))
    state = history.save_into({"object_id": "abc"})
    assert state["object_id"] == "abc" and state[HISTORY_KEY] == [entry(1)]
    again = MaintenanceHistory(lambda: None)
    again.load_from(state)
    assert again.entries == [entry(1)]
    again.load_from({HISTORY_KEY: "garbage"})
    assert again.entries == [entry(1)]
    again.load_from({HISTORY_KEY: [entry(2), "junk", 3] + [entry(3)] * (KEEP + 5)})
    assert len(again.entries) == KEEP and "junk" not in again.entries


def spawner():
    orm_spawner = SimpleNamespace(name="", display_name="", server=None, state=None)
    return ResettableDockerSpawner(user=SimpleNamespace(name="alice"), orm_spawner=orm_spawner)


def test_the_spawner_keeps_it_through_a_stop_and_a_new_hub():
    s = spawner()
    s.history.entries.append(entry(1))
    # JupyterHub's stop: clear_state(), then orm_spawner.state = get_state().
    s.clear_state()
    state = s.get_state()
    assert state[HISTORY_KEY] == [entry(1)]
    # A new hub process makes a new spawner and loads the row's state into it.
    fresh = spawner()
    fresh.load_state(state)
    assert fresh.history.newest_first() == [entry(1)]
