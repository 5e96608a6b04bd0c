"""The bottom layer of the spawner: its engine, its long-call pool, and its one ``Operation``.

Layers, each calling only down::

    spawner.ResettableDockerSpawner   lifecycle: start, poll, restart, delete_forever
    volumes.VolumeSpawner             which volumes, reset, backups, restore, sizes
    base.EngineSpawner                engine (engine.py), operation (operation.py)
    dockerspawner.DockerSpawner

A second engine changes ``make_engine()`` and DockerSpawner's own lifecycle base
(SwarmSpawner), and keeps the layers above.
"""

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

from dockerspawner import DockerSpawner
from traitlets import Float, Integer

from .engine import DockerCalls, DockerEngine, docker_address
from .history import MaintenanceHistory
from .operation import Operation


class EngineSpawner(DockerSpawner):
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

    docker_call_timeout = Float(
        10.0,
        min=1.0,
        config=True,
        help="""Seconds within which a Docker call fails with 503 once the Docker Engine stops answering.

        While a call runs, the hub pings the engine every ``docker_call_timeout / 2``
        seconds and gives each ping as long to answer; when one gets no answer, the
        call fails with 503 ("the container engine cannot be reached"). A frozen or
        hung engine so fails a request within about this many seconds, instead of
        blocking it for docker-py's 60 s per call; a dead one fails it at once. A
        long call (a stop waiting out ``restart_timeout``, a backup of a big volume,
        an image pull) runs as long as the engine answers. It applies to every Docker
        call of the spawner, DockerSpawner's own (start, stop, poll) too. A poll that
        gets no answer counts as still running: the hub never tears a server down
        because its engine did not answer.
        """,
    )

    _long_call_executor = None

    @property
    def long_call_executor(self):
        """Class-wide pool for long Docker calls, apart from DockerSpawner's shared thread."""
        cls = self.__class__
        if cls._long_call_executor is None:
            cls._long_call_executor = ThreadPoolExecutor(
                self.long_call_threads, thread_name_prefix="resettable-docker"
            )
        return cls._long_call_executor

    def docker_long(self, method, *args, **kwargs):
        """A call on the long-call pool: for calls that may block for long."""
        return asyncio.wrap_future(self.long_call_executor.submit(self._docker, method, *args, **kwargs))

    _ping_executor = None

    def docker_ping(self, seconds):
        """Ask the engine's ``/_ping``, waiting at most ``seconds``, on a thread of its own.

        Not on DockerSpawner's shared thread or the long-call pool, where it could
        queue behind the stuck call whose engine it checks.
        """
        cls = self.__class__
        if cls._ping_executor is None:
            cls._ping_executor = ThreadPoolExecutor(1, thread_name_prefix="resettable-docker-ping")
        # docker-py's own ping() would wait out the client's timeout (60 s by default).
        # Any answer will do: the engine is alive.
        return asyncio.wrap_future(
            cls._ping_executor.submit(lambda: self.client.get(f"{self.client.base_url}/_ping", timeout=seconds))
        )

    _docker_calls = None

    @property
    def docker_calls(self):
        """This spawner's ``DockerCalls`` (engine.py), through which every Docker call goes."""
        if self._docker_calls is None:
            self._docker_calls = DockerCalls(
                lambda method, *args, **kwargs: DockerSpawner.docker(self, method, *args, **kwargs),
                self.docker_long,
                self.docker_ping,
                self.docker_call_timeout,
                self.log,
                docker_address(self.client_kwargs),
            )
        return self._docker_calls

    def docker(self, method, *args, **kwargs):
        """DockerSpawner's own calls (start, stop, poll, pull) go through ``DockerCalls`` too.

        Still on DockerSpawner's one shared thread, now bounded by
        ``docker_call_timeout``, and an engine that does not answer is
        ``DockerUnreachable`` (503, a message for users) instead of a bare connection error.
        """
        return asyncio.ensure_future(self.docker_calls(method, *args, **kwargs))

    def make_engine(self, log_name=None):
        """This spawner's ``Engine``: the single host, through the spawner's own client.

        A spawner without a user (the hub-wide sweep's settings) names itself in the log.
        """
        # The client connects when it is made: only inside a call, where an engine that
        # does not answer becomes DockerUnreachable.
        return DockerEngine(
            self.docker_calls,
            lambda **kwargs: self.client.create_host_config(**kwargs),
            self.log,
            log_name or self._log_name,
        )

    _engine = None

    @property
    def engine(self):
        if self._engine is None:
            self._engine = self.make_engine()
        return self._engine

    _operation = None

    @property
    def operation(self):
        """The server's lock, its persisted record and the state the API shows."""
        if self._operation is None:
            self._operation = Operation(self._save_state)
        return self._operation

    _history = None

    @property
    def history(self):
        """The server's last restarts, resets, restores and backup deletions (history.py)."""
        if self._history is None:
            self._history = MaintenanceHistory(self._save_state)
        return self._history

    def _save_state(self):
        orm_spawner = getattr(self, "orm_spawner", None)
        if orm_spawner is None:
            return
        orm_spawner.state = self.get_state()
        self.db.commit()

    def get_state(self):
        return self.history.save_into(self.operation.save_into(super().get_state()))

    def load_state(self, state):
        super().load_state(state)
        self.history.load_from(state)
        record = self.operation.load_from(state)
        if record:
            self.log.warning(
                "%s: the hub stopped during a %s (%s); finishing or refusing it before the server is used",
                self._log_name,
                record.get("action"),
                record,
            )

    async def _perform(self, action, work, requested_by, describe):
        """Run ``work()`` under the operation lock, time it and log who did what, and how."""
        with self.operation.exclusive(action):
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
