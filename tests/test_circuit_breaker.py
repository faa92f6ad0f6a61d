"""The circuit breaker on the call path, against a real server that is down and then comes back."""

from __future__ import annotations

import asyncio
import time

import pytest

from helpers import free_port, serve_http
from mcpfleet.breaker import CircuitBreaker
from mcpfleet.exceptions import ServerUnavailableError
from mcpfleet.loadbalancer import LoadBalancer

pytestmark = pytest.mark.timeout(60)


async def test_failures_open_the_circuit_and_a_half_open_trial_closes_it() -> None:
    port = free_port()
    lb = LoadBalancer()
    target = lb.add_instance("work", "w-1", f"127.0.0.1:{port}")
    target.breaker = CircuitBreaker(threshold=3, cooldown=0.5)
    for _ in range(3):  # nothing listens yet: each call fails before it is sent
        with pytest.raises(ServerUnavailableError, match="cannot connect"):
            await lb.get_instance("work").execute("lookup", {"key": "k"})
    assert target.breaker.state == "open"
    with pytest.raises(ServerUnavailableError, match="circuit open"):
        lb.get_instance("work")  # no more calls go to it while open
    async with serve_http("work_server.py", "--http", "{port}", port=port):
        await asyncio.sleep(0.6)
        assert target.breaker.state == "half-open"
        trial = lb.get_instance("work")  # one trial call is let through
        result = await trial.execute("lookup", {"key": "k"})
        assert result["content"][0]["text"].startswith("k@")
        assert target.breaker.state == "closed" and target.breaker.failures == 0
    await lb.aclose()


def test_a_failed_trial_waits_twice_as_long() -> None:
    breaker = CircuitBreaker(threshold=1, cooldown=0.01, max_cooldown=0.03)
    breaker.failed()
    assert breaker.state == "open" and not breaker.allows()
    time.sleep(0.015)
    assert breaker.state == "half-open" and breaker.allows()
    breaker.started()
    assert not breaker.allows()  # only one trial at a time
    breaker.failed()
    assert breaker.state == "open" and breaker._wait == 0.02
    breaker.succeeded()
    assert breaker.state == "closed" and breaker._wait == 0.01
