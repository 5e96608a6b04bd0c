"""The maintenance page's models (``/hub/maintenance``, ``GET /hub/api/maintenance/servers``): pure.

One row per server the caller may read: its state, its container (started at, image),
its last restart and last reset from its maintenance history (history.py), and the
count and size of its backups. Unit-tested in tests/unit/test_maintenance.py.
"""

from .objects import container_model

# History entries whose latest one the page shows, by column.
LAST_ACTIONS = ("restart", "reset")


def started_at(container):
    """When the container last started, ``YYYY-MM-DDTHH:MM:SSZ``; None if never (or no container)."""
    value = container_model(container)["started_at"] if container else None
    if not value or value.startswith("0001-"):
        return None
    # Docker gives nanoseconds; the API's other times are whole seconds.
    return value[:19] + "Z" if len(value) > 19 and value[10] == "T" else value


def container_summary(container):
    """The page's container column: status, start, image; None when there is no container."""
    if not container:
        return None
    return {
        "status": container_model(container)["status"],
        "started_at": started_at(container),
        "image": ((container.get("Config") or {}).get("Image")) or None,
    }


def last_entry(entries, action):
    """The newest history entry of ``action`` (entries newest first), as the page shows it; or None."""
    for entry in entries:
        if entry.get("action") == action:
            return {k: entry.get(k) for k in ("time", "actor", "outcome", "reason", "message")}
    return None


def overview_model(state, pending, container, history):
    """What the spawner knows of one server (``history`` newest first)."""
    model = {
        "state": state,
        "pending": pending,
        "container": container_summary(container),
    }
    for action in LAST_ACTIONS:
        model[f"last_{action}"] = last_entry(history, action)
    return model


def backup_summary(backups):
    """``{(user, server): {"count", "size_bytes", "unmeasured"}}`` from a hub's complete backups.

    ``size_bytes`` sums the measured sizes; ``unmeasured`` counts those not measured yet
    (made before the hub restarted: GET .../home-volume?sizes=1 measures them).
    """
    out = {}
    for b in backups:
        summary = out.setdefault((b["_user"], b["_server"]), empty_backup_summary())
        summary["count"] += 1
        if b.get("size_bytes") is None:
            summary["unmeasured"] += 1
        else:
            summary["size_bytes"] += b["size_bytes"]
    return out


def empty_backup_summary():
    return {"count": 0, "size_bytes": 0, "unmeasured": 0}


def row_actions(state, may_restart, may_reset):
    """The row's buttons: Restart while running; Reset and Backups while stopped; Logs always.

    The dialogs ask GET .../home-volume again, whose ``actions`` decide what they offer
    (which volumes, restore, delete), as on the home page.
    """
    stopped = state == "stopped"
    return {
        "restart": bool(may_restart and state == "running"),
        "reset": bool(may_reset and stopped),
        "backups": stopped,
        "logs": True,
    }
