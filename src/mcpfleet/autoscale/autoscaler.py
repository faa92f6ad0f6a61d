"""``AutoScaler``: the loop that reads every server's signals and changes its instance count."""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ValidationError

from mcpfleet.autoscale.base import BaseScaler
from mcpfleet.autoscale.config import AutoscaleConfig, ScalingTargets
from mcpfleet.autoscale.local import LocalScaler
from mcpfleet.autoscale.policy import Decider, Decision, Reading
from mcpfleet.clock import Clock, MonotonicClock
from mcpfleet.exceptions import ConfigError, FleetError

if TYPE_CHECKING:
    from mcpfleet.runtime.fleet import Fleet

__all__ = ["AutoScaler"]

log = logging.getLogger("mcpfleet.autoscale")
ScaleHook = Callable[[str, int], Awaitable[None] | None]
_MB = 1024 * 1024


class AutoScaler:
    """Scales each server of ``manager`` between ``min_instances`` and ``max_instances`` from load.

        autoscaler = AutoScaler(manager=manager, min_instances=2, max_instances=10,
                                target_cpu=70, target_memory=80,
                                scale_up_threshold=3,      # consecutive checks
                                scale_down_threshold=5)
        await autoscaler.start()
        autoscaler.on_scale_up = lambda s, n: print(f"Scaled up {s} to {n} instances")
        autoscaler.on_scale_down = lambda s, n: print(f"Scaled down {s} to {n} instances")

    Signals per server, each compared with its target (``None`` turns one off): calls in flight
    per ready instance (``target_in_flight``, from the load balancer) and p95 tool-call latency
    since the previous check (``target_p95_ms``, from the manager's call latencies) -- the load
    an MCP server feels while its CPU idles on I/O -- and CPU (percent of one core) and memory
    (percent of ``instance_memory_mb``, else of the pod's request or the machine) per instance.
    :mod:`mcpfleet.autoscale.policy` decides; ``scaler`` (default :class:`LocalScaler`, the
    manager's own processes) applies it; ``overrides`` maps a server to settings of its own.

    Every decision is one INFO log line with its numbers, a count in ``decision_counts`` and the
    server's ``desired`` count, which :class:`~mcpfleet.metrics.MetricsCollector` exports when
    ``metrics.autoscaler`` is set. ``on_scale_up`` / ``on_scale_down`` (sync or async) get the
    server and its new instance count. A change runs apart from the checks: a long drain on one
    server does not hold up the others, and a server is not checked while it changes, drains
    or is in maintenance.
    """

    def __init__(
        self,
        manager: Fleet,
        *,
        min_instances: int = 2,
        max_instances: int = 10,
        target_cpu: float | None = 70.0,
        target_memory: float | None = 80.0,
        scale_up_threshold: int = 3,
        scale_down_threshold: int = 5,
        target_in_flight: float | None = 4.0,
        target_p95_ms: float | None = None,
        scale_up_cooldown: float = 60.0,
        scale_down_cooldown: float = 300.0,
        hysteresis: float = 0.7,
        step: Literal["one", "proportional"] = "one",
        max_step: int = 4,
        instance_memory_mb: float | None = None,
        drain_timeout: float = 30.0,
        interval: float = 15.0,
        servers: Sequence[str] | None = None,
        overrides: Mapping[str, Mapping[str, Any]] | None = None,
        scaler: BaseScaler | None = None,
        clock: Clock | None = None,
        on_scale_up: ScaleHook | None = None,
        on_scale_down: ScaleHook | None = None,
    ) -> None:
        try:
            self.config = AutoscaleConfig(
                min_instances=min_instances, max_instances=max_instances, target_cpu=target_cpu,
                target_memory=target_memory, scale_up_threshold=scale_up_threshold,
                scale_down_threshold=scale_down_threshold, target_in_flight=target_in_flight,
                target_p95_ms=target_p95_ms, scale_up_cooldown=scale_up_cooldown,
                scale_down_cooldown=scale_down_cooldown, hysteresis=hysteresis, step=step,
                max_step=max_step, instance_memory_mb=instance_memory_mb, drain_timeout=drain_timeout,
                interval=interval, servers={k: dict(v) for k, v in (overrides or {}).items()},
            )  # fmt: skip
        except ValidationError as exc:
            problems = [
                f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: "
                f"{str(e['msg']).removeprefix('Value error, ')}"
                for e in exc.errors()
            ]
            raise ConfigError("AutoScaler settings are invalid:", problems) from None
        self.manager = manager
        self.only = list(servers) if servers is not None else None
        self.scaler = scaler if scaler is not None else LocalScaler(manager)
        self.clock = clock or MonotonicClock()
        self.decider = Decider(self.clock)
        self.on_scale_up = on_scale_up
        self.on_scale_down = on_scale_down
        self.decisions: deque[Decision] = deque(maxlen=200)  # the latest, newest last
        self.decision_counts: dict[tuple[str, str, str], int] = {}  # (server, direction, reason) -> n
        self.failures: dict[tuple[str, str], int] = {}  # (server, direction) -> changes that failed
        self.desired: dict[str, int] = {}  # server -> the count last decided (or seen)
        self.last: dict[str, Reading] = {}  # server -> its latest reading
        self.rounds = 0
        self._marks: dict[str, int] = {}
        self._changes: dict[str, asyncio.Task[None]] = {}
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def from_config(
        cls,
        manager: Fleet,
        config: AutoscaleConfig | None = None,
        *,
        scaler: BaseScaler | None = None,
        clock: Clock | None = None,
    ) -> AutoScaler:
        """The autoscaler a fleet file's ``autoscale:`` section describes (``config`` overrides it)."""
        config = config if config is not None else manager.config.autoscale
        if scaler is None and config.backend == "kubernetes":
            from mcpfleet.autoscale.kubernetes import KubernetesScaler

            servers = [n for n, s in manager.config.servers.items() if s.enabled]
            scaler = KubernetesScaler.from_cluster(
                servers, namespace=config.namespace, name=config.deployment
            )
        unknown = sorted(set(config.servers) - set(manager.config.servers))
        if unknown:
            log.warning("autoscale.servers names servers the fleet does not have: %s", ", ".join(unknown))
        settings = config.model_dump(include=set(ScalingTargets.model_fields) | {"interval"})
        return cls(manager, **settings, overrides=config.servers, scaler=scaler, clock=clock)

    @property
    def interval(self) -> float:
        return self.config.interval

    def policy(self, server: str) -> ScalingTargets:
        """The settings ``server`` is scaled by (the defaults and its overrides)."""
        return self.config.policy_for(server)

    # ------------------------------------------------------------------ the loop

    async def start(self) -> None:
        """Check every ``interval`` seconds in the background until :meth:`stop`."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop(), name="mcpfleet-autoscale")

    async def stop(self) -> None:
        """Stop checking; a change under way finishes first (a drain within its ``drain_timeout``)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._changes:
            await asyncio.gather(*self._changes.values(), return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            try:
                await self.check(wait=False)
            except Exception:  # the loop must outlive one bad round
                log.exception("autoscale check failed")
            await self.clock.sleep(self.interval)

    async def check(self, *, wait: bool = True) -> list[Decision]:
        """One check of every server; returns the decisions made (applied, unless ``wait=False``)."""
        servers = [s for s in self._servers() if s not in self._changes]
        found = await asyncio.gather(*(self._check(s) for s in servers))
        decisions = [d for d in found if d is not None]
        tasks = []
        for decision in decisions:
            task = asyncio.create_task(self._apply(decision), name=f"mcpfleet-scale-{decision.server}")
            self._changes[decision.server] = task
            task.add_done_callback(functools.partial(self._changed, decision.server))
            tasks.append(task)
        self.rounds += 1
        if wait and tasks:
            await asyncio.gather(*tasks)
        return decisions

    def _changed(self, server: str, task: asyncio.Task[None]) -> None:
        if self._changes.get(server) is task:
            del self._changes[server]

    def _servers(self) -> list[str]:
        """Servers to check: the scaler's (or those asked for), except ones draining or in
        maintenance, whose calls are held on purpose and would look like no load."""
        lb = self.manager.load_balancer
        return [
            s for s in self.scaler.servers() if (self.only is None or s in self.only) and lb.mode(s) is None
        ]

    async def _check(self, server: str) -> Decision | None:
        try:
            reading = await self.read(server)
        except FleetError as exc:
            log.warning("autoscale %s: cannot read its load: %s", server, exc)
            return None
        self.last[server] = reading
        self.desired.setdefault(server, reading.instances)
        return self.decider.decide(server, self.policy(server), reading)

    async def read(self, server: str) -> Reading:
        """What the scaler and the manager see of ``server`` now (p95: since the previous read)."""
        usage = await self.scaler.observe(server)
        policy = self.policy(server)
        latencies = self.manager.latencies
        mark = self._marks.get(server)
        p95 = latencies.percentile(server, 95, since=mark) if mark is not None else None
        self._marks[server] = latencies.mark(server)
        in_flight = self.manager.load_balancer.in_flight(server)
        budget = policy.instance_memory_mb * _MB if policy.instance_memory_mb else usage.memory_budget
        memory = None
        if usage.memory_bytes is not None and budget:
            memory = usage.memory_bytes / budget * 100
        return Reading(
            instances=usage.instances,
            ready=usage.ready,
            in_flight=in_flight / usage.ready if usage.ready else None,
            cpu=usage.cpu_percent,
            memory=memory,
            p95_ms=p95 * 1000 if p95 is not None else None,
        )

    # ------------------------------------------------------------------ changes

    async def _apply(self, decision: Decision) -> None:
        server, direction = decision.server, decision.direction
        key = (server, direction, decision.reason)
        self.decision_counts[key] = self.decision_counts.get(key, 0) + 1
        self.decisions.append(decision)
        self.desired[server] = decision.desired
        log.info("autoscale %s: %d -> %d instances: %s",
                 server, decision.current, decision.desired, decision.detail)  # fmt: skip
        try:
            now = await self.scaler.scale(
                server, decision.desired, drain_timeout=self.policy(server).drain_timeout
            )
        except Exception as exc:  # a failed change is logged and counted; the loop goes on
            self.failures[(server, direction)] = self.failures.get((server, direction), 0) + 1
            log.error("autoscale %s: scaling %s to %d failed: %s", server, direction, decision.desired, exc)
            return
        if now != decision.desired:
            log.warning("autoscale %s: runs %d instances, not the %d decided", server, now, decision.desired)
        if now > decision.current:
            await self._hook(self.on_scale_up, server, now)
        elif now < decision.current:
            await self._hook(self.on_scale_down, server, now)

    @staticmethod
    async def _hook(hook: ScaleHook | None, server: str, count: int) -> None:
        if hook is None:
            return
        try:
            result = hook(server, count)
            if inspect.isawaitable(result):
                await result
        except Exception:  # a broken callback must not stop scaling
            log.exception("autoscale hook %r failed", hook)
