"""``RedisOutage``, the state machine both Redis backends share, against a real Redis that goes
away and comes back: one warning per outage, probes no more often than asked, up again after."""

from __future__ import annotations

import asyncio
import logging
import os
import signal

import pytest
from redis.asyncio import Redis

from helpers import FakeClock, free_port, redis_server, until
from mcpfleet.redis_outage import OUTAGE_ERRORS, RedisOutage, fail_fast_options

pytestmark = pytest.mark.timeout(30)

log = logging.getLogger("tests.redis_outage")


async def test_down_once_probed_when_due_then_up(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tests.redis_outage")
    port = free_port()
    clock = FakeClock()
    client = Redis.from_url(f"redis://:hunter2@127.0.0.1:{port}/0", **fail_fast_options(0.2))
    probes = 0

    async def reconnect() -> None:
        nonlocal probes
        probes += 1
        await client.ping()

    outage = RedisOutage(
        client, owned=True, where=f"redis://:hunter2@127.0.0.1:{port}/0", probe_interval=10,
        reconnect=reconnect, clock=clock, log=log,
        subject="Widgets", meanwhile="widgets are made by hand", resumed="machines again",
        consequence="Slower.",
    )  # fmt: skip
    for _ in range(3):  # calls in flight when Redis went away all fail: one outage, one warning
        with pytest.raises(OUTAGE_ERRORS) as failure:
            await client.ping()
        outage.failed(failure.value)
    assert outage.down and outage.outages == 1
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.startswith(f"Widgets: Redis at redis://127.0.0.1:{port}/0 failed (")
    assert "widgets are made by hand until it answers again (checked every 10 s). Slower." in warning
    assert "hunter2" not in caplog.text

    def call() -> bool:
        """What each call does while Redis is down: start a probe if one is due."""
        outage.probe_if_due()
        return not outage.down

    call()  # not due: the last failure was just now
    assert probes == 0
    clock.advance(10)
    call()
    call()  # one probe at a time
    await until(lambda: probes == 1)
    for _ in range(20):
        assert not call()  # nothing listens yet, and the failed probe put the next one off
        await asyncio.sleep(0.01)
    assert probes == 1

    async with redis_server(port) as server:
        clock.advance(10)
        await until(call)
        assert probes == 2
        assert any("Widgets: Redis at" in r.getMessage() and "machines again" in r.getMessage()
                   for r in caplog.records)  # fmt: skip
        os.killpg(server.pid, signal.SIGKILL)
        await server.wait()
    with pytest.raises(OUTAGE_ERRORS) as failure:
        await client.ping()
    outage.failed(failure.value)
    assert outage.down and outage.outages == 2
    await outage.aclose()  # closes the client it owns
