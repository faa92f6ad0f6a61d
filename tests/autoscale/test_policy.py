"""Auto-scaling decisions (autoscale/policy.py) on injected readings and a fake clock, and the
recent call latencies (latency.py) the p95 target reads."""

from __future__ import annotations

from typing import Any

import pytest

from helpers import FakeClock
from mcpfleet.autoscale import Decider, Reading, ScalingTargets
from mcpfleet.latency import CallLatencies

pytestmark = pytest.mark.timeout(60)


def targets(**settings: Any) -> ScalingTargets:
    base: dict[str, Any] = {
        "min_instances": 1, "max_instances": 10, "target_cpu": 70, "target_memory": None,
        "target_in_flight": 4, "scale_up_threshold": 3, "scale_down_threshold": 5,
        "scale_up_cooldown": 60, "scale_down_cooldown": 300,
    }  # fmt: skip
    return ScalingTargets(**{**base, **settings})


def reading(n: int, **signals: float | None) -> Reading:
    return Reading(instances=n, ready=n, **signals)  # type: ignore[arg-type]


def test_scales_up_only_after_threshold_consecutive_checks_and_says_why() -> None:
    decider = Decider(FakeClock())
    policy = targets()
    assert decider.decide("work", policy, reading(2, in_flight=7.5, cpu=10)) is None
    assert decider.decide("work", policy, reading(2, in_flight=7.5, cpu=10)) is None
    decision = decider.decide("work", policy, reading(2, in_flight=7.5, cpu=10))
    assert decision is not None
    assert (decision.direction, decision.current, decision.desired) == ("up", 2, 3)
    assert decision.reason == "in_flight"
    assert decision.detail == "in-flight 7.5/instance over target 4 for 3 checks"


def test_a_check_back_in_band_restarts_the_streak() -> None:
    decider = Decider(FakeClock())
    policy = targets()
    for _ in range(2):
        assert decider.decide("work", policy, reading(2, in_flight=9)) is None
    assert decider.decide("work", policy, reading(2, in_flight=3.5)) is None  # within target, not idle
    assert decider.streak("work") == (0, 0)
    for _ in range(2):
        assert decider.decide("work", policy, reading(2, in_flight=9)) is None
    assert decider.decide("work", policy, reading(2, in_flight=9)) is not None


def test_any_signal_over_scales_up_and_names_the_worst() -> None:
    decider = Decider(FakeClock())
    policy = targets(scale_up_threshold=1, target_p95_ms=500)
    decision = decider.decide("work", policy, reading(3, in_flight=1, cpu=91, p95_ms=1500))
    assert decision is not None and decision.reason == "p95_latency"
    assert decision.detail == "p95 latency 1500 ms over target 500 ms, cpu 91% over target 70% for 1 checks"


def test_cooldown_holds_a_change_then_it_acts_when_the_cooldown_ends() -> None:
    clock = FakeClock()
    decider = Decider(clock)
    policy = targets(scale_up_threshold=2, scale_up_cooldown=60)
    for _ in range(2):
        decision = decider.decide("work", policy, reading(2, in_flight=9))
    assert decision is not None and decision.desired == 3
    for _ in range(5):  # still over target: the streak goes on, the cooldown holds it
        clock.now += 10
        assert decider.decide("work", policy, reading(3, in_flight=9)) is None
    clock.now += 10.5  # 60.5 s since the change
    decision = decider.decide("work", policy, reading(3, in_flight=9))
    assert decision is not None and (decision.current, decision.desired) == (3, 4)


def test_scale_down_needs_every_signal_under_hysteresis_for_threshold_checks() -> None:
    clock = FakeClock()
    decider = Decider(clock)
    policy = targets(target_in_flight=2, scale_down_threshold=5, hysteresis=0.7)
    # cpu 60% of a 70% target is under target but over 70% of it: no scale-down, ever.
    for _ in range(8):
        assert decider.decide("work", policy, reading(3, in_flight=0.2, cpu=60)) is None
    # 1.3/instance < 0.7 x 2 and 1.3 x 3/2 = 1.95 still fits in 2 instances: down after 5 checks.
    for _ in range(4):
        assert decider.decide("work", policy, reading(3, in_flight=1.3, cpu=5)) is None
    decision = decider.decide("work", policy, reading(3, in_flight=1.3, cpu=5))
    assert decision is not None and (decision.direction, decision.desired) == ("down", 2)
    assert decision.reason == "idle"
    assert "under 70% of its target for 5 checks" in decision.detail
    assert "in-flight 1.3/instance vs target 2" in decision.detail


def test_no_scale_down_when_the_load_would_not_fit_in_one_less_instance() -> None:
    decider = Decider(FakeClock())
    policy = targets(target_in_flight=2, scale_down_threshold=1, scale_down_cooldown=0, hysteresis=0.75)
    # 1.45 < 0.75 x 2, but on 1 instance the 2 x 1.45 = 2.9 calls would be over target.
    assert decider.decide("work", policy, reading(2, in_flight=1.45)) is None
    assert decider.decide("work", policy, reading(2, in_flight=0.9)) is not None


def test_bounds_are_kept_and_corrected_at_once() -> None:
    decider = Decider(FakeClock())
    policy = targets(min_instances=2, max_instances=4, scale_up_threshold=1, scale_down_threshold=1)
    assert decider.decide("work", policy, reading(4, in_flight=50)) is None  # at max
    assert decider.decide("work", policy, reading(2, in_flight=0)) is None  # at min
    low = decider.decide("work", policy, reading(1, in_flight=0))
    assert low is not None and (low.desired, low.reason) == (2, "min_instances")
    high = decider.decide("work", policy, reading(6, in_flight=50))
    assert high is not None and (high.desired, high.reason) == (4, "max_instances")


def test_proportional_steps_follow_the_load_up_to_max_step() -> None:
    def desired(policy: ScalingTargets, n: int, in_flight: float) -> int:
        decision = Decider(FakeClock()).decide("work", policy, reading(n, in_flight=in_flight))
        assert decision is not None
        return decision.desired

    up = targets(step="proportional", max_step=4, scale_up_threshold=1, max_instances=20)
    assert desired(up, 2, in_flight=10) == 5  # ceil(2 x 10/4)
    assert desired(up, 2, in_flight=40) == 6  # 20 asked, max_step 4
    assert desired(up.model_copy(update={"max_instances": 4}), 2, in_flight=40) == 4
    down = targets(step="proportional", max_step=4, scale_down_threshold=1, scale_down_cooldown=0)
    assert desired(down, 6, in_flight=0.5) == 2  # ceil(6 x 0.5/4) = 1, but at most 4 fewer
    assert desired(down, 3, in_flight=0.5) == 1


def test_a_server_with_no_ready_instance_is_left_alone() -> None:
    decider = Decider(FakeClock())
    policy = targets(min_instances=1, scale_down_threshold=1, scale_down_cooldown=0)
    for _ in range(3):
        assert decider.decide("work", policy, Reading(instances=3, ready=0)) is None


def test_call_latencies_are_bounded_and_read_since_a_mark() -> None:
    latencies = CallLatencies(size=100)
    for i in range(1, 101):
        latencies.record("work", i / 1000)
    assert latencies.percentile("work", 95) == 0.095
    mark = latencies.mark("work")
    assert latencies.percentile("work", 95, since=mark) is None
    for _ in range(150):
        latencies.record("work", 2.0)
    assert latencies.since("work", mark) == [2.0] * 100  # only the newest `size` are kept
    assert latencies.percentile("other", 95) is None
