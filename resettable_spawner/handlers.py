"""REST API: restart a server in place, reset its volumes, restore and delete backups, describe them.

The handlers parse, authorize with JupyterHub's scopes, delegate to the spawner and
map its errors to HTTP. They build no names and make no Docker calls.
"""

import json
import math
import time

from jupyterhub.apihandlers.base import APIHandler
from jupyterhub.scopes import needs_scope, scope_definitions
from tornado import web

from . import audit
from .errors import ResettableSpawnerError
from .ratelimit import SlidingWindowLimiter

# JupyterHub 6 split starting a server out of `servers` into `start:servers`;
# on 5.x the parent scope `servers` is what starting needs.
START_SCOPE = "start:servers" if "start:servers" in scope_definitions else "servers"
STOP_SCOPE = "delete:servers"
RESET_SCOPE = "delete:servers"
# A custom scope that allows a restart in place and nothing else: what a JupyterLab
# session's token may hold (`c.Spawner.oauth_client_allowed_scopes = [RESTART_SCOPE +
# "!server"]`), so the lab can restart its own server but never stop it for good,
# start it, or reset a volume.
RESTART_SCOPE = "custom:resettable-spawner:restart"

_LIMITER_KEY = "resettable_spawner_rate_limiter"


class _ServerMaintenanceHandler(APIHandler):
    """Shared lookup, rate limit, audit and error mapping for one user's server."""

    action = None

    def _spawner(self, user_name, server_name):
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
        return user, spawner

    def _actor(self):
        who = self.current_user
        if who is None:
            return "anonymous"
        kind = getattr(who, "kind", "user")
        return who.name if kind == "user" else f"{kind}:{who.name}"

    def _check_rate(self, user, spawner):
        limiter = self.settings.setdefault(_LIMITER_KEY, SlidingWindowLimiter())
        wait = limiter.hit(user.name, spawner.action_rate_limit, spawner.action_rate_window)
        if wait:
            seconds = math.ceil(wait)
            error = web.HTTPError(
                429, "%s", f"Too many restart and reset requests; try again in {seconds} seconds."
            )
            # APIHandler.write_error copies these onto the error response.
            error.headers = {"Retry-After": str(seconds)}
            error.audit_reason = "rate-limited"
            raise error

    async def _audited(self, user_name, server_name, operation):
        """Run ``operation`` (authorization included), write its result, audit every outcome."""
        tic = time.perf_counter()
        outcome, reason, status = "failed", "failed", 500
        self._audit_details = {}
        try:
            result = await operation(user_name, server_name)
        except ResettableSpawnerError as e:
            status, reason = e.status_code, e.reason
            outcome = "failed" if status >= 500 else "refused"
            raise web.HTTPError(status, "%s", e.message) from None
        except web.HTTPError as e:
            status, outcome = e.status_code, "refused"
            reason = getattr(e, "audit_reason", None) or _REASONS.get(status, "bad-request")
            raise
        except Exception:
            self.log.exception("Unexpected error in %s of %s/%s", self.action, user_name, server_name)
            raise web.HTTPError(500, "Unexpected error; see the hub log.") from None
        else:
            outcome, reason, status = "done", "", 200
            result.update(action=self.action, user=user_name, server=server_name)
            self.write(json.dumps(result))
        finally:
            audit.record(
                self.settings.get("eventlog"),
                self.log,
                action=self.action,
                actor=self._actor(),
                username=user_name,
                servername=server_name,
                outcome=outcome,
                reason=reason,
                status=status,
                duration=time.perf_counter() - tic,
                **self._audit_details,
            )

    def _require_reset_scopes(self, user, spawner, server_name, what="reset this home volume"):
        missing = missing_reset_scopes(self, user, spawner, server_name)
        if missing:
            self.log.warning(
                "Not authorizing %s of %s/%s for %s: missing %s",
                self.action,
                user.name,
                server_name,
                self._actor(),
                ", ".join(missing),
            )
            error = web.HTTPError(403, "%s", f"You are not allowed to {what}.")
            error.audit_reason = "forbidden"
            raise error


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


_REASONS = {403: "forbidden", 404: "not-found"}


class RestartServerAPIHandler(_ServerMaintenanceHandler):
    """POST: restart the running server in place; answers once it is up again."""

    action = "restart"

    async def post(self, user_name, server_name=""):
        await self._audited(user_name, server_name, self._restart)

    async def _restart(self, user_name, server_name):
        if self.current_user and self.has_scope(f"{RESTART_SCOPE}!server={user_name}/{server_name}"):
            return await self._do_restart(user_name, server_name)
        return await self._restart_as_stop_and_start(user_name, server_name)

    # Without the restart-only scope, a restart stops and starts the server, so it
    # needs both rights on that server.
    @needs_scope(STOP_SCOPE)
    @needs_scope(START_SCOPE)
    async def _restart_as_stop_and_start(self, user_name, server_name):
        return await self._do_restart(user_name, server_name)

    async def _do_restart(self, user_name, server_name):
        user, spawner = self._spawner(user_name, server_name)
        self._check_rate(user, spawner)
        return await spawner.native_restart(requested_by=self._actor())


