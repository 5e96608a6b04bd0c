"""REST API: restart a server in place, reset its volumes, restore and delete backups, describe them.

In the shape of JupyterHub's ``apihandlers/users.py``: small verbs under
``@needs_scope``, errors that are ``HTTPError``s (the spawner's errors are too, with
a message for users), and the hub's own machinery (``find_user``, ``user.spawners``).
The handlers parse, authorize, delegate to the spawner and write its answer; they
build no names and make no Docker calls. Each request writes one audit event,
whatever its outcome (``@audited``); a bulk restart writes one per server (bulk.py).
Also here: the maintenance page (``/hub/maintenance``) and its list, and the notice
a lab reads before a bulk restart.
"""

import asyncio
import functools
import json
import math
import time

from jupyterhub import orm
from jupyterhub.apihandlers.base import APIHandler
from jupyterhub.handlers.base import BaseHandler
from jupyterhub.scopes import needs_scope, scope_definitions
from tornado import web

from . import audit
from .bulk import (
    NOTICE_POLL_SECONDS,
    BulkRestarts,
    Target,
    bulk_model,
    parse_request,
    run,
    skip_reason,
    state_after,
)
from .bulk import record as record_bulk
from .history import KEEP as HISTORY_KEEP
from .maintenance import backup_summary, empty_backup_summary, row_actions
from .objects import actions_model
from .ratelimit import SlidingWindowLimiter
from .static_handler import STATIC_ROUTE

# JupyterHub 6 split starting a server out of `servers` into `start:servers`;
# on 5.x the parent scope `servers` is what starting needs.
START_SCOPE = "start:servers" if "start:servers" in scope_definitions else "servers"
STOP_SCOPE = "delete:servers"
RESET_SCOPE = "delete:servers"
# A custom scope that allows a restart in place and nothing else: what a JupyterLab
# session's token may hold (`c.Spawner.oauth_client_allowed_scopes = [RESTART_SCOPE +
# "!server"]`), so the lab can restart its own server but never stop it for good,
# start it, or reset a volume. Custom scopes are registered after this module is
# imported, so it cannot go into @needs_scope.
RESTART_SCOPE = "custom:resettable-spawner:restart"

_LIMITER_KEY = "resettable_spawner_rate_limiter"


# --- the two permission rules, for the verbs and for GET's "actions" ---------------


def _has_on_server(handler, scope, user_name, server_name):
    return handler.has_scope(f"{scope}!server={user_name}/{server_name}")


def may_restart(handler, user_name, server_name):
    """The restart-only scope, or both halves of a stop-and-start, on that server."""
    return _has_on_server(handler, RESTART_SCOPE, user_name, server_name) or all(
        _has_on_server(handler, s, user_name, server_name) for s in (STOP_SCOPE, START_SCOPE)
    )


def may_reset(handler, spawner, user_name, server_name):
    """``delete:servers`` and every scope of ``reset_required_scopes``, on that server."""
    return all(
        _has_on_server(handler, s, user_name, server_name)
        for s in [RESET_SCOPE, *spawner.reset_required_scopes]
    )


def _forbidden(handler, scopes, what):
    """As ``@needs_scope`` refuses: 404 if the caller holds the scopes elsewhere, else 403."""
    if any(scope in getattr(handler, "parsed_scopes", {}) for scope in scopes):
        raise web.HTTPError(404, "No access to resources or resources not found")
    raise web.HTTPError(403, "%s", f"You are not allowed to {what}.")


# --- one audit event per request ---------------------------------------------------


def audited(action, details=None):
    """Run the verb, write its result as JSON, and record one audit event whatever happens.

    ``details(handler, kwargs, result)`` adds fields to the event (``result`` is None
    when the verb did not finish).
    """

    def decorator(verb):
        @functools.wraps(verb)
        async def wrapper(self, user_name, server_name="", **kwargs):
            tic = time.perf_counter()
            status, outcome, reason, result, message = 500, "failed", "failed", None, None
            try:
                result = await verb(self, user_name, server_name, **kwargs)
                status, outcome, reason = 200, "done", ""
                result.update(action=action, user=user_name, server=server_name)
                self.write(json.dumps(result))
            except web.HTTPError as e:
                status, outcome, reason, message = audit.outcome_of(e)
                raise
            finally:
                audit.record_with_history(
                    self.settings.get("eventlog"),
                    self.log,
                    getattr(self, "maintained_spawner", None),
                    action=action,
                    actor=self.actor(),
                    username=user_name,
                    servername=server_name,
                    outcome=outcome,
                    reason=reason,
                    status=status,
                    duration=time.perf_counter() - tic,
                    message=message,
                    **(details(self, kwargs, result) if details else {}),
                )

        return wrapper

    return decorator


