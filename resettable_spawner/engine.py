"""The engine seam: every primitive that restart and volume work needs of a container engine.

Everything above this module (which volumes, backups, restore, pruning, the sweep,
sizes, the operation record, audit) is written against ``Engine`` alone. A second
engine (Docker Swarm: a server is a service, its container and volumes live on some
node) implements the methods of ``Engine`` and nothing else; ``DockerEngine`` is the
single-host implementation, on the spawner's own docker-py client.

Errors: a method raises ``DockerUnreachable`` when the engine does not answer,
``VolumeInUse`` when a volume cannot be removed because a container holds it, and
``OperationFailed`` (its message safe for users; Docker's text goes to the log) for
any other refusal. "Not found" is never an error here: inspecting returns None and
removing something already gone succeeds.
"""

import asyncio
import http.client
import os
import time

import requests
import urllib3
from docker.errors import APIError, DockerException

from .errors import DockerUnreachable, EngineTimeout, OperationFailed, VolumeInUse
from .objects import helper_spec, parse_docker_log

# Names of the helper containers this hub process is running: the sweep leaves them alone.
active_helpers = set()


class Engine:
    """The primitives a second engine implements (all coroutines).

    The server's object:
      - ``inspect_server(name)``: its description (``Id``, ``Name``, ``State``,
        ``HostConfig``) or None when it does not exist;
      - ``stop_server(server_id, timeout)`` and ``start_server(server_id)``: a restart
        in place, keeping the object, its name and its volumes;
      - ``remove_server(server_id)``: remove it, keeping its volumes.
    Volumes:
      - ``inspect_volume(name)``: Docker's volume description, or None;
      - ``list_volumes(labels)``: the volumes carrying all of ``labels`` ("k" or "k=v");
      - ``create_volume(name, labels)``, ``remove_volume(name)``;
      - ``wait_volumes_free(names, timeout)``: until no container holds them.
    Helpers (short-lived containers that mount volumes where they live):
      - ``run_helper(name, image, command, mounts, labels, timeout)``: run to its end,
        return ``(exit status, stdout)``, always removed afterwards;
      - ``list_helpers(labels)``: ``[{"id", "name", "labels", "created"}]`` (created in
        Unix seconds), including those of a hub that died; ``remove_helper(helper_id)``.
    Logs:
      - ``server_logs(name, tail)``: the last ``tail`` lines the server's object wrote,
        stdout and stderr in the order written, as ``{"lines": [{"time", "text"}],
        "truncated": bool}`` (``truncated``: older lines exist); None when the object
        does not exist. It reads the tail only, never the whole log. Secrets are
        redacted above this layer, with the values from ``inspect_server``'s
        ``Config.Env``.
    """

    async def inspect_server(self, name):
        raise NotImplementedError

    async def stop_server(self, server_id, timeout):
        raise NotImplementedError

    async def start_server(self, server_id):
        raise NotImplementedError

    async def remove_server(self, server_id):
        raise NotImplementedError

    async def inspect_volume(self, name):
        raise NotImplementedError

    async def list_volumes(self, labels):
        raise NotImplementedError

    async def create_volume(self, name, labels=None):
        raise NotImplementedError

    async def remove_volume(self, name):
        raise NotImplementedError

    async def wait_volumes_free(self, names, timeout):
        raise NotImplementedError

    async def volume_folder(self):
        """The engine host's folder of ``local`` volumes (``<folder>/<name>/_data``), or None.

        Only for backups by move; an engine without one answers None, and backups are copies.
        """
        return None

    async def run_helper(self, name, image, command, mounts, labels, timeout):
        raise NotImplementedError

    async def list_helpers(self, labels):
        raise NotImplementedError

    async def remove_helper(self, helper_id):
        raise NotImplementedError

    async def server_logs(self, name, tail):
        raise NotImplementedError


# What docker-py, requests, urllib3 and http.client raise when the engine does not
# answer: refused, reset, closed mid-answer, or a body cut short.
UNANSWERED = (
    DockerException,
    requests.exceptions.RequestException,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    OSError,
)


