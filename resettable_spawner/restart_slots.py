"""A hub-wide bound on how many restarted servers start up at once."""

import asyncio
from contextlib import asynccontextmanager

from prometheus_client import Gauge

try:
    from jupyterhub.metrics import metrics_prefix
except ImportError:  # pragma: no cover - very old hubs
    metrics_prefix = "jupyterhub"

RESTARTS_STARTING = Gauge(
    "resettable_spawner_restarts_starting",
    "Restarted servers between 'container started' and 'server answers'",
    namespace=metrics_prefix,
)
RESTARTS_QUEUED = Gauge(
    "resettable_spawner_restarts_queued",
    "Restarts whose container has stopped and that wait for a start slot",
    namespace=metrics_prefix,
)


class RestartSlots:
    """At most ``size`` holders at once; 0 means no bound.

    A restarted Jupyter server spends a few seconds of CPU starting up. Twenty of them
    at once on a small machine starve the hub's own event loop, so the start phase of
    a restart takes a slot, and the rest wait their turn.
    """

    def __init__(self, size):
        self.size = size
        self.in_use = 0
        self.queued = 0
        self.peak = 0
        self._semaphore = asyncio.Semaphore(size) if size else None

    @asynccontextmanager
    async def slot(self, on_queued=None):
        """Hold a slot for the body; ``on_queued()`` is called if the caller has to wait."""
        if self._semaphore is not None:
            if self._semaphore.locked() and on_queued is not None:
                on_queued()
            self.queued += 1
            RESTARTS_QUEUED.inc()
            try:
                await self._semaphore.acquire()
            finally:
                self.queued -= 1
                RESTARTS_QUEUED.dec()
        self.in_use += 1
        self.peak = max(self.peak, self.in_use)
        RESTARTS_STARTING.inc()
        try:
            yield self.in_use
        finally:
            self.in_use -= 1
            RESTARTS_STARTING.dec()
            if self._semaphore is not None:
                self._semaphore.release()