class ServerMaintenanceHandler(APIHandler):
    """What every verb shares: the server's spawner, the caller's name, the rate limit."""

    def resettable_spawner(self, user_name, server_name):
        spawner = self.find_spawner(user_name, server_name)
        # The server this request acts on, for its history (@audited).
        self.maintained_spawner = spawner
        return spawner

    def find_spawner(self, user_name, server_name):
        """The server's ResettableDockerSpawner; a 404 or 400 HTTPError if there is none."""
        user = self.find_user(user_name)
        if user is None:
            raise web.HTTPError(404, "No such user")
        if server_name:
            if not self.allow_named_servers:
                raise web.HTTPError(400, "Named servers are not enabled.")
            if server_name not in user.orm_spawners:
                raise web.HTTPError(404, "%s", f"{user.name} has no server named {server_name!r}")
        spawner = user.spawners[server_name]
        if not callable(getattr(spawner, "native_restart", None)):
            raise web.HTTPError(400, "This hub's spawner does not support restart and reset.")
        return spawner

    def actor(self):
        who = self.current_user
        if who is None:
            return "anonymous"
        kind = getattr(who, "kind", "user")
        return who.name if kind == "user" else f"{kind}:{who.name}"

    def check_rate(self, spawner):
        limiter = self.settings.setdefault(_LIMITER_KEY, SlidingWindowLimiter())
        wait = limiter.hit(spawner.user.name, spawner.action_rate_limit, spawner.action_rate_window)
        if wait:
            seconds = math.ceil(wait)
            error = web.HTTPError(429, "%s", f"Too many restart and reset requests; try again in {seconds} seconds.")
            # APIHandler.write_error copies these onto the error response.
            error.headers = {"Retry-After": str(seconds)}
            raise error

    def require_reset(self, spawner, user_name, server_name, what):
        """``@needs_scope(RESET_SCOPE)`` has passed; the rest of the rule is a 403."""
        if not may_reset(self, spawner, user_name, server_name):
            self.log.warning(
                "Not authorizing %s of %s/%s for %s: it needs %s",
                what, user_name, server_name, self.actor(),
                ", ".join([RESET_SCOPE, *spawner.reset_required_scopes]),
            )
            raise web.HTTPError(403, "%s", f"You are not allowed to {what}.")


def _flag(handler, name, default):
    """A yes/no query parameter: 1/0, true/false, yes/no; anything else is a 400."""
    value = handler.get_argument(name, None)
    if value is None:
        return default
    value = value.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise web.HTTPError(400, "%s", f"?{name}= must be 1 or 0.")


def _reset_details(handler, kwargs, result):
    if result is None:
        return {}
    return {"volumes": result["volumes"], "backups": [b["id"] for b in result["backups"]]}


def _restore_details(handler, kwargs, result):
    try:
        body = json.loads(handler.request.body or b"null")
    except ValueError:
        body = None
    backup_id = body.get("backup") if isinstance(body, dict) else None
    details = {"backup": backup_id[:255]} if isinstance(backup_id, str) and backup_id else {}
    if result is not None:
        details["volumes"] = [result["volume"]]
        details["backups"] = [result["replaced_backup"]["id"]] if result["replaced_backup"] else []
    return details


def _backup_details(handler, kwargs, result):
    return {"backup": kwargs["backup_id"][:255]}


class RestartServerAPIHandler(ServerMaintenanceHandler):
    """POST: restart the running server in place; answers once it is up again."""

    @audited("restart")
    async def post(self, user_name, server_name=""):
        if self.current_user is None:
            raise web.HTTPError(403, "Missing or invalid credentials.")
        if not may_restart(self, user_name, server_name):
            _forbidden(self, [STOP_SCOPE, START_SCOPE], "restart this server")
        spawner = self.resettable_spawner(user_name, server_name)
        self.check_rate(spawner)
        return await spawner.native_restart(requested_by=self.actor())


