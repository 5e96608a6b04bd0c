"""Bulk restarts: many servers restarted by one request, in the hub, after an optional notice.

``POST /hub/api/bulk-restart`` answers 202 at once; the restarts run in the hub process,
in a task of their own, so the admin may close the tab. Each server goes through the
very ``native_restart()`` a single restart calls: its lock, its stop outside the start
slot, the hub-wide ``max_concurrent_restarts`` slots. There is no queue here: when the
notice has run out, all the restarts begin together, and the slots order their starts
exactly as they order single restarts that arrive together.

Each server is authorized on its own by the handler, with the rule of a single restart
(``handlers.may_restart``); one the caller may not restart is ``forbidden``, never
dropped. One that is stopped, pending or already in an operation is ``skipped``. Every
server gets one audit event carrying the bulk's id, whatever its end.

With ``notice_seconds``, every lab of a server to be restarted can read the notice
(``GET .../restart-notice``, the ``NoticeBoard``), and shows a countdown. The restart
starts when the notice runs out, whether or not a lab was open.

Where it lives: the record of a bulk restart and the notices are in the hub process
only (``BulkRestarts``, kept in the Tornado application's settings). A hub restart
loses them (GET then answers 404, and no lab shows the notice any more); each server
stays safe all the same: its restart's steps are in the hub database (operation.py),
and the next hub finishes or refuses each one as after any crash.

The request parsing and the state and count models are pure functions (unit-tested in
tests/unit/test_bulk.py); ``run`` is the only part that awaits anything.
"""

from __future__ import annotations

import asyncio
import datetime
import re
import secrets
import time
from dataclasses import dataclass, field

from tornado import web

from . import audit
from .errors import BadRequest, OperationFailed
from .objects import iso, utcnow

MAX_SERVERS = 1000
MAX_NOTICE_SECONDS = 3600
# How often a lab asks for its server's notice; GET .../restart-notice says so (poll_seconds).
NOTICE_POLL_SECONDS = 10
# A server's notice stays readable this long after its restart ended, so that a lab
# polling after it learns how it ended.
NOTICE_KEEP_SECONDS = 120
# Bulk records kept in the hub process; beyond this the oldest finished ones go.
KEEP_BULKS = 100

# waiting: accepted, not begun; noticed: its notice runs; queued: stopped, waiting for a
# start slot; restarting: in native_restart(); then one of the four ends.
STATES = ("waiting", "noticed", "queued", "restarting", "done", "failed", "forbidden", "skipped")
FINAL = frozenset({"done", "failed", "forbidden", "skipped"})

USAGE = (
    'The request body must be {"servers": ["<user>" or "<user>/<server>", ...]} or'
    ' {"all_running": true}, with an optional "notice_seconds": <0 to 3600>.'
)
_FIELDS = {"servers", "all_running", "notice_seconds"}
_REF = re.compile(r"[^/]+(/[^/]+)?")


# --- the request ---------------------------------------------------------------------


@dataclass(frozen=True)
class BulkRequest:
    servers: tuple  # ((user, server), ...) in the order given; () with all_running
    all_running: bool
    notice_seconds: int


def parse_ref(text):
    """``"alice"`` -> ``("alice", "")``; ``"bob/nb"`` -> ``("bob", "nb")``."""
    user, _, server = text.partition("/")
    return user, server


def server_ref(user, server):
    """The inverse of ``parse_ref``."""
    return f"{user}/{server}" if server else user


def parse_request(body):
    """The body of POST /hub/api/bulk-restart as a ``BulkRequest``; ``BadRequest`` (400) otherwise."""
    if not isinstance(body, dict):
        raise BadRequest(USAGE)
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        raise BadRequest(f"Unknown field {_shown(unknown[0])}. " + USAGE)
    if ("servers" in body) == ("all_running" in body):
        raise BadRequest('Give either "servers" or "all_running". ' + USAGE)
    notice = body.get("notice_seconds", 0)
    if type(notice) is not int or not 0 <= notice <= MAX_NOTICE_SECONDS:
        raise BadRequest(f'"notice_seconds" must be a whole number from 0 to {MAX_NOTICE_SECONDS}.')
    if "all_running" in body:
        if body["all_running"] is not True:
            raise BadRequest('"all_running" must be true.')
        return BulkRequest((), True, notice)
    servers = body["servers"]
    if not isinstance(servers, list) or not 1 <= len(servers) <= MAX_SERVERS:
        raise BadRequest(f'"servers" must be a list of 1 to {MAX_SERVERS} servers. ' + USAGE)
    seen = set()
    refs = []
    for item in servers:
        if not isinstance(item, str) or not _REF.fullmatch(item):
            raise BadRequest(f'{_shown(item)} is not "<user>" or "<user>/<server>".')
        if item in seen:
            raise BadRequest(f"{_shown(item)} is listed twice.")
        seen.add(item)
        refs.append(parse_ref(item))
    return BulkRequest(tuple(refs), False, notice)