class ResetHomeVolumeAPIHandler(_ServerMaintenanceHandler):
    """DELETE: delete the stopped server's home volume, or the volumes named by ?volume=.

    Each is backed up first unless ``?backup=0`` (or ``backup_before_reset`` is off).
    """

    action = "reset"

    async def delete(self, user_name, server_name=""):
        await self._audited(user_name, server_name, self._reset)

    @needs_scope(RESET_SCOPE)
    async def _reset(self, user_name, server_name):
        user, spawner = self._spawner(user_name, server_name)
        self._require_reset_scopes(user, spawner, server_name)
        volumes = self.get_arguments("volume") if "volume" in self.request.query_arguments else None
        backup = _flag(self, "backup", None)
        self._check_rate(user, spawner)
        result = await spawner.reset_home_volume(
            requested_by=self._actor(), volumes=volumes, backup=backup
        )
        self._audit_details = {
            "volumes": result["volumes"],
            "backups": [b["id"] for b in result["backups"]],
        }
        return result


class RestoreHomeVolumeAPIHandler(_ServerMaintenanceHandler):
    """POST {"backup": id}: replace a volume's content with that backup's, while stopped."""

    action = "restore"

    async def post(self, user_name, server_name=""):
        await self._audited(user_name, server_name, self._restore)

    @needs_scope(RESET_SCOPE)
    async def _restore(self, user_name, server_name):
        user, spawner = self._spawner(user_name, server_name)
        self._require_reset_scopes(user, spawner, server_name, "restore backups of this server")
        body = self.get_json_body()
        backup_id = body.get("backup") if isinstance(body, dict) else None
        if not isinstance(backup_id, str) or not backup_id:
            raise web.HTTPError(400, 'The request body must be {"backup": "<backup id>"}.')
        self._audit_details = {"backup": backup_id[:255]}
        self._check_rate(user, spawner)
        result = await spawner.restore_backup(backup_id, requested_by=self._actor())
        self._audit_details = {
            "backup": backup_id,
            "volumes": [result["volume"]],
            "backups": [result["replaced_backup"]["id"]] if result["replaced_backup"] else [],
        }
        return result


class HomeVolumeBackupAPIHandler(_ServerMaintenanceHandler):
    """DELETE: delete one backup of this server now."""

    action = "delete-backup"

    async def delete(self, user_name, *path):
        server_name, backup_id = path if len(path) == 2 else ("", path[0])
        self._backup_id = backup_id
        await self._audited(user_name, server_name, self._delete_backup)

    @needs_scope(RESET_SCOPE)
    async def _delete_backup(self, user_name, server_name):
        user, spawner = self._spawner(user_name, server_name)
        self._audit_details = {"backup": self._backup_id[:255]}
        return await spawner.delete_backup(self._backup_id, requested_by=self._actor())


def missing_reset_scopes(handler, user, spawner, server_name):
    """The configured extra reset scopes that the caller lacks on this server."""
    target = f"{user.name}/{server_name}"
    return [
        scope
        for scope in spawner.reset_required_scopes
        if not handler.has_scope(f"{scope}!server={target}")
    ]


class HomeVolumeAPIHandler(_ServerMaintenanceHandler):
    """GET: the home volume's name, whether it exists, and what may be done now."""

    @needs_scope("read:servers")
    async def get(self, user_name, server_name=""):
        user, spawner = self._spawner(user_name, server_name)
        sizes = _flag(self, "sizes", False)
        try:
            status = await spawner.home_volume_status(sizes=sizes)
        except ResettableSpawnerError as e:
            raise web.HTTPError(e.status_code, "%s", e.message) from None
        target = f"{user.name}/{server_name}"
        may_restart = self.has_scope(f"{RESTART_SCOPE}!server={target}") or all(
            self.has_scope(f"{s}!server={target}") for s in (STOP_SCOPE, START_SCOPE)
        )
        may_reset = self.has_scope(f"{RESET_SCOPE}!server={target}") and not missing_reset_scopes(
            self, user, spawner, server_name
        )
        status["user"] = user.name
        status["server"] = server_name
        stopped = may_reset and status["state"] == "stopped"
        status["actions"] = {
            "restart": may_restart and status["state"] == "running",
            "reset": stopped and status["volume"]["exists"],
            # Any resettable volume can be reset (the dialog lets the user choose).
            "reset_volumes": stopped and any(v["resettable"] and v["exists"] for v in status["volumes"]),
            "restore": stopped and bool(status["backups"]),
            "delete_backup": self.has_scope(f"{RESET_SCOPE}!server={target}"),
        }
        self.write(json.dumps(status))


_USER = r"/api/users/([^/]+)"
_SERVER = _USER + r"/servers/([^/]+)"

extra_handlers = [
    (_USER + r"/restart-server", RestartServerAPIHandler),
    (_SERVER + r"/restart-server", RestartServerAPIHandler),
    (_USER + r"/reset-home-volume", ResetHomeVolumeAPIHandler),
    (_SERVER + r"/reset-home-volume", ResetHomeVolumeAPIHandler),
    (_USER + r"/home-volume", HomeVolumeAPIHandler),
    (_SERVER + r"/home-volume", HomeVolumeAPIHandler),
    (_USER + r"/restore-home-volume", RestoreHomeVolumeAPIHandler),
    (_SERVER + r"/restore-home-volume", RestoreHomeVolumeAPIHandler),
    (_USER + r"/home-volume-backups/([^/]+)", HomeVolumeBackupAPIHandler),
    (_SERVER + r"/home-volume-backups/([^/]+)", HomeVolumeBackupAPIHandler),
]