class ResetHomeVolumeAPIHandler(ServerMaintenanceHandler):
    """DELETE: delete the stopped server's home volume, or the volumes named by ?volume=.

    Each is backed up first unless ``?backup=0`` (or ``backup_before_reset`` is off).
    """

    @audited("reset", _reset_details)
    @needs_scope(RESET_SCOPE)
    async def delete(self, user_name, server_name=""):
        spawner = self.resettable_spawner(user_name, server_name)
        self.require_reset(spawner, user_name, server_name, "reset this home volume")
        volumes = self.get_arguments("volume") if "volume" in self.request.query_arguments else None
        backup = _flag(self, "backup", None)
        self.check_rate(spawner)
        return await spawner.reset_home_volume(requested_by=self.actor(), volumes=volumes, backup=backup)


class RestoreHomeVolumeAPIHandler(ServerMaintenanceHandler):
    """POST {"backup": id}: replace a volume's content with that backup's, while stopped."""

    @audited("restore", _restore_details)
    @needs_scope(RESET_SCOPE)
    async def post(self, user_name, server_name=""):
        spawner = self.resettable_spawner(user_name, server_name)
        self.require_reset(spawner, user_name, server_name, "restore backups of this server")
        body = self.get_json_body()
        backup_id = body.get("backup") if isinstance(body, dict) else None
        if not isinstance(backup_id, str) or not backup_id:
            raise web.HTTPError(400, 'The request body must be {"backup": "<backup id>"}.')
        self.check_rate(spawner)
        return await spawner.restore_backup(backup_id, requested_by=self.actor())


class HomeVolumeBackupAPIHandler(ServerMaintenanceHandler):
    """DELETE: delete one backup of this server now."""

    @audited("delete-backup", _backup_details)
    @needs_scope(RESET_SCOPE)
    async def delete(self, user_name, server_name="", backup_id=None):
        spawner = self.resettable_spawner(user_name, server_name)
        return await spawner.delete_backup(backup_id, requested_by=self.actor())


class HomeVolumeAPIHandler(ServerMaintenanceHandler):
    """GET: the home volume's name, whether it exists, and what may be done now."""

    @needs_scope("read:servers")
    async def get(self, user_name, server_name=""):
        spawner = self.resettable_spawner(user_name, server_name)
        status = await spawner.home_volume_status(sizes=_flag(self, "sizes", False))
        status["user"] = spawner.user.name
        status["server"] = server_name
        status["actions"] = actions_model(
            status,
            may_restart(self, user_name, server_name),
            may_reset(self, spawner, user_name, server_name),
            _has_on_server(self, RESET_SCOPE, user_name, server_name),
        )
        self.write(json.dumps(status))


LOGS_TAIL_DEFAULT = 100
LOGS_TAIL_MAX = 1000


def _tail(handler):
    """?tail=N: a whole number from 1 to LOGS_TAIL_MAX (default LOGS_TAIL_DEFAULT); else a 400."""
    value = handler.get_argument("tail", None)
    if value is None:
        return LOGS_TAIL_DEFAULT
    value = value.strip()
    if value.isascii() and value.isdigit() and 1 <= int(value) <= LOGS_TAIL_MAX:
        return int(value)
    raise web.HTTPError(400, "%s", f"?tail= must be a whole number from 1 to {LOGS_TAIL_MAX}.")


class ServerLogsAPIHandler(ServerMaintenanceHandler):
    """GET ?tail=N: the last N lines of the server's container log, secrets redacted."""

    @needs_scope("read:servers")
    async def get(self, user_name, server_name=""):
        tail = _tail(self)
        spawner = self.resettable_spawner(user_name, server_name)
        logs = await spawner.server_logs(tail)
        logs.update(user=spawner.user.name, server=server_name)
        self.write(json.dumps(logs))


