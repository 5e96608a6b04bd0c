"""REST API: restart a server in place, reset its volumes, restore and delete backups, describe them.

In the shape of JupyterHub's ``apihandlers/users.py``: small verbs under
``@needs_scope``, errors that are ``HTTPError``s (the spawner's errors are too, with
a message for users), and the hub's own machinery (``find_user``, ``user.spawners``).
The handlers parse, authorize, delegate to the spawner and write its answer; they
build no names and make no Docker calls. Each request writes one audit event,
whatever its outcome (``@audited``).
"""

import functools
import json
import math
import time

from jupyterhub.apihandlers.base import APIHandler
from jupyterhub.scopes import needs_scope, scope_definitions
from tornado import web

from . import audit
from .history import KEEP as HISTORY_KEEP, history_entry
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
_REASONS = {403: "forbidden", 404: "not-found", 429: "rate-limited"}
# Refusals that stay out of the server's history: someone without the right to act, or
# over the rate limit, must not be able to push the server's real history out.
_NOT_IN_HISTORY = (403, 429)


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
                status = e.status_code
                outcome = "failed" if status >= 500 else "refused"
                reason = getattr(e, "audit_reason", None) or _REASONS.get(status, "bad-request")
                message = _safe_message(e)
                raise
            finally:
                extra = details(self, kwargs, result) if details else {}
                duration = time.perf_counter() - tic
                audit.record(
                    self.settings.get("eventlog"),
                    self.log,
                    action=action,
                    actor=self.actor(),
                    username=user_name,
                    servername=server_name,
                    outcome=outcome,
                    reason=reason,
                    status=status,
                    duration=duration,
                    **extra,
                )
                spawner = getattr(self, "maintained_spawner", None)
                if spawner is not None and status not in _NOT_IN_HISTORY:
                    entry = history_entry(action, self.actor(), outcome, reason, status, duration, extra, message)
                    try:
                        spawner.history.add(entry)
                    except Exception as e:  # the answer stands; the event above has it all
                        self.log.error("Cannot record %s of %s in its history: %s", action, spawner._log_name, e)

        return wrapper

    return decorator


class ServerMaintenanceHandler(APIHandler):
    """What every verb shares: the server's spawner, the caller's name, the rate limit."""

    def resettable_spawner(self, user_name, server_name):
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
        # The server this request acts on, for its history (@audited).
        self.maintained_spawner = spawner
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


def _safe_message(error):
    """The user-facing message of an HTTPError (the one the response carries)."""
    message = getattr(error, "message", None) or error.log_message or ""
    if error.args and "%" in message:
        try:
            message = message % error.args
        except (TypeError, ValueError):
            pass
    return message or None


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
    STATIC_ROUTE,
]
