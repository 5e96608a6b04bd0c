"""ResettableDockerSpawner: DockerSpawner plus in-place restart and home-volume reset."""

import asyncio
import inspect
import os
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import requests
from docker.errors import APIError, DockerException
from dockerspawner import DockerSpawner
from jupyterhub.utils import exponential_backoff, make_ssl_context, url_path_join
from tornado.httpclient import AsyncHTTPClient, HTTPClientError
from traitlets import Bool, Float, Integer, List, Unicode, default, validate

from . import audit
from .errors import (
    DockerUnreachable,
    NotFound,
    OperationFailed,
    OperationInProgress,
    WrongServerState,
)
from .restart_slots import RestartSlots
from .volumes import VolumeMixin

# States in which a container still holds its volumes and must not be removed.
_LIVE_CONTAINER_STATES = ("Running", "Restarting", "Paused")


class ResettableDockerSpawner(VolumeMixin, DockerSpawner):
    """DockerSpawner that can restart its container in place and reset the home volume.

    Every ``c.DockerSpawner.*`` setting applies unchanged.
    """

    home_mount_path = Unicode(
        "/home/jovyan",
        config=True,
        help="""Path inside the container where the home volume is mounted.

        The home volume is the entry of ``volumes`` whose mount point is this path.
        Its name is rendered with DockerSpawner's own templates and escaping, so it
        follows ``{username}``, ``{servername}`` and ``format_volume_name``.
        Volumes mounted below this path (for example ``/home/jovyan/work``) are
        separate volumes and are never touched by a reset.
        """,
    )

    @validate("home_mount_path")
    def _validate_home_mount_path(self, proposal):
        path = proposal.value
        if not path.startswith("/"):
            raise ValueError(f"home_mount_path must be an absolute path, got {path!r}")
        return os.path.normpath(path)

    restart_timeout = Integer(
        10,
        min=0,
        config=True,
        help="""Seconds Docker waits after SIGTERM before it kills the container on restart.

        The same grace period as ``docker restart --time``.
        """,
    )

    ready_check_interval = Float(
        0.1,
        min=0.01,
        config=True,
        help="""Seconds between checks whether a restarted server answers HTTP again.

        The wait as a whole is bounded by ``http_timeout``.
        """,
    )

    long_call_threads = Integer(
        4,
        min=1,
        config=True,
        help="""Threads for Docker calls that may block for long (restart, volume removal).

        DockerSpawner sends every Docker call of every user through one shared
        thread. A restart that waits out ``restart_timeout`` there would stall every
        other user's spawn, stop and poll, so those calls run on this separate pool
        instead. It bounds how many restarts and resets run at once across the hub;
        further ones wait for a free thread without blocking anything else.
        """,
    )

    reset_required_scopes = List(
        Unicode(),
        config=True,
        help="""Scopes a caller needs, on top of ``delete:servers``, to reset a home volume.

        Empty by default: whoever may delete a server may reset its home volume.
        Set ``["admin:servers"]`` to make reset admin-only, or name a custom scope
        (``c.JupyterHub.custom_scopes``) granted to the roles that may reset.
        """,
    )

    action_rate_limit = Integer(
        10,
        min=0,
        config=True,
        help="""How many restart and reset requests one user may make per ``action_rate_window``.

        Requests above the limit get HTTP 429 with ``Retry-After``. Counted per
        target user across all of their servers. 0 turns the limit off.
        """,
    )

    action_rate_window = Float(
        60.0,
        min=1.0,
        config=True,
        help="Length in seconds of the sliding window that ``action_rate_limit`` counts over.",
    )

    max_concurrent_restarts = Integer(
        1,
        min=0,
        config=True,
        help="""How many restarted servers may be starting up at once, hub-wide. 0: no bound.

        A restart stops the container, then waits for a slot, then starts it and holds
        the slot until the server answers. The stop (up to ``restart_timeout``) stays
        outside the slot, so one hung container does not hold up the queue. A
        starting Jupyter server takes a few seconds of CPU; many at once starve the
        hub itself. With 20 restarts at once on 2 cores, a bound of 1 kept the hub
        API's p99 latency at 1.7x idle (2.6x with 2, 4.7x unbounded), and the storm
        took no longer than unbounded: the starts compete for the same 2 cores anyway
        (see the README's Performance section). Raise it on bigger machines.
        """,
    )

    remove_volumes_on_delete = Bool(
        False,
        config=True,
        help="""Remove a server's per-user volumes and their backups when JupyterHub deletes it.

        JupyterHub calls ``delete_forever()`` when a user is deleted, or a named server
        is deleted with ``{"remove": true}``. When this is True, the container, every
        volume whose name template has a per-user or per-server field, and the
        backups of those volumes are removed. Shared volumes (templates without such
        a field) are never removed. Off by default: deleting data is opt-in.
        """,
    )

    @default("extra_host_config")
    def _default_extra_host_config(self):
        return {"auto_remove": False}

    @validate("extra_host_config")
    def _validate_extra_host_config(self, proposal):
        # DockerSpawner creates containers with auto_remove=self.remove. Docker's
        # auto-remove races `docker restart` (moby turns it off around the stop and
        # back on before the exit event is handled), which removed restarted
        # containers under load. stop() removes containers itself when remove=True,
        # so auto-remove adds nothing but that race: it is always off here.
        value = proposal.value
        if callable(value):
            return _without_auto_remove(value)
        return _no_auto_remove(value, self.log)

    _long_call_executor = None
    _restart_slots = None
    _operation = None
    _operation_state = None
    _operation_record = None
    interrupted_operation = None

    @property
    def long_call_executor(self):
        """Class-wide pool for long Docker calls, apart from DockerSpawner's shared thread."""
        cls = self.__class__
        if cls._long_call_executor is None:
            cls._long_call_executor = ThreadPoolExecutor(
                self.long_call_threads, thread_name_prefix="resettable-docker"
            )
        return cls._long_call_executor

    _hub_maintenance_task = None

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._start_hub_maintenance()

    def _start_hub_maintenance(self):
        """Start the hub-wide sweep once per hub process, with the first spawner made.

        JupyterHub makes a spawner for every running server at start-up, and for a
        user at their first visit or API call.
        """
        cls = ResettableDockerSpawner
        if cls._hub_maintenance_task is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # not inside a running hub (a script or a unit test)
        cls._hub_maintenance_task = loop.create_task(self._hub_maintenance())

    async def _hub_maintenance(self):
        while True:
            try:
                await self.sweep_backups()
            except Exception:
                self.log.exception("resettable-spawner: hub-wide sweep failed")
            await asyncio.sleep(self.backup_prune_interval)

    @property
    def restart_slots(self):
        """Hub-wide slots for restarted servers that are starting up."""
        cls = ResettableDockerSpawner
        if cls._restart_slots is None:
            cls._restart_slots = RestartSlots(self.max_concurrent_restarts)
        return cls._restart_slots

    def docker_long(self, method, *args, **kwargs):
        """Like ``docker()``, on the long-call pool: for calls that may block for long."""
        return asyncio.wrap_future(
            self.long_call_executor.submit(self._docker, method, *args, **kwargs)
        )

    @property
    def home_volume_name(self):
        """Name of the Docker volume mounted at ``home_mount_path``, or None if there is none.

        Rendered from ``volumes`` (and ``mounts``) with DockerSpawner's templates.
        """
        return next((v["name"] for v in self.server_volumes() if v["home"]), None)

    def _require_home_volume(self):
        name = self.home_volume_name
        if name is None:
            self.log.error(
                "%s: no named Docker volume is mounted at %s; check DockerSpawner.volumes",
                self._log_name,
                self.home_mount_path,
            )
            raise NotFound(
                f"No home volume is configured for this server (nothing is mounted at {self.home_mount_path})."
            )
        return name

    @contextmanager
    def _exclusive(self, action):
        # Set before the first await, so two requests in one event loop cannot both pass.
        if self._operation:
            raise OperationInProgress(
                f"A {self._operation} of this server is already in progress; try again when it has finished."
            )
        self._operation = action
        try:
            yield
        finally:
            self._operation = None

    def _record_operation(self, action, **details):
        """Write the operation in progress into the hub's database, where it outlives the hub.

        Called at each step that a hub crash must not leave half-done; at start-up the
        record comes back as ``interrupted_operation``.
        """
        self._operation_record = {"action": action, **details}
        self._save_state()

    def _clear_operation(self):
        self._operation_record = None
        self.interrupted_operation = None
        self._save_state()

    def _save_state(self):
        orm_spawner = getattr(self, "orm_spawner", None)
        if orm_spawner is None:
            return
        orm_spawner.state = self.get_state()
        self.db.commit()

    def get_state(self):
        state = super().get_state()
        if self._operation_record:
            state["resettable_operation"] = self._operation_record
        return state

    def load_state(self, state):
        super().load_state(state)
        record = state.get("resettable_operation")
        if record:
            self._operation_record = self.interrupted_operation = record
            self.log.warning(
                "%s: the hub stopped during a %s (%s); finishing or refusing it before the server is used",
                self._log_name,
                record.get("action"),
                record,
            )

    async def _call(self, method, *args, long=False, **kwargs):
        """Call Docker and turn an unreachable daemon into DockerUnreachable.

        APIError (Docker answered) passes through for the caller to branch on.
        """
        call = self.docker_long if long else self.docker
        try:
            return await call(method, *args, **kwargs)
        except APIError:
            raise
        except (DockerException, requests.exceptions.ConnectionError, OSError) as e:
            self.log.error(
                "%s: Docker at %s is unreachable during %s: %s",
                self._log_name,
                self.client_kwargs.get("base_url") or os.environ.get("DOCKER_HOST") or "the default socket",
                method,
                e,
            )
            raise DockerUnreachable(
                "The container engine cannot be reached right now; try again later or contact your administrator."
            ) from None

    async def _inspect_container(self):
        try:
            return await self._call("inspect_container", self.object_name)
        except APIError as e:
            if e.status_code == 404:
                return None
            raise

    async def _perform(self, action, work, requested_by, describe):
        """Run ``work()`` under the operation lock, time it and log who did what, and how."""
        with self._exclusive(action):
            tic = time.perf_counter()
            try:
                result = await work()
            except Exception as e:
                self._log_action(action, requested_by, "refused or failed: %s", e)
                raise
            result["duration_seconds"] = round(time.perf_counter() - tic, 3)
            self._log_action(action, requested_by, *describe(result))
            return result

    def _log_action(self, action, requested_by, outcome, *args):
        self.log.info(
            "%s of %s requested by %s: " + outcome,
            action,
            self._log_name,
            requested_by or "unknown",
            *args,
        )

    def _docker_failure(self, what, error):
        self.log.error("%s: Docker failed to %s: %s", self._log_name, what, error)
        return OperationFailed(f"The container engine failed to {what}; see the hub log.")

    async def poll(self):
        # Mid-restart the container does not run for a while; the hub must not take
        # that for a dead server and tear it down.
        if self._operation == "restart":
            return None
        if (self.interrupted_operation or {}).get("action") == "restart":
            await self._finish_interrupted_restart()
        status = await super().poll()
        if status is not None and self.remove:
            await self._remove_exited_container()
        return status

    async def _remove_exited_container(self):
        """With ``remove``, remove a container that exited by itself, as auto-remove did.

        Containers are created without Docker's auto-remove (it races restarts), and
        JupyterHub calls ``stop()`` only for servers that poll as running, so a
        container that crashed would otherwise stay behind.
        """
        container = await self._inspect_container()
        if not container or container["State"].get("Status") not in ("exited", "dead"):
            return
        self.log.info(
            "%s: removing container %s, which exited by itself (remove=True)",
            self._log_name,
            container["Id"][:12],
        )
        try:
            await self._call("remove_container", container["Id"], v=False)
        except APIError as e:
            if e.status_code not in (404, 409):  # gone, or already being removed
                self.log.warning("%s: could not remove the exited container: %s", self._log_name, e)
            return
        self.object_id = ""

    async def get_url(self):
        """The server's current address, asked of Docker rather than the hub's database.

        JupyterHub asks this at start-up. A restart interrupted by a hub crash, or a
        container restarted while the hub was down, has a new host port (or IP), and
        the database still holds the old one.
        """
        try:
            ip, port = await self.get_ip_and_port()
        except Exception as e:
            self.log.warning("%s: cannot read the current address: %s", self._log_name, e)
            return self.server.url
        if (ip, port) != (self.server.ip, self.server.port):
            # The proxy may not run yet; the hub's route check at start-up adds the route.
            await self._move_route(ip, port, update_proxy=False)
        return self.server.url

    async def start(self):
        await self.check_volumes_before_start()
        if self._operation == "reset":
            # A container created now would recreate, or hold on to, the volume being deleted.
            raise WrongServerState(
                "The home volume is being reset; start the server when that has finished."
            )
        home = self.home_volume_name
        if home is None:
            self.log.warning(
                "%s: no named Docker volume is mounted at home_mount_path=%s;"
                " reset_home_volume() will refuse",
                self._log_name,
                self.home_mount_path,
            )
        return await super().start()

    async def delete_forever(self):
        """Remove this server's container, per-user volumes and backups, if configured to.

        JupyterHub calls this when the user is deleted, or this named server is
        deleted with ``remove``. Errors are logged, never raised: the hub goes on
        deleting the user either way.
        """
        tic = time.perf_counter()
        outcome, reason = "done", ""
        try:
            if not self.remove_volumes_on_delete:
                self.log.info(
                    "%s deleted; kept its volumes %s (remove_volumes_on_delete is False)",
                    self._log_name,
                    ", ".join(self.per_user_volume_names()) or "(none)",
                )
                reason = "volumes-kept"
                return
            container = await self._inspect_container()
            if container:
                await self._call("remove_container", container["Id"], v=False, force=True)
                self.object_id = ""
            removed = await self.remove_volumes_and_backups()
            self.log.info(
                "%s deleted; removed container %s and volumes %s",
                self._log_name,
                container["Name"].lstrip("/") if container else "(none)",
                ", ".join(removed) or "(none)",
            )
        except Exception as e:
            outcome, reason = "failed", "failed"
            self.log.error("%s: cleaning up after deletion failed: %s", self._log_name, e)
        finally:
            audit.record(
                self.user.settings.get("eventlog"),
                self.log,
                action="delete-forever",
                actor="hub",
                username=self.user.name,
                servername=self.name,
                outcome=outcome,
                reason=reason,
                status=200 if outcome == "done" else 500,
                duration=time.perf_counter() - tic,
            )

    async def native_restart(self, requested_by=None):
        """Restart the running container in place (same container id) with ``docker restart``.

        Afterwards the address is read again: with published ports Docker assigns a
        new host port, and on a network the IP may change. If it changed, the hub's
        record and the proxy route are updated. Returns once the single-user server
        answers HTTP again, within ``http_timeout``.

        Returns a dict with the container id, the old and new address, whether the
        route was updated, and the duration in seconds.
        """
        return await self._perform(
            "restart",
            self._native_restart,
            requested_by,
            lambda r: (
                "container %s restarted, %s -> %s in %.2fs",
                r["container_id"][:12],
                r["old_url"],
                r["new_url"],
                r["duration_seconds"],
            ),
        )

    async def _native_restart(self):
        if self.pending:
            raise WrongServerState(
                f"The server is busy ({self.pending}); try again when it has finished."
            )
        if not self.ready:
            raise WrongServerState("The server is not running; start it instead.")
        container = await self._inspect_container()
        if not container or not container["State"].get("Running"):
            raise WrongServerState("The server's container is not running; stop and start it instead.")
        if container["HostConfig"].get("AutoRemove"):
            # Created before auto-remove was turned off (or by a config that forces it):
            # Docker would remove such a container when it stops.
            self.log.warning(
                "%s: container %s has Docker's auto-remove on; refusing to restart it",
                self._log_name,
                container["Id"][:12],
            )
            raise WrongServerState(
                "This server's container was created in a way that a restart could lose it."
                " Stop and start the server once; restarts work from then on."
            )
        container_id = container["Id"]
        old_url = self.server.host

        try:
            self._record_operation("restart", phase="stopping", container_id=container_id)
            await self._stop_for_restart(container_id)
            self._record_operation("restart", phase="starting", container_id=container_id)
            route_updated = await self._start_after_restart(container_id)
        finally:
            self._operation_state = None
            self._clear_operation()

        after = await self._inspect_container()
        if not after or after["Id"] != container_id:
            raise OperationFailed("The container was replaced during the restart; see the hub log.")
        return {
            "container_id": container_id,
            "old_url": old_url,
            "new_url": self.server.host,
            "route_updated": route_updated,
        }

    async def _stop_for_restart(self, container_id):
        """Stop the container, waiting up to ``restart_timeout`` for it to exit."""
        try:
            await self._call("stop", container_id, timeout=self.restart_timeout, long=True)
        except APIError as e:
            raise self._docker_failure("stop the container for the restart", e) from None

    async def _start_after_restart(self, container_id):
        """Start the stopped container in a restart slot; follow its new address; wait for it.

        Returns whether the route had to move.
        """

        def queued():
            self._operation_state = "queued"
            self.log.info("%s: restart queued for a start slot", self._log_name)

        async with self.restart_slots.slot(on_queued=queued) as in_use:
            self._operation_state = None
            self.log.info(
                "%s: restart slots in use: %d of %s",
                self._log_name,
                in_use,
                self.restart_slots.size or "unbounded",
            )
            try:
                await self._call("start", container_id, long=True)
            except APIError as e:
                raise self._docker_failure("start the container after stopping it", e) from None
            if self.server is None:
                raise WrongServerState("The server was stopped during the restart.")
            self._record_operation("restart", phase="waiting", container_id=container_id)
            route_updated = await self._follow_address()
            await self._wait_for_server()
            if self.post_start_cmd:
                await self.post_start_exec()
        return route_updated

    async def _follow_address(self, update_proxy=True):
        """Point the route at the container's current address; return whether it moved."""
        ip, port = await self.get_ip_and_port()
        if (ip, port) == (self.server.ip, self.server.port):
            return False
        await self._move_route(ip, port, update_proxy=update_proxy)
        return True

    async def _finish_interrupted_restart(self):
        """Complete a restart that a hub crash interrupted, so the hub keeps the server.

        Without this the new hub finds the container stopped (or at a new address)
        and tears the server down, removing the container when ``remove`` is True.
        """
        record = self.interrupted_operation
        container_id = record.get("container_id")
        with self._exclusive("restart"):
            await self._resume_restart(record, container_id)

    async def _resume_restart(self, record, container_id):
        try:
            container = await self._inspect_container()
            if not container or container["Id"] != container_id:
                self.log.warning(
                    "%s: the container of the interrupted restart is gone", self._log_name
                )
                return
            running = container["State"].get("Running")
            self.log.info(
                "%s: finishing a restart interrupted in its %s phase (container running: %s)",
                self._log_name,
                record.get("phase"),
                running,
            )
            if running and record.get("phase") == "stopping":
                # Docker may still be in the stop phase: let it finish, then start afresh.
                await self._stop_for_restart(container_id)
                running = False
            if not running:
                async with self.restart_slots.slot():
                    await self._call("start", container_id, long=True)
            await self._follow_address(update_proxy=False)
        except Exception as e:
            self.log.error("%s: could not finish the interrupted restart: %s", self._log_name, e)
        finally:
            self._clear_operation()

    async def _move_route(self, ip, port, update_proxy=True):
        """Point the hub's record and the proxy route at the container's new address."""
        self.log.info(
            "%s: address changed on restart, %s:%s -> %s:%s; updating the route",
            self._log_name,
            self.server.ip,
            self.server.port,
            ip,
            port,
        )
        # Server's ip/port write through to the hub database.
        self.server.ip = ip
        self.server.port = port
        self.user.db.commit()
        if not update_proxy:
            return
        proxy = self.user.settings.get("proxy")
        if proxy is None:
            self.log.warning(
                "%s: no proxy in the hub settings; its route check will catch up",
                self._log_name,
            )
            return
        await proxy.add_user(self.user, self.name)

    async def _wait_for_server(self):
        """Wait until the single-user server answers HTTP, within ``http_timeout``.

        As JupyterHub's ``wait_for_http_server`` (any non-5xx answer will do), but
        checking every ``ready_check_interval`` instead of backing off towards 5 s:
        its backoff alone added about a second to a 2.5 s restart.
        """
        settings = self.user.settings
        ssl_context = make_ssl_context(
            settings.get("internal_ssl_key"),
            settings.get("internal_ssl_cert"),
            cafile=settings.get("internal_ssl_ca"),
        )
        url = url_path_join(self.server.url, "api")
        client = AsyncHTTPClient()

        async def answers():
            try:
                response = await client.fetch(
                    url,
                    raise_error=False,
                    follow_redirects=False,
                    request_timeout=2,
                    ssl_options=ssl_context,
                )
            except (OSError, HTTPClientError) as e:
                # Refused, reset or closed (tornado's 599) while the server starts.
                self.log.debug("%s: not answering yet: %s", self._log_name, e)
                return False
            return response.code < 500

        try:
            await exponential_backoff(
                answers,
                f"{self._log_name}: no answer at {url}",
                start_wait=self.ready_check_interval,
                scale_factor=1,
                max_wait=self.ready_check_interval,
                timeout=self.http_timeout,
            )
        except Exception as e:
            self.log.error(
                "%s: server did not answer after the restart: %r", self._log_name, e
            )
            raise OperationFailed(
                f"The server did not answer within {self.http_timeout} seconds after the restart."
            ) from None


def _no_auto_remove(host_config, log=None):
    """``host_config`` with Docker's auto-remove off (a copy; the operator's dict is kept)."""
    host_config = dict(host_config or {})
    if host_config.get("auto_remove") and log is not None:
        log.warning(
            "extra_host_config asks for auto_remove, which races restarts and loses"
            " containers; it is turned off (remove=True still removes stopped containers)"
        )
    host_config["auto_remove"] = False
    return host_config


def _without_auto_remove(make_host_config):
    """Wrap a callable ``extra_host_config`` so that its result has auto-remove off."""

    def wrapped(spawner):
        result = make_host_config(spawner)
        if inspect.isawaitable(result):

            async def later():
                return _no_auto_remove(await result, spawner.log)

            return later()
        return _no_auto_remove(result, spawner.log)

    return wrapped
