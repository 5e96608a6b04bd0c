"""One server's maintenance history: its last restarts, resets, restores and backup deletions.

Where it lives, and why: in the spawner's persisted state (``orm_spawner.state``, the
JSON column of JupyterHub's own row for this server), beside the operation record
(operation.py), under ``HISTORY_KEY``.

- It is in the hub's database, so it survives a hub restart, and it does not depend on
  the audit log (the event log rotates or goes elsewhere; this does not).
- JupyterHub writes that column only through ``get_state()``, which puts the history
  back every time (also after ``clear_state()`` on a stop), and reads it into
  ``load_state()`` when it makes the spawner: no table of our own, no migration, no
  second copy to keep in step.
- It goes with the server: deleting the user, or the named server, deletes the row.
- It stays small: at most ``KEEP`` entries of a few hundred bytes per server (the
  oldest go first), so the state JupyterHub loads for each server at start-up grows
  by some kilobytes at most.

Entries are written by the API handlers' ``@audited`` (handlers.py), from the same
facts as the audit event, for requests that reached the server (not those refused
for lack of permission or by the rate limit, so that no one else can push a server's
real history out).
"""

from .objects import iso, utcnow

HISTORY_KEY = "resettable_history"
KEEP = 50
# Error messages are the user-safe ones of HTTPErrors; still bounded.
MAX_MESSAGE = 300


def history_entry(action, actor, outcome, reason, status, duration, details, message=None, now=None):
    """One entry: when, what, who, how it ended, and the volumes and backups involved.

    ``details`` are the audit event's extra fields: ``volumes`` (deleted by a reset,
    or restored), ``backups`` (made: by a reset before deleting, by a restore of the
    content it replaced) and ``backup`` (restored from, or deleted).
    """
    return {
        "time": iso(now or utcnow()),
        "action": action,
        "actor": actor,
        "outcome": outcome,
        "reason": reason,
        "status": status,
        "duration_seconds": round(duration, 3),
        "volumes": list(details.get("volumes") or []),
        "backups": list(details.get("backups") or []),
        "backup": details.get("backup"),
        "message": message[:MAX_MESSAGE] if message else None,
    }


class MaintenanceHistory:
    """The last ``KEEP`` entries of one server, oldest first; ``save`` persists the spawner's state."""

    def __init__(self, save, keep=KEEP):
        self._save = save
        self.keep = keep
        self.entries = []

    def add(self, entry):
        self.entries = (self.entries + [entry])[-self.keep:]
        self._save()

    def newest_first(self):
        return list(reversed(self.entries))

    def save_into(self, state):
        if self.entries:
            state[HISTORY_KEY] = list(self.entries)
        return state

    def load_from(self, state):
        entries = state.get(HISTORY_KEY)
        if isinstance(entries, list):
            self.entries = [e for e in entries if isinstance(e, dict)][-self.keep:]
