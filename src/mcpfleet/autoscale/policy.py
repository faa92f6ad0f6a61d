"""The scaling decision, apart from any I/O: readings in, at most one decision per check out.

Per server and per check:

- outside ``min_instances``..``max_instances``: back inside at once (reason ``min_instances`` /
  ``max_instances``), whatever the signals say;
- up when ANY signal is over its target for ``scale_up_threshold`` consecutive checks;
- down when EVERY signal is under ``hysteresis`` x its target for ``scale_down_threshold``
  consecutive checks, and the load signals (in-flight calls, CPU) would stay within target on
  the instances left; a signal with no reading (no calls, no metrics) counts as under;
- no change within ``scale_up_cooldown`` / ``scale_down_cooldown`` seconds of the last change;
  the streak goes on meanwhile, so a change due acts as soon as the cooldown ends;
- step ``one`` moves by one instance; ``proportional`` by what the most loaded signal asks
  (``ceil(n * observed / target)``), at most ``max_step`` at a time.

A server with no ready instance is left alone: its trouble is the supervisor's, and readings
from nothing would look idle.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Literal

from mcpfleet.autoscale.config import ScalingTargets
from mcpfleet.clock import Clock, MonotonicClock

__all__ = ["Decider", "Decision", "Reading"]

log = logging.getLogger("mcpfleet.autoscale")
Direction = Literal["up", "down"]
_LOAD_SIGNALS = ("in_flight", "cpu")  # signals that spread over instances (memory and latency need not)


@dataclass(frozen=True)
class Reading:
    """What one check saw of one server; ``None`` where a signal has no reading."""

    instances: int  # instances it runs (a Deployment: spec.replicas)
    ready: int  # of those, how many take calls
    in_flight: float | None = None  # calls in flight per ready instance
    cpu: float | None = None  # percent of one core, mean per instance
    memory: float | None = None  # percent of the memory budget, mean per instance
    p95_ms: float | None = None  # p95 tool-call latency since the previous check


@dataclass(frozen=True)
class Decision:
    """One change of a server's instance count, and why."""

    server: str
    direction: Direction
    current: int
    desired: int
    reason: str  # a metric label: in_flight, cpu, memory, p95_latency, idle, min_instances, max_instances
    detail: str  # for people: "in-flight 7.5/instance over target 4 for 3 checks"
    at: float


@dataclass
class _Streak:
    up: int = 0
    down: int = 0
    changed_at: float = -math.inf


def _num(value: float) -> str:
    return f"{round(value, 2):g}"


def _describe(signal: str, value: float, target: float, relation: str) -> str:
    """``in-flight 7.5/instance over target 4``, ``cpu 12% vs target 70%``."""
    label, unit, per = {
        "in_flight": ("in-flight", "", "/instance"),
        "p95_latency": ("p95 latency", " ms", ""),
    }.get(signal, (signal, "%", ""))
    return f"{label} {_num(value)}{unit}{per} {relation} {_num(target)}{unit}"


def _signals(policy: ScalingTargets, reading: Reading) -> dict[str, tuple[float, float]]:
    """Signal name -> (observed, target), for the signals that are on and have a reading."""
    pairs = {
        "in_flight": (reading.in_flight, policy.target_in_flight),
        "cpu": (reading.cpu, policy.target_cpu),
        "memory": (reading.memory, policy.target_memory),
        "p95_latency": (reading.p95_ms, policy.target_p95_ms),
    }
    return {name: (value, target) for name, (value, target) in pairs.items() if value is not None and target}


class Decider:
    """Keeps each server's streaks and last change; :meth:`decide` is one check."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or MonotonicClock()
        self._streaks: dict[str, _Streak] = {}

    def forget(self, server: str) -> None:
        self._streaks.pop(server, None)

    def streak(self, server: str) -> tuple[int, int]:
        """(consecutive checks over target, consecutive checks under) for ``server``."""
        streak = self._streaks.get(server, _Streak())
        return streak.up, streak.down

    def decide(self, server: str, policy: ScalingTargets, reading: Reading) -> Decision | None:
        """One check of ``server``; a returned decision counts as made (its cooldown starts)."""
        now = self.clock.monotonic()
        streak = self._streaks.setdefault(server, _Streak())
        n = reading.instances
        decision: Decision | None = None
        if n < policy.min_instances:
            decision = Decision(
                server, "up", n, policy.min_instances, "min_instances",
                f"{n} instance(s) is below min_instances {policy.min_instances}", now,
            )  # fmt: skip
        elif n > policy.max_instances:
            decision = Decision(
                server, "down", n, policy.max_instances, "max_instances",
                f"{n} instance(s) is above max_instances {policy.max_instances}", now,
            )  # fmt: skip
        elif reading.ready == 0:
            streak.up = streak.down = 0
            log.debug("%s: no ready instance; not scaling", server)
        else:
            decision = self._by_signals(server, policy, reading, streak, now)
        if decision is not None:
            streak.up = streak.down = 0
            streak.changed_at = now
        return decision

    def _by_signals(
        self, server: str, policy: ScalingTargets, reading: Reading, streak: _Streak, now: float
    ) -> Decision | None:
        n = reading.instances
        signals = _signals(policy, reading)
        over = {name: v / t for name, (v, t) in signals.items() if v > t}
        if over:
            streak.up += 1
            streak.down = 0
        elif self._all_under(policy, signals, n):
            streak.down += 1
            streak.up = 0
        else:
            streak.up = streak.down = 0
            return None
        since = now - streak.changed_at
        if over and streak.up >= policy.scale_up_threshold:
            if n >= policy.max_instances or since < policy.scale_up_cooldown:
                log.debug("%s: over target but at max_instances or in cooldown (%.1fs since a change)",
                          server, since)  # fmt: skip
                return None
            ranked = sorted(over, key=over.__getitem__, reverse=True)
            desired = n + 1
            if policy.step == "proportional":
                desired = max(desired, min(math.ceil(n * over[ranked[0]]), n + policy.max_step))
            desired = min(desired, policy.max_instances)
            said = ", ".join(_describe(s, *signals[s], "over target") for s in ranked)
            return Decision(
                server, "up", n, desired, ranked[0], f"{said} for {streak.up} checks", now
            )  # fmt: skip
        if not over and streak.down >= policy.scale_down_threshold:
            if n <= policy.min_instances or since < policy.scale_down_cooldown:
                return None
            desired = n - 1
            if policy.step == "proportional":
                load = max((signals[s][0] / signals[s][1] for s in _LOAD_SIGNALS if s in signals), default=0)
                desired = min(desired, max(math.ceil(n * load), n - policy.max_step))
            desired = max(desired, policy.min_instances)
            said = ", ".join(_describe(s, *signals[s], "vs target") for s in signals) or "no signal"
            return Decision(
                server, "down", n, desired, "idle",
                f"every signal under {_num(policy.hysteresis * 100)}% of its target for "
                f"{streak.down} checks: {said}", now,
            )  # fmt: skip
        return None

    @staticmethod
    def _all_under(policy: ScalingTargets, signals: dict[str, tuple[float, float]], n: int) -> bool:
        for name, (value, target) in signals.items():
            if value >= policy.hysteresis * target:
                return False
            # The load the removed instance carried moves to the others: it must still fit.
            if name in _LOAD_SIGNALS and n > 1 and value * n / (n - 1) > target:
                return False
        return True