class MaintenanceHistoryAPIHandler(ServerMaintenanceHandler):
    """GET: the server's last restarts, resets, restores and backup deletions, newest first."""

    @needs_scope("read:servers")
    async def get(self, user_name, server_name=""):
        spawner = self.resettable_spawner(user_name, server_name)
        self.write(
            json.dumps(
                {
                    "user": spawner.user.name,
                    "server": server_name,
                    "keep": HISTORY_KEEP,
                    "entries": spawner.history.newest_first(),
                }
            )
        )


# --- the maintenance page, bulk restarts and the lab's notice ------------------------

_BULK_KEY = "resettable_spawner_bulk_restarts"
# Inspects at once while the maintenance page's list loads: DockerSpawner's one shared
# thread serves them in turn, so other users' calls wait behind a few at most.
OVERVIEW_CONCURRENCY = 8


def _bulk_restarts(handler):
    """This hub process's bulk restarts and notices (bulk.py), in the application's settings."""
    return handler.settings.setdefault(_BULK_KEY, BulkRestarts())


def _servers(handler, active_only=False):
    """``(user name, server name, orm spawner)`` of every server the hub knows, sorted by names."""
    query = handler.db.query(orm.Spawner)
    if active_only:
        query = query.filter(orm.Spawner.server_id.isnot(None))
    return sorted(((s.user.name, s.name or "", s) for s in query), key=lambda row: row[:2])


class MaintenancePageHandler(BaseHandler):
    """GET /hub/maintenance: every server the caller may read, with restarts, resets, logs, backups."""

    @web.authenticated
    # As JupyterHub's admin page (AdminHandler), and the nav link in templates/page.html.
    @needs_scope("admin-ui")
    async def get(self):
        self.finish(await self.render_template("maintenance.html"))


class MaintenanceServersAPIHandler(ServerMaintenanceHandler):
    """GET: one row per server the caller may read, for the maintenance page, in one answer."""

    @needs_scope("read:servers", post_filter=True)
    async def get(self):
        spawners = []
        for user_name, server_name, orm_spawner in _servers(self):
            if _has_on_server(self, "read:servers", user_name, server_name):
                spawner = self.users[orm_spawner.user].spawners[server_name]
                if callable(getattr(spawner, "maintenance_overview", None)):
                    spawners.append(spawner)
        # One listing of the hub's backups for every row.
        backups = backup_summary(await spawners[0].hub_backups()) if spawners else {}
        limit = asyncio.Semaphore(OVERVIEW_CONCURRENCY)

        async def overview(spawner):
            async with limit:
                return await spawner.maintenance_overview()

        rows = []
        for spawner, model in zip(spawners, await asyncio.gather(*map(overview, spawners))):
            user_name, server_name = spawner.user.name, spawner.name or ""
            rows.append(
                {
                    "user": user_name,
                    "server": server_name,
                    **model,
                    "backups": backups.get((user_name, server_name), empty_backup_summary()),
                    "actions": row_actions(
                        model["state"],
                        may_restart(self, user_name, server_name),
                        may_reset(self, spawner, user_name, server_name),
                    ),
                }
            )
        self.write(json.dumps({"servers": rows}))


class BulkRestartAPIHandler(ServerMaintenanceHandler):
    """POST {"servers": [...]} or {"all_running": true}: restart them in the hub; 202 at once."""

    async def post(self):
        if self.current_user is None:
            raise web.HTTPError(403, "Missing or invalid credentials.")
        request = parse_request(self.get_json_body())
        if request.all_running:
            # The running servers the caller may see; those it may not restart are forbidden.
            names = [
                (u, s)
                for u, s, _ in _servers(self, active_only=True)
                if _has_on_server(self, "read:servers", u, s) or may_restart(self, u, s)
            ]
        else:
            names = request.servers
        bulks = _bulk_restarts(self)
        bulk = bulks.new(self.actor(), [Target(u, s) for u, s in names], request.notice_seconds)
        for target in bulk.targets:
            self._admit(bulk, target)
        if bulk.spawners:
            bulk.task = asyncio.ensure_future(run(bulk, bulks.notices, self.settings.get("eventlog"), self.log))
        else:
            bulk.mark_ended()  # nothing to restart: every server ended here
        self.set_status(202)
        self.write(json.dumps(bulk_model(bulk)))

    def _admit(self, bulk, target):
        """Authorize one server and check its state: it waits for its restart, or ends here (one audit event)."""
        eventlog = self.settings.get("eventlog")
        if not may_restart(self, target.user, target.server):
            target.end("forbidden", "forbidden", "You are not allowed to restart this server.")
            record_bulk(eventlog, self.log, bulk, target, None, "refused", 403)
            return
        spawner = None
        try:
            spawner = self.find_spawner(target.user, target.server)
            skip = skip_reason(spawner.operation.state(spawner.pending, spawner.ready))
            if skip:
                target.end("skipped", *skip)
                record_bulk(eventlog, self.log, bulk, target, spawner, "refused", 409)
                return
            self.check_rate(spawner)
        except web.HTTPError as e:
            status, outcome, reason, message = audit.outcome_of(e)
            target.end(state_after(status), reason, message)
            record_bulk(eventlog, self.log, bulk, target, spawner, outcome, status)
            return
        bulk.spawners[target.key] = spawner


