"""The circuit breaker on the call path, against a real server that is down and then comes back."""

from __future__ import annotations

import pytest

from helpers import FakeClock, free_port, serve_http
from mcpfleet.breaker import CircuitBreaker
from mcpfleet.exceptions import ServerUnavailableError
from mcpfleet.loadbalancer import LoadBalancer

pytestmark = pytest.mark.timeout(60)


async def test_failures_open_the_circuit_and_a_half_open_trial_closes_it() -> None:
    port = free_port()
    clock = FakeClock()
    lb = LoadBalancer()
    target = lb.add_instance("work", "w-1", f"127.0.0.1:{port}")
    target.breaker = CircuitBreaker(threshold=3, cooldown=0.5, clock=clock)
    for _ in range(3):  # nothing listens yet: each call fails before it is sent
        with pytest.raises(ServerUnavailableError, match="cannot connect"):
            await lb.get_instance("work").execute("lookup", {"key": "k"})
    assert target.breaker.state == "open"
    with pytest.raises(ServerUnavailableError, match="circuit open"):
        lb.get_instance("work")  # no more calls go to it while open
    async with serve_http("work_server.py", "--http", "{port}", port=port):
        clock.advance(0.49)
        assert target.breaker.state == "open"
        clock.advance(0.01)
        assert target.breaker.state == "half-open"
        trial = lb.get_instance("work")  # one trial call is let through
        result = await trial.execute("lookup", {"key": "k"})
        assert result["content"][0]["text"].startswith("k@")
        assert target.breaker.state == "closed" and target.breaker.failures == 0
    await lb.aclose()


def open_for(breaker: CircuitBreaker, clock: FakeClock) -> float:
    """How long the breaker stays open from now (it must be open): time moves on until it is half-open."""
    opened = clock.now
    while breaker.state == "open":
        clock.advance(1)
    return clock.now - opened


def test_a_failed_trial_waits_twice_as_long() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(threshold=1, cooldown=10, max_cooldown=30, clock=clock)
    breaker.failed()
    assert breaker.state == "open" and not breaker.allows()
    clock.advance(9.9)
    assert breaker.state == "open"
    clock.advance(0.1)
    assert breaker.state == "half-open" and breaker.allows()
    breaker.started()
    assert not breaker.allows()  # only one trial at a time
    breaker.failed()
    assert open_for(breaker, clock) == 20
    breaker.started()
    breaker.failed()
    assert open_for(breaker, clock) == 30  # twice as long again, up to max_cooldown
    breaker.started()
    breaker.failed()
    assert open_for(breaker, clock) == 30
    breaker.started()
    breaker.succeeded()
    assert breaker.state == "closed" and breaker.allows() and breaker.failures == 0
    breaker.failed()
    assert open_for(breaker, clock) == 10  # closing started the cooldown over


def test_below_the_threshold_the_circuit_stays_closed() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(threshold=3, cooldown=10, clock=clock)
    breaker.failed()
    breaker.failed()
    assert breaker.state == "closed" and breaker.allows()
    breaker.succeeded()
    breaker.failed()
    breaker.failed()
    assert breaker.state == "closed"  # a success in between starts the count over
    breaker.failed()
    assert breaker.state == "open" and open_for(breaker, clock) == 10
