"""A sliding-window request counter per key (the target user)."""

import time
from collections import defaultdict, deque


class SlidingWindowLimiter:
    """Allows ``limit`` hits per ``window`` seconds for each key."""

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._hits = defaultdict(deque)

    def hit(self, key, limit, window):
        """Count one hit for key; return 0 if allowed, else seconds until one is."""
        if limit <= 0:
            return 0
        now = self._clock()
        hits = self._hits[key]
        while hits and hits[0] <= now - window:
            hits.popleft()
        if len(hits) >= limit:
            return hits[0] + window - now
        hits.append(now)
        return 0