def _shown(value):
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --- one server of a bulk restart ----------------------------------------------------------


@dataclass
class Target:
    user: str
    server: str
    state: str = "waiting"
    reason: str = ""  # the audit reason of a server that was not done
    message: str | None = None  # what the caller is told about it
    duration_seconds: float | None = None  # of its restart, without the notice

    @property
    def key(self):
        return self.user, self.server

    def end(self, state, reason="", message=None):
        self.state, self.reason, self.message = state, reason, message


# The server's state (objects.server_state) -> why it is skipped (audit reason, message).
_NOT_RESTARTABLE = {
    "stopped": ("wrong-state", "The server is not running."),
    "pending": ("wrong-state", "The server is starting or stopping."),
    "restarting": ("in-progress", "A restart of this server is already in progress."),
    "queued": ("in-progress", "A restart of this server is already in progress."),
    "resetting": ("in-progress", "A reset of this server is in progress."),
    "restoring": ("in-progress", "A restore of this server is in progress."),
}


def skip_reason(state):
    """``(audit reason, message)`` if a server in this state is skipped, None if it may restart."""
    return _NOT_RESTARTABLE.get(state) if state != "running" else None


def state_after(status):
    """A server's final state from the HTTP status its restart would have answered."""
    if status == 200:
        return "done"
    if status == 403:
        return "forbidden"
    if status < 500:
        return "skipped"  # 400 (no restart here), 404, 409 (wrong state, busy), 429
    return "failed"


def live_state(state, queued):
    """What GET shows: a restarting server waiting for a start slot is ``queued``."""
    return "queued" if state == "restarting" and queued else state


def counts(states):
    """How many servers are in each state (every state, zeros included)."""
    out = dict.fromkeys(STATES, 0)
    for state in states:
        out[state] += 1
    return out


def target_model(target, queued=False):
    return {
        "user": target.user,
        "server": target.server,
        "name": server_ref(target.user, target.server),
        "state": live_state(target.state, queued),
        "reason": target.reason,
        "message": target.message,
        "duration_seconds": target.duration_seconds,
    }


def bulk_model(bulk, queued=frozenset()):
    """The body of POST (202) and GET /hub/api/bulk-restart; ``queued``: keys of servers waiting for a slot."""
    servers = [target_model(t, t.key in queued) for t in bulk.targets]
    return {
        "id": bulk.id,
        "requested_by": bulk.requested_by,
        "created": iso(bulk.created),
        "notice_seconds": bulk.notice_seconds,
        "restart_at": iso(bulk.restart_at),
        "finished": all(t.state in FINAL for t in bulk.targets),
        "duration_seconds": bulk.duration_seconds,
        "servers": servers,
        "counts": counts(s["state"] for s in servers),
    }


def notice_model(bulk, target, queued, now):
    """What a lab reads about its server's bulk restart (``now``: time.monotonic())."""
    return {
        "bulk": bulk.id,
        "requested_by": bulk.requested_by,
        "notice_seconds": bulk.notice_seconds,
        "restart_at": iso(bulk.restart_at),
        "seconds_left": round(max(0.0, bulk.restart_at_monotonic - now), 1),
        "state": live_state(target.state, queued),
    }


# --- the records in the hub process ----------------------------------------------------------


@dataclass
class BulkRestart:
    id: str
    requested_by: str
    targets: list
    notice_seconds: int
    created: datetime.datetime
    restart_at_monotonic: float
    spawners: dict = field(default_factory=dict)  # key -> spawner, of the waiting targets
    task: asyncio.Task | None = None
    ended_monotonic: float | None = None  # when its last server ended

    @property
    def duration_seconds(self):
        """From the request to the end of its last server, as the hub measured it; None until then."""
        if self.ended_monotonic is None:
            return None
        return round(self.ended_monotonic - (self.restart_at_monotonic - self.notice_seconds), 3)

    def mark_ended(self):
        self.ended_monotonic = time.monotonic()

    @property
    def restart_at(self):
        return self.created + datetime.timedelta(seconds=self.notice_seconds)

    @property
    def finished(self):
        return all(t.state in FINAL for t in self.targets)

    def is_queued(self, key):
        """Whether this server's restart waits for a start slot now."""
        spawner = self.spawners.get(key)
        return bool(spawner is not None and spawner.operation.queued)

    def queued(self):
        """Keys of the servers whose restart waits for a start slot now."""
        return {key for key in self.spawners if self.is_queued(key)}


