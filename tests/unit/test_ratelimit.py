"""SlidingWindowLimiter with an injected clock: no sleeping, exact times."""

import pytest

from resettable_spawner.ratelimit import SlidingWindowLimiter


class Clock:
    def __init__(self, now=1000.0):
        self.now = now

    def __call__(self):
        return self.now


def test_allows_limit_hits_per_window_then_says_how_long_to_wait():
    clock = Clock()
    limiter = SlidingWindowLimiter(clock=clock)
    assert [limiter.hit("alice", 3, 60) for _ in range(3)] == [0, 0, 0]
    assert limiter.hit("alice", 3, 60) == 60
    clock.now += 15
    assert limiter.hit("alice", 3, 60) == 45  # the oldest hit leaves the window in 45 s


def test_the_window_slides_hit_by_hit():
    clock = Clock()
    limiter = SlidingWindowLimiter(clock=clock)
    assert limiter.hit("k", 2, 10) == 0  # t=0
    clock.now += 4
    assert limiter.hit("k", 2, 10) == 0  # t=4
    clock.now += 2
    assert limiter.hit("k", 2, 10) == pytest.approx(4)  # t=6: the t=0 hit leaves at t=10
    clock.now += 4
    assert limiter.hit("k", 2, 10) == 0  # t=10: exactly a window later, the t=0 hit is gone
    assert limiter.hit("k", 2, 10) == pytest.approx(4)  # t=10: the t=4 hit leaves at t=14
    clock.now += 4
    assert limiter.hit("k", 2, 10) == 0  # t=14


def test_refused_hits_do_not_count():
    clock = Clock()
    limiter = SlidingWindowLimiter(clock=clock)
    assert limiter.hit("k", 1, 10) == 0
    for _ in range(5):
        clock.now += 1
        assert limiter.hit("k", 1, 10) > 0
    clock.now += 5  # 10 s after the only hit that was allowed
    assert limiter.hit("k", 1, 10) == 0


def test_keys_are_counted_apart():
    limiter = SlidingWindowLimiter(clock=Clock())
    assert limiter.hit("alice", 1, 60) == 0
    assert limiter.hit("alice", 1, 60) == 60
    assert limiter.hit("bob", 1, 60) == 0


@pytest.mark.parametrize("limit", [0, -1])
def test_a_limit_of_zero_or_less_turns_it_off(limit):
    limiter = SlidingWindowLimiter(clock=Clock())
    assert [limiter.hit("k", limit, 60) for _ in range(100)] == [0] * 100


def test_the_default_clock_is_monotonic():
    limiter = SlidingWindowLimiter()
    assert limiter.hit("k", 1, 3600) == 0
    wait = limiter.hit("k", 1, 3600)
    assert 3599 < wait <= 3600
