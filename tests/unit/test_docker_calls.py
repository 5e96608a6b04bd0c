"""DockerCalls' bound (engine.py), on fake calls and pings: no Docker.

The real engine, killed and frozen, is tests/e2e/test_engine_faults.py; these pin the
timing rules that are hard to hit there: a long call outlives the bound while pings
answer, a call queued behind a stuck one is dropped, a call's own timeout is not
"unreachable".
"""

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from resettable_spawner.engine import DockerCalls
from resettable_spawner.errors import DockerUnreachable, EngineTimeout

log = logging.getLogger("test")
TIMEOUT = 0.4  # DockerCalls pings every 0.2 s and gives each ping 0.2 s


def calls(call, ping_answers=True):
    async def ping(seconds):
        if not ping_answers:
            await asyncio.sleep(seconds * 10)  # a frozen engine: no answer

    def submit(method, *args, **kwargs):
        return asyncio.ensure_future(call(method, *args, **kwargs))

    return DockerCalls(submit, submit, ping, TIMEOUT, log, "the test socket")


def run(coro):
    return asyncio.run(coro)


def test_a_call_longer_than_the_bound_goes_on_while_the_engine_answers():
    async def slow(method):
        await asyncio.sleep(TIMEOUT * 3)
        return "done"

    assert run(calls(slow)("wait")) == "done"


def test_a_frozen_engine_fails_the_call_within_the_bound():
    async def stuck(method):
        await asyncio.sleep(60)

    async def main():
        tic = time.monotonic()
        with pytest.raises(DockerUnreachable) as e:
            await calls(stuck, ping_answers=False)("inspect_container")
        return time.monotonic() - tic, e.value

    seconds, error = run(main())
    # After one unanswered ping (about TIMEOUT), far from the stuck call's 60 s.
    assert TIMEOUT * 0.9 <= seconds < 10
    assert error.status_code == 503 and "socket" not in error.message


def test_a_call_queued_behind_a_stuck_one_is_dropped_never_run_later():
    ran = []
    pool = ThreadPoolExecutor(1)
    release = asyncio.Event()

    def blocking(name, seconds):
        time.sleep(seconds)
        ran.append(name)

    async def main():
        def submit(method, *args, **kwargs):
            return asyncio.wrap_future(pool.submit(blocking, method, *args))

        async def no_answer(seconds):
            await release.wait()

        c = DockerCalls(submit, submit, no_answer, TIMEOUT, log, "the test socket")
        first = asyncio.ensure_future(c("stuck", TIMEOUT * 3))
        await asyncio.sleep(0.05)  # it holds the one thread
        with pytest.raises(DockerUnreachable):
            await c("queued", 0)
        with pytest.raises(DockerUnreachable):
            await first
        release.set()

    run(main())
    pool.shutdown(wait=True)
    assert ran == ["stuck"]  # the running call ended in its thread; the queued one never ran


@pytest.mark.parametrize(
    "error",
    [
        requests.exceptions.ConnectionError("refused"),
        ConnectionResetError("reset"),
        requests.exceptions.ChunkedEncodingError("cut short"),
    ],
)
def test_a_dead_engine_is_503_at_once(error):
    async def dead(method):
        raise error

    async def main():
        tic = time.monotonic()
        with pytest.raises(DockerUnreachable):
            await calls(dead, ping_answers=False)("stop")
        return time.monotonic() - tic

    assert run(main()) < TIMEOUT / 2  # no ping waited for


def test_urllib3_protocol_error_is_503():
    import urllib3

    async def cut(method):
        raise urllib3.exceptions.ProtocolError("Connection aborted.")

    with pytest.raises(DockerUnreachable):
        run(calls(cut)("logs"))


def test_a_read_timeout_while_the_engine_answers_is_the_calls_own_timeout():
    async def too_long(method):
        raise requests.exceptions.ReadTimeout("read timed out")

    with pytest.raises(EngineTimeout) as e:
        run(calls(too_long)("wait"))
    assert e.value.status_code == 502


def test_a_read_timeout_from_a_frozen_engine_is_503():
    async def too_long(method):
        raise requests.exceptions.ReadTimeout("read timed out")

    with pytest.raises(DockerUnreachable):
        run(calls(too_long, ping_answers=False)("wait"))


def test_api_errors_pass_through():
    from docker.errors import APIError

    async def refused(method):
        raise APIError("conflict")

    with pytest.raises(APIError):
        run(calls(refused)("remove_volume"))
