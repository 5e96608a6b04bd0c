"""The lifecycle layer: ResettableDockerSpawner's start, poll, restart in place and delete_forever.

It calls down into the volume layer (volumes.py) and the engine layer (base.py,
engine.py); see base.py for the layers.
"""

import inspect
import time

from docker.errors import APIError
from jupyterhub.utils import exponential_backoff, format_exception, make_ssl_context, url_path_join
from tornado.httpclient import AsyncHTTPClient, HTTPClientError
from traitlets import Bool, Float, Integer, List, Unicode, default, validate

from . import audit
from .errors import DockerUnreachable, NotFound, OperationFailed, WrongServerState
from .maintenance import overview_model
from .objects import logs_model, no_auto_remove, secret_values
from .restart_slots import RestartSlots
from .volumes import VolumeSpawner


class ResettableDockerSpawner(VolumeSpawner):
    """DockerSpawner that can restart its container in place and reset the home volume.

    Every ``c.DockerSpawner.*`` setting applies unchanged.
    """

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
        return no_auto_remove(value, self.log)

    _restart_slots = None

    @property
    def restart_slots(self):
        """Hub-wide slots for restarted servers that are starting up."""
        cls = ResettableDockerSpawner
        if cls._restart_slots is None:
            cls._restart_slots = RestartSlots(self.max_concurrent_restarts)
        return cls._restart_slots

    async def poll(self):
        # Mid-restart the container does not run for a while; the hub must not take
        # that for a dead server and tear it down.
        if self.operation.action == "restart":
            return None
        try:
            if self.operation.interrupted_action("restart"):
                await self._finish_interrupted_restart()
            status = await super().poll()
        except DockerUnreachable:
            # Unknown is not stopped. JupyterHub tears down a server whose poll raises at
            # its start-up; a later poll tells, once the engine answers again.
            self.log.warning("%s: the container engine does not answer; taking the server as running", self._log_name)
            return None
        if status is not None and self.remove:
            await self._remove_exited_container()
        return status

    async def _remove_exited_container(self):
        """With ``remove``, remove a container that exited by itself, as auto-remove did.

        Containers are created without Docker's auto-remove (it races restarts), and
        JupyterHub calls ``stop()`` only for servers that poll as running, so a
        container that crashed would otherwise stay behind.
        """
        container = await self.engine.inspect_server(self.object_name)
        if not container or container["State"].get("Status") not in ("exited", "dead"):
            return
        self.log.info(
            "%s: removing container %s, which exited by itself (remove=True)",
            self._log_name,
            container["Id"][:12],
        )
        try:
            await self.engine.remove_server(container["Id"])
        except Exception as e:
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
        # A container created during a reset would recreate, or hold on to, its volumes.
        self.check_volumes_before_start()
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
            container = await self.engine.inspect_server(self.object_name)
            if container:
                await self.engine.remove_server(container["Id"])
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
        """Restart the running container in place (same container id): stop it, then start it.

        The engine's ``stop_server`` and ``start_server``; not ``docker restart``, which
        races Docker's auto-remove. Afterwards the address is read again: with published ports Docker assigns a
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
        container = await self.engine.inspect_server(self.object_name)
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
            self.operation.step("restart", phase="stopping", container_id=container_id)
            await self._stop_for_restart(container_id)
            self.operation.step("restart", phase="starting", container_id=container_id)
            route_updated = await self._start_after_restart(container_id)
        finally:
            self.operation.clear()

        after = await self.engine.inspect_server(self.object_name)
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
        await self.engine.stop_server(container_id, self.restart_timeout)

    async def _start_after_restart(self, container_id):
        """Start the stopped container in a restart slot; follow its new address; wait for it.

        Returns whether the route had to move.
        """

        def queued():
            self.operation.queued = True
            self.log.info("%s: restart queued for a start slot", self._log_name)

        async with self.restart_slots.slot(on_queued=queued) as in_use:
            self.operation.queued = False
            self.log.info(
                "%s: restart slots in use: %d of %s",
                self._log_name,
                in_use,
                self.restart_slots.size or "unbounded",
            )
            await self.engine.start_server(container_id)
            if self.server is None:
                raise WrongServerState("The server was stopped during the restart.")
            self.operation.step("restart", phase="waiting", container_id=container_id)
            route_updated = await self._follow_address()
            await self._wait_for_server()
            if self.post_start_cmd:
                await self.post_start_exec()
        return route_updated

    async def _follow_address(self, update_proxy=True):
        """Point the route at the container's current address; return whether it moved."""
        try:
            ip, port = await self.get_ip_and_port()
        except (APIError, RuntimeError) as e:
            # DockerSpawner's: the container has no address (it stopped again, or the
            # engine restarted and stopped it).
            self.log.error("%s: cannot read the container's address: %s", self._log_name, e)
            raise OperationFailed("The server's container stopped during the restart; see the hub log.") from None
        if (ip, port) == (self.server.ip, self.server.port):
            return False
        await self._move_route(ip, port, update_proxy=update_proxy)
        return True

    async def _finish_interrupted_restart(self):
        """Complete a restart that a hub crash interrupted, so the hub keeps the server.

        Without this the new hub finds the container stopped (or at a new address)
        and tears the server down, removing the container when ``remove`` is True.
        """
        record = self.operation.interrupted
        container_id = record.get("container_id")
        with self.operation.exclusive("restart"):
            await self._resume_restart(record, container_id)

    async def _resume_restart(self, record, container_id):
        unanswered = False
        try:
            container = await self.engine.inspect_server(self.object_name)
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
                    await self.engine.start_server(container_id)
            await self._follow_address(update_proxy=False)
        except DockerUnreachable:
            unanswered = True  # the record stays: a later poll finishes it once the engine answers
            raise
        except Exception as e:
            self.log.error("%s: could not finish the interrupted restart: %s", self._log_name, e)
        finally:
            if not unanswered:
                self.operation.clear()

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

    async def maintenance_overview(self):
        """This server's row on the maintenance page: state, container, last restart and reset.

        One inspect of the server's object; no volume or backup calls (``hub_backups``
        lists those once for every row).
        """
        container = await self.engine.inspect_server(self.object_name)
        return overview_model(
            self.operation.state(self.pending, self.ready),
            self.pending,
            container,
            self.history.newest_first(),
        )

    async def hub_backups(self):
        """Every complete backup of this hub, all users' (labelled with its user and server)."""
        return await self.backups.all()

    async def server_logs(self, tail):
        """The last ``tail`` lines of the server's container log, secrets redacted.

        Works while the server runs, and after it stopped as long as its container is
        there (``remove = False``, or one that exited by itself). Redacted: the values
        of the container's secret-named environment variables (its API token, which is
        also its OAuth client secret, and its OAuth client id), the spawner's own token
        and client id, ``token=`` values, OAuth query values and Authorization headers.
        """
        container = await self.engine.inspect_server(self.object_name)
        logs = await self.engine.server_logs(container["Id"], tail) if container else None
        if logs is None:
            raise NotFound(
                "This server has no container left, so there is no log to show"
                " (it is removed when the server stops, or it was never started)."
            )
        env = (container.get("Config") or {}).get("Env") or []
        secrets = secret_values(env, [self.api_token, self.oauth_client_id])
        return logs_model(logs, secrets, tail, container, self._last_start_error())

    def _last_start_error(self):
        """Why the last start failed, as JupyterHub tells users (None if it did not, or the
        hub restarted since). Internal details stay in the log."""
        if not self._failed:
            return None
        message, _ = format_exception(self._spawn_future.exception(), only_jupyterhub=True)
        return message or "JupyterHub gave no reason."


def _without_auto_remove(make_host_config):
    """Wrap a callable ``extra_host_config`` so that its result has auto-remove off."""

    def wrapped(spawner):
        result = make_host_config(spawner)
        if inspect.isawaitable(result):

            async def later():
                return no_auto_remove(await result, spawner.log)

            return later()
        return no_auto_remove(result, spawner.log)

    return wrapped