class BulkRestartStatusAPIHandler(ServerMaintenanceHandler):
    """GET: each server's state in a bulk restart, and the counts; for the caller that started it."""

    async def get(self, bulk_id):
        if self.current_user is None:
            raise web.HTTPError(403, "Missing or invalid credentials.")
        bulk = _bulk_restarts(self).get(bulk_id)
        if bulk is None or bulk.requested_by != self.actor():
            raise web.HTTPError(404, "No such bulk restart (the hub forgets them when it restarts).")
        self.write(json.dumps(bulk_model(bulk, bulk.queued())))


class RestartNoticeAPIHandler(ServerMaintenanceHandler):
    """GET: the bulk restart this server's lab should warn of (or null); what every lab's token may read."""

    # Every lab's token holds access:servers on its own server (JupyterHub gives it).
    @needs_scope("access:servers", "read:servers")
    async def get(self, user_name, server_name=""):
        spawner = self.find_spawner(user_name, server_name)
        notice = _bulk_restarts(self).notices.read((spawner.user.name, server_name))
        self.write(
            json.dumps(
                {
                    "user": spawner.user.name,
                    "server": server_name,
                    "notice": notice,
                    "poll_seconds": NOTICE_POLL_SECONDS,
                }
            )
        )


_USER = r"/api/users/(?P<user_name>[^/]+)"
_SERVER = _USER + r"/servers/(?P<server_name>[^/]+)"

extra_handlers = [
    (_USER + r"/restart-server", RestartServerAPIHandler),
    (_SERVER + r"/restart-server", RestartServerAPIHandler),
    (_USER + r"/reset-home-volume", ResetHomeVolumeAPIHandler),
    (_SERVER + r"/reset-home-volume", ResetHomeVolumeAPIHandler),
    (_USER + r"/home-volume", HomeVolumeAPIHandler),
    (_SERVER + r"/home-volume", HomeVolumeAPIHandler),
    (_USER + r"/restore-home-volume", RestoreHomeVolumeAPIHandler),
    (_SERVER + r"/restore-home-volume", RestoreHomeVolumeAPIHandler),
    (_USER + r"/home-volume-backups/(?P<backup_id>[^/]+)", HomeVolumeBackupAPIHandler),
    (_SERVER + r"/home-volume-backups/(?P<backup_id>[^/]+)", HomeVolumeBackupAPIHandler),
    (_USER + r"/server-logs", ServerLogsAPIHandler),
    (_SERVER + r"/server-logs", ServerLogsAPIHandler),
    (_USER + r"/maintenance-history", MaintenanceHistoryAPIHandler),
    (_SERVER + r"/maintenance-history", MaintenanceHistoryAPIHandler),
    (_USER + r"/restart-notice", RestartNoticeAPIHandler),
    (_SERVER + r"/restart-notice", RestartNoticeAPIHandler),
    (r"/api/bulk-restart", BulkRestartAPIHandler),
    (r"/api/bulk-restart/(?P<bulk_id>[^/]+)", BulkRestartStatusAPIHandler),
    (r"/api/maintenance/servers", MaintenanceServersAPIHandler),
    (r"/maintenance", MaintenancePageHandler),
    STATIC_ROUTE,
]
