"""``Backoff``: growing, capped, jittered delays and when the next try is due, on a fake clock."""

from __future__ import annotations

import random

import pytest

from helpers import FakeClock
from mcpfleet.backoff import Backoff

pytestmark = pytest.mark.timeout(10)


def test_delays_double_up_to_the_maximum_and_reset_starts_over() -> None:
    backoff = Backoff(0.5, 3.0)
    assert [backoff.next() for _ in range(6)] == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]
    assert backoff.attempts == 6
    backoff.reset()
    assert backoff.attempts == 0 and backoff.next() == 0.5


def test_factor_and_an_initial_delay_above_the_maximum() -> None:
    assert [Backoff(1.0, 100.0, factor=3).delay(n) for n in range(5)] == [1, 3, 9, 27, 81]
    assert Backoff(60.0, 30.0).next() == 30.0


def test_a_long_outage_stays_at_the_maximum() -> None:
    backoff = Backoff(10.0, 300.0)
    assert backoff.delay(5000) == 300.0  # initial * 2**5000 overflows a float


def test_jitter_draws_a_share_of_each_delay_at_random() -> None:
    backoff = Backoff(1.0, 8.0, jitter=0.5, rng=random.Random(7))
    rng = random.Random(7)
    for n, full in enumerate([1.0, 2.0, 4.0, 8.0, 8.0]):
        delay = backoff.delay(n)
        assert full / 2 <= delay <= full
        assert delay == full / 2 + rng.uniform(0, full / 2)  # the same draws, in the same order


def test_next_starts_the_wait_that_due_reports() -> None:
    clock = FakeClock()
    backoff = Backoff(2.0, 10.0, clock=clock)
    assert backoff.due  # nothing failed yet
    assert backoff.next() == 2.0
    assert not backoff.due
    clock.advance(1.9)
    assert not backoff.due
    clock.advance(0.1)
    assert backoff.due
    backoff.next()
    clock.advance(3.9)
    assert not backoff.due
    backoff.reset()
    assert backoff.due


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"initial": 0, "maximum": 1}, "positive"),
        ({"initial": 1, "maximum": -1}, "positive"),
        ({"initial": 1, "maximum": 2, "factor": 0.5}, "shrink"),
        ({"initial": 1, "maximum": 2, "jitter": 1.5}, "from 0 to 1"),
    ],
)
def test_nonsense_is_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Backoff(**kwargs)