class DockerCalls:
    """docker-py calls on the spawner's client, off the event loop, bounded by the engine's liveness.

    ``short`` runs a call on DockerSpawner's shared executor, ``long`` on the pool for
    calls that may block for long (a stop waiting out its timeout, a volume removal, a
    helper's wait), ``ping(seconds)`` asks the engine's ``/_ping`` on a thread of its
    own, so that it never queues behind a stuck call.

    A call may take as long as it needs while the engine is alive: each ``timeout / 2``
    seconds without an answer, the engine is pinged, and the call fails with
    ``DockerUnreachable`` once a ping gets no answer within ``timeout / 2`` seconds.
    So a frozen engine fails a call within about ``timeout`` seconds, a dead one
    (refused, reset) at once, and a legitimate long call (a stop, a big copy, an image
    pull) is never cut short. A call that fails so and had not started yet is dropped,
    never run later; one already running ends in its thread, its answer unused.

    ``APIError`` (the engine answered) passes through for the caller to branch on. A
    call that runs past its own docker-py timeout while the engine still answers pings
    is ``EngineTimeout``.
    """

    def __init__(self, short, long, ping, timeout, log, where):
        self._short = short
        self._long = long
        self._ping = ping
        self.check = timeout / 2  # seconds between pings, and for a ping's answer
        self.log = log
        self.where = where

    async def __call__(self, method, *args, long=False, **kwargs):
        future = (self._long if long else self._short)(method, *args, **kwargs)
        try:
            return await self._while_alive(future, method)
        except APIError:
            raise
        except requests.exceptions.Timeout as e:
            # ConnectTimeout is a ConnectionError too: the engine does not take connections.
            if not isinstance(e, requests.exceptions.ConnectionError) and await self.alive():
                self.log.error("Docker at %s answers, but %s ran past its timeout: %s", self.where, method, e)
                raise EngineTimeout("The container engine did not finish in time; see the hub log.") from None
            raise self._unreachable(method, e) from None
        except UNANSWERED as e:
            raise self._unreachable(method, e) from None

    async def alive(self):
        """Whether the engine answers a ping within ``timeout / 2`` seconds."""
        try:
            await asyncio.wait_for(self._ping(self.check), self.check)
        except Exception:
            return False
        return True

    async def _while_alive(self, future, method):
        while True:
            done, _ = await asyncio.wait({future}, timeout=self.check)
            if done:
                return future.result()
            if not await self.alive():
                future.cancel()  # dropped if still queued behind a stuck call
                raise self._unreachable(method, f"no answer to a ping within {self.check:.1f}s")

    def _unreachable(self, method, reason):
        self.log.error("Docker at %s is unreachable during %s: %s", self.where, method, reason)
        return DockerUnreachable(
            "The container engine cannot be reached right now; try again later or contact your administrator."
        )


def docker_address(client_kwargs):
    """Where the client talks to, for the log only (never shown to users)."""
    return client_kwargs.get("base_url") or os.environ.get("DOCKER_HOST") or "the default socket"