class NoticeBoard:
    """Per server, the bulk restart a lab should hear of: its notice, then how it went."""

    def __init__(self, keep_seconds=NOTICE_KEEP_SECONDS):
        self.keep_seconds = keep_seconds
        self._posted = {}  # key -> [bulk, target, expiry (monotonic) once it ended]

    def post(self, bulk, target, now=None):
        now = time.monotonic() if now is None else now
        # Ends no lab came to read go here, so that the board never outgrows the servers.
        for key in [k for k, (_, _, expiry) in self._posted.items() if expiry is not None and now >= expiry]:
            del self._posted[key]
        self._posted[target.key] = [bulk, target, None]

    def ended(self, bulk, target, now=None):
        posted = self._posted.get(target.key)
        if posted and posted[0] is bulk:
            posted[2] = (time.monotonic() if now is None else now) + self.keep_seconds

    def read(self, key, now=None):
        """The notice model for this server, or None."""
        now = time.monotonic() if now is None else now
        posted = self._posted.get(key)
        if posted is None:
            return None
        bulk, target, expiry = posted
        if expiry is not None and now >= expiry:
            del self._posted[key]
            return None
        return notice_model(bulk, target, bulk.is_queued(key), now)


class BulkRestarts:
    """The bulk restarts of this hub process, and the notices the labs read."""

    def __init__(self, keep=KEEP_BULKS):
        self.keep = keep
        self._bulks = {}  # id -> BulkRestart, oldest first
        self.notices = NoticeBoard()

    def new(self, requested_by, targets, notice_seconds):
        bulk = BulkRestart(
            id=secrets.token_hex(8),
            requested_by=requested_by,
            targets=list(targets),
            notice_seconds=notice_seconds,
            created=utcnow(),
            restart_at_monotonic=time.monotonic() + notice_seconds,
        )
        self._bulks[bulk.id] = bulk
        for old in [b for b in self._bulks.values() if b.finished][: max(0, len(self._bulks) - self.keep)]:
            del self._bulks[old.id]
        return bulk

    def get(self, bulk_id):
        return self._bulks.get(bulk_id)


# --- running one ----------------------------------------------------------------------------


async def run(bulk, notices, eventlog, log):
    """Restart every waiting server of ``bulk``, each after the notice; one audit event each."""
    waiting = [t for t in bulk.targets if t.state == "waiting"]
    log.info(
        "Bulk restart %s by %s: %d of %d servers, notice %ss",
        bulk.id, bulk.requested_by, len(waiting), len(bulk.targets), bulk.notice_seconds,
    )
    results = await asyncio.gather(
        *(_restart_one(bulk, t, bulk.spawners[t.key], notices, eventlog, log) for t in waiting),
        return_exceptions=True,
    )
    for target, result in zip(waiting, results):
        if isinstance(result, Exception):
            log.error("Bulk restart %s: %s failed: %r", bulk.id, server_ref(*target.key), result)
            if target.state not in FINAL:
                target.end("failed", "failed", "The restart failed; see the hub log.")
    bulk.mark_ended()
    log.info("Bulk restart %s finished: %s", bulk.id, counts(t.state for t in bulk.targets))


async def _restart_one(bulk, target, spawner, notices, eventlog, log):
    notices.post(bulk, target)
    if bulk.notice_seconds:
        target.state = "noticed"
        await asyncio.sleep(max(0.0, bulk.restart_at_monotonic - time.monotonic()))
    target.state = "restarting"
    tic = time.perf_counter()
    status, outcome, reason, message = 200, "done", "", None
    try:
        await spawner.native_restart(requested_by=f"{bulk.requested_by} (bulk restart {bulk.id})")
    except web.HTTPError as e:
        status, outcome, reason, message = audit.outcome_of(e)
    except Exception as e:  # not one of ours: the log has it, the caller a plain message
        log.error("Bulk restart %s: the restart of %s failed: %r", bulk.id, spawner._log_name, e)
        status, outcome, reason, message = audit.outcome_of(OperationFailed("The restart failed; see the hub log."))
    duration = time.perf_counter() - tic
    target.duration_seconds = round(duration, 3)
    target.end(state_after(status), reason, message)
    notices.ended(bulk, target)
    record(eventlog, log, bulk, target, spawner, outcome, status, duration)


def record(eventlog, log, bulk, target, spawner, outcome, status, duration=0.0):
    """The server's one audit event (and history entry), with the bulk's id."""
    audit.record_with_history(
        eventlog,
        log,
        spawner,
        action="restart",
        actor=bulk.requested_by,
        username=target.user,
        servername=target.server,
        outcome=outcome,
        reason=target.reason,
        status=status,
        duration=duration,
        message=target.message,
        bulk=bulk.id,
    )
