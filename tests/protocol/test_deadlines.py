"""Request timeouts under one timer per connection (the stdio sessions' path: see
tests/protocol/test_session.py for a real server that never answers)."""

from __future__ import annotations

import asyncio
import time

import pytest

from mcpfleet.protocol.deadlines import Deadlines, Expired


async def _sent() -> None:
    return None


async def test_an_answer_in_time_is_returned_and_forgotten() -> None:
    deadlines = Deadlines()
    future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_later(0.01, future.set_result, "answer")
    assert await deadlines.answer(1, 5.0, future, _sent()) == "answer"
    assert not deadlines._entries
    deadlines.close()


async def test_no_answer_expires_at_its_own_time_whatever_was_added_before() -> None:
    deadlines = Deadlines()
    loop = asyncio.get_running_loop()
    slow: asyncio.Future[str] = loop.create_future()
    waiting_long = asyncio.create_task(deadlines.answer("long", 30.0, slow, _sent()))
    await asyncio.sleep(0)
    started = time.monotonic()
    with pytest.raises(Expired):  # added later, due sooner: the one timer moves up for it
        await deadlines.answer("short", 0.1, loop.create_future(), _sent())
    assert 0.09 <= time.monotonic() - started < 1.0
    assert not waiting_long.done()  # the other one keeps its own time
    slow.set_result("late but in time")
    assert await waiting_long == "late but in time"
    deadlines.close()


async def test_many_requests_each_get_their_answer_or_their_expiry() -> None:
    deadlines = Deadlines()
    loop = asyncio.get_running_loop()
    futures = [loop.create_future() for _ in range(50)]
    calls = [asyncio.create_task(deadlines.answer(n, 0.2, f, _sent())) for n, f in enumerate(futures)]
    await asyncio.sleep(0.05)
    for n, future in enumerate(futures):
        if n % 2 == 0:
            future.set_result(n)
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert results[0::2] == list(range(0, 50, 2))
    assert all(isinstance(r, Expired) for r in results[1::2])
    assert not deadlines._entries
    deadlines.close()


async def test_a_request_stuck_sending_is_cancelled_at_its_time_and_the_task_is_left_clean() -> None:
    deadlines = Deadlines()
    stuck = asyncio.Event()  # a server that never reads its stdin: the send waits forever

    async def send() -> None:
        await stuck.wait()

    future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    with pytest.raises(Expired):
        await deadlines.answer(1, 0.05, future, send())
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0  # the deadline's cancellation taken back
    await asyncio.sleep(0)  # and nothing pending on this task still
    deadlines.close()


async def test_a_cancellation_from_elsewhere_while_sending_stays_a_cancellation() -> None:
    deadlines = Deadlines()
    stuck = asyncio.Event()

    async def send() -> None:
        await stuck.wait()

    future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    call = asyncio.create_task(deadlines.answer(1, 30.0, future, send()))
    await asyncio.sleep(0.01)
    call.cancel()  # the client went away
    with pytest.raises(asyncio.CancelledError):
        await call
    assert not deadlines._entries
    deadlines.close()