class DockerEngine(Engine):
    """One Docker Engine, through the spawner's own client (``DockerCalls``)."""

    # Seconds between checks that a volume's last container is gone.
    volume_free_interval = 0.2

    def __init__(self, calls, host_config, log, log_name="hub"):
        self.call = calls
        self.address = calls.where  # which engine: one per Docker address
        self._host_config = host_config  # docker-py's create_host_config
        self.log = log
        self.log_name = log_name

    def failure(self, what, error):
        """Log Docker's own words; give users a message without them."""
        self.log.error("%s: Docker failed to %s: %s", self.log_name, what, error)
        return OperationFailed(f"The container engine failed to {what}; see the hub log.")

    async def _removed(self, what, method, *args, **kwargs):
        """Remove something; already gone (404) or already being removed (409) is fine."""
        try:
            await self.call(method, *args, **kwargs)
        except APIError as e:
            if e.status_code not in (404, 409):
                raise self.failure(what, e) from None

    # --- the server's container ---------------------------------------------------

    async def inspect_server(self, name):
        try:
            return await self.call("inspect_container", name)
        except APIError as e:
            if e.status_code == 404:
                return None
            raise self.failure("inspect the container", e) from None

    async def stop_server(self, server_id, timeout):
        try:
            await self.call("stop", server_id, timeout=timeout, long=True)
        except APIError as e:
            raise self.failure("stop the container for the restart", e) from None

    async def start_server(self, server_id):
        try:
            await self.call("start", server_id, long=True)
        except APIError as e:
            raise self.failure("start the container after stopping it", e) from None

    async def remove_server(self, server_id):
        await self._removed("remove the container", "remove_container", server_id, v=False, force=True)

    # --- volumes ------------------------------------------------------------------

    async def inspect_volume(self, name):
        try:
            return await self.call("inspect_volume", name)
        except APIError as e:
            if e.status_code == 404:
                return None
            raise self.failure("inspect volume", e) from None

    async def list_volumes(self, labels):
        try:
            listing = await self.call("volumes", filters={"label": list(labels)})
        except APIError as e:
            raise self.failure("list volumes", e) from None
        return listing.get("Volumes") or []

    async def create_volume(self, name, labels=None):
        try:
            await self.call("create_volume", name, labels=labels)
        except APIError as e:
            raise self.failure("create volume", e) from None

    async def remove_volume(self, name):
        try:
            await self.call("remove_volume", name, long=True)
        except APIError as e:
            if e.status_code == 404:
                return
            if e.status_code == 409:
                self.log.warning("%s: volume %s is in use: %s", self.log_name, name, e)
                raise VolumeInUse(name) from None
            raise self.failure("remove volume", e) from None

    async def volume_folder(self):
        try:
            info = await self.call("info")
        except APIError as e:
            raise self.failure("describe itself", e) from None
        root = info.get("DockerRootDir")
        return f"{root.rstrip('/')}/volumes" if root else None

    async def wait_volumes_free(self, names, timeout):
        deadline = time.monotonic() + timeout
        for name in names:
            while True:
                try:
                    holders = await self.call("containers", all=True, filters={"volume": name})
                except APIError as e:
                    raise self.failure("list containers", e) from None
                if not holders:
                    break
                if time.monotonic() >= deadline:
                    raise VolumeInUse(name)
                await asyncio.sleep(self.volume_free_interval)

    # --- helpers ------------------------------------------------------------------

    async def run_helper(self, name, image, command, mounts, labels, timeout):
        spec = helper_spec(image, name, command, labels)
        spec["host_config"] = self._host_config(mounts=mounts, network_mode="none")
        active_helpers.add(name)
        container_id = None
        try:
            try:
                container_id = (await self.call("create_container", **spec))["Id"]
                await self.call("start", container_id)
            except APIError as e:
                raise self.failure("start a helper container", e) from None
            try:
                result = await self.call("wait", container_id, timeout=timeout, long=True)
            except APIError as e:
                raise self.failure("wait for a helper container", e) from None
            except EngineTimeout:  # the engine answers; the helper ran too long
                self.log.error("%s: helper %s did not finish within %ss", self.log_name, name, timeout)
                raise OperationFailed(
                    f"Copying took longer than {timeout:.0f} seconds and was stopped."
                ) from None
            status = result.get("StatusCode", -1)
            try:
                out = (await self.call("logs", container_id, stdout=True, stderr=False)).decode(errors="replace")
                if status != 0:
                    err = (await self.call("logs", container_id, stdout=False, stderr=True)).decode(errors="replace")
                    self.log.error("%s: helper %s exited with %s: %s", self.log_name, name, status, err[-2000:])
            except APIError as e:
                raise self.failure("read a helper container's output", e) from None
            return status, out
        finally:
            try:
                await self.remove_helper(container_id or name)
            except Exception as e:
                self.log.error("%s: cannot remove helper %s: %s", self.log_name, name, e)
            active_helpers.discard(name)

    async def list_helpers(self, labels):
        try:
            found = await self.call("containers", all=True, filters={"label": list(labels)})
        except APIError as e:
            raise self.failure("list helper containers", e) from None
        return [
            {
                "id": h["Id"],
                "name": (h.get("Names") or ["/?"])[0].lstrip("/"),
                "labels": h.get("Labels") or {},
                "created": h.get("Created", 0),  # Unix seconds
            }
            for h in found
        ]

    async def remove_helper(self, helper_id):
        await self._removed("remove a helper container", "remove_container", helper_id, v=False, force=True)

    # --- logs ---------------------------------------------------------------------

    async def server_logs(self, name, tail):
        # Docker's `tail` reads the log file from its end: the cost follows the lines
        # asked for, not the log's size (benchmarks/bench_logs.py). One line more than
        # asked says whether older ones exist. On the long-call pool: a slow log driver
        # must not hold DockerSpawner's one shared thread.
        try:
            raw = await self.call(
                "logs", name, stdout=True, stderr=True, timestamps=True, tail=tail + 1, long=True
            )
        except APIError as e:
            if e.status_code == 404:
                return None
            raise self.failure("read the container's log", e) from None
        lines = parse_docker_log(raw.decode(errors="replace"))
        return {"lines": lines[-tail:], "truncated": len(lines) > tail}
