"""One server's maintenance operation: the lock, the record in the hub's database, its state.

A restart, reset or restore holds the server's lock for its whole run, so two of them
never overlap and a start waits its turn. At each step a hub crash must not leave
half-done, the step is written into the spawner's state in the hub's database
(``record``); a hub that starts again finds it there as ``interrupted`` and finishes
or refuses what was left.
"""

from contextlib import contextmanager

from .errors import OperationInProgress
from .objects import server_state

STATE_KEY = "resettable_operation"


class Operation:
    def __init__(self, save):
        self._save = save  # writes the spawner's state into the hub's database
        self.action = None  # the action that holds the lock, or None
        self.queued = False  # a restart waiting for a start slot
        self.record = None  # the step in progress, as persisted
        self.interrupted = None  # the record a previous hub process left

    @contextmanager
    def exclusive(self, action):
        # Taken before the first await, so two requests in one event loop cannot both pass.
        if self.action:
            raise OperationInProgress(
                f"A {self.action} of this server is already in progress; try again when it has finished."
            )
        self.action = action
        try:
            yield
        except BaseException:
            # A step that a failure left recorded is interrupted, as if the hub had stopped
            # there: a restore that failed part-way keeps the server from starting, and
            # its retry knows which backup holds the replaced content.
            if self.record:
                self.interrupted = self.record
            raise
        finally:
            self.action = None
            self.queued = False

    def step(self, action, **details):
        """Persist the step in progress, where it outlives the hub."""
        self.record = {"action": action, **details}
        self._save()

    def clear(self):
        self.record = None
        self.interrupted = None
        self._save()

    def save_into(self, state):
        if self.record:
            state[STATE_KEY] = self.record
        return state

    def load_from(self, state):
        """Take a record a previous hub left; return it (or None)."""
        record = state.get(STATE_KEY)
        if record:
            self.record = self.interrupted = record
        return record

    def interrupted_action(self, action):
        """The interrupted record, if it was of this action."""
        record = self.interrupted or {}
        return record if record.get("action") == action else None

    def state(self, pending, ready):
        return server_state(self.action, self.queued, pending, ready)
