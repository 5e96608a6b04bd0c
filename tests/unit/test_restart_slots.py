"""RestartSlots: the hub-wide bound on restarted servers starting at once (asyncio.run)."""

import asyncio

import pytest
from prometheus_client import REGISTRY

from resettable_spawner.restart_slots import RESTARTS_QUEUED, RESTARTS_STARTING, RestartSlots


def gauge(metric):
    # A Gauge's sample carries the metric's full name (namespace included).
    return REGISTRY.get_sample_value(metric.describe()[0].name)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 10))


def test_one_slot_runs_holders_one_after_another_and_counts_the_queue():
    async def main():
        slots = RestartSlots(1)
        inside, log, queued_calls = [], [], []
        release = {name: asyncio.Event() for name in "abc"}

        async def holder(name):
            async with slots.slot(on_queued=lambda: queued_calls.append(name)) as n:
                inside.append(name)
                log.append((name, n, slots.in_use, slots.queued))
                await release[name].wait()
                inside.remove(name)

        tasks = [asyncio.create_task(holder(name)) for name in "abc"]
        await asyncio.sleep(0.01)
        assert inside == ["a"] and slots.in_use == 1 and slots.queued == 2
        assert queued_calls == ["b", "c"]  # told they wait; "a" found a free slot
        release["a"].set()
        await asyncio.sleep(0.01)
        assert inside == ["b"] and slots.queued == 1
        release["b"].set()
        release["c"].set()
        await asyncio.gather(*tasks)
        assert log == [("a", 1, 1, 0), ("b", 1, 1, 1), ("c", 1, 1, 0)]
        assert slots.in_use == 0 and slots.queued == 0 and slots.peak == 1

    run(main())


def test_two_slots_let_two_start_at_once():
    async def main():
        slots = RestartSlots(2)
        release = asyncio.Event()

        async def holder():
            async with slots.slot():
                await release.wait()

        tasks = [asyncio.create_task(holder()) for _ in range(5)]
        await asyncio.sleep(0.01)
        assert slots.in_use == 2 and slots.queued == 3
        release.set()
        await asyncio.gather(*tasks)
        assert slots.peak == 2 and slots.in_use == 0 and slots.queued == 0

    run(main())


def test_size_zero_is_no_bound_and_nobody_is_queued():
    async def main():
        slots = RestartSlots(0)
        release = asyncio.Event()
        queued_calls = []

        async def holder():
            async with slots.slot(on_queued=lambda: queued_calls.append(1)):
                await release.wait()

        tasks = [asyncio.create_task(holder()) for _ in range(20)]
        await asyncio.sleep(0.01)
        assert slots.in_use == 20 and slots.queued == 0
        release.set()
        await asyncio.gather(*tasks)
        assert queued_calls == [] and slots.peak == 20 and slots.in_use == 0

    run(main())


def test_a_failing_holder_gives_its_slot_back():
    async def main():
        slots = RestartSlots(1)
        with pytest.raises(RuntimeError, match="start failed"):
            async with slots.slot():
                raise RuntimeError("start failed")
        assert slots.in_use == 0
        async with slots.slot() as n:  # free again, at once
            assert n == 1

    run(main())


def test_a_cancelled_waiter_leaves_the_queue():
    async def main():
        slots = RestartSlots(1)
        release = asyncio.Event()

        async def holder():
            async with slots.slot():
                await release.wait()

        first = asyncio.create_task(holder())
        await asyncio.sleep(0.01)
        waiter = asyncio.create_task(holder())
        await asyncio.sleep(0.01)
        assert slots.queued == 1
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert slots.queued == 0 and slots.in_use == 1
        release.set()
        await first
        assert slots.in_use == 0 and slots.peak == 1
        async with slots.slot():  # the cancelled waiter took no slot with it
            assert slots.in_use == 1

    run(main())


def test_the_gauges_follow_the_slots():
    async def main():
        starting, queued = gauge(RESTARTS_STARTING), gauge(RESTARTS_QUEUED)
        slots = RestartSlots(1)
        release = asyncio.Event()

        async def holder():
            async with slots.slot():
                await release.wait()

        tasks = [asyncio.create_task(holder()) for _ in range(3)]
        await asyncio.sleep(0.01)
        assert gauge(RESTARTS_STARTING) == starting + 1
        assert gauge(RESTARTS_QUEUED) == queued + 2
        release.set()
        await asyncio.gather(*tasks)
        assert gauge(RESTARTS_STARTING) == starting and gauge(RESTARTS_QUEUED) == queued

    run(main())
