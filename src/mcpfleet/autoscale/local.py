"""``LocalScaler``: the fleet's own instances, child processes of the manager.

:func:`resize` is how :meth:`MCPManager.scale_server` changes a running server's instance count.
Up: new instances start (as :meth:`Supervisor.start` starts them) and join the balancer. Down,
with no call cut: the instances with the fewest calls in flight leave rotation (no new calls),
their calls finish, then they stop; one still busy after ``drain_timeout`` returns to rotation,
is kept, and is logged.
"""

from __future__ import annotations

import asyncio
import logging
from statistics import fmean
from typing import TYPE_CHECKING

from mcpfleet.autoscale.base import BaseScaler, Usage
from mcpfleet.autoscale.process import ProcessTreeSampler, TreeUsage, machine_memory
from mcpfleet.exceptions import ScalingError, ServerUnavailableError

if TYPE_CHECKING:
    from mcpfleet.loadbalancer import Target
    from mcpfleet.runtime import Instance, Supervisor
    from mcpfleet.runtime.fleet import Event, Fleet

__all__ = ["LocalScaler", "resize"]

log = logging.getLogger("mcpfleet.autoscale")


def _running(fleet: Fleet, server: str) -> Supervisor:
    supervisor = fleet.supervisor(server)
    if supervisor is None:
        raise ServerUnavailableError(
            server, "is not running, so it cannot be scaled; start it first (start_server, `mcpfleet up`)"
        )
    if fleet.spec(server).package.type == "remote":
        raise ScalingError(
            f"{server} is a remote server: its instances run elsewhere and are scaled there "
            "(e.g. its Kubernetes Deployment, with KubernetesScaler)"
        )
    return supervisor


async def resize(
    fleet: Fleet,
    server: str,
    count: int,
    *,
    drain_timeout: float,
    lock: asyncio.Lock | None = None,
    on_event: Event | None = None,
) -> int:
    """Run ``count`` instances of a running local server; returns how many it runs afterwards.

    ``lock`` keeps changes to one server one at a time; ``on_event`` hears ``mcpfleet/scaled``
    when the count changed.
    """
    async with lock or asyncio.Lock():
        before = len(fleet.get_server_instances(server))
        after = await _resize(fleet, server, count, drain_timeout)
    if after != before and on_event is not None:
        on_event(server, "mcpfleet/scaled", {"from": before, "to": after})
    return after


async def _resize(fleet: Fleet, server: str, count: int, drain_timeout: float) -> int:
    if count < 1:
        raise ScalingError(
            f"cannot scale {server} to {count} instances: run at least 1, or stop it with stop_server()"
        )
    supervisor = _running(fleet, server)
    if count > len(supervisor.instances):
        await _grow(fleet, server, supervisor, count)
    elif count < len(supervisor.instances):
        await _shrink(fleet, server, supervisor, count, drain_timeout)
    return len(supervisor.instances)


async def _grow(fleet: Fleet, server: str, supervisor: Supervisor, count: int) -> None:
    before = len(supervisor.instances)
    try:
        new = await supervisor.start(count - before)
    except BaseException:
        # None started: take them out again, or they would sit there unsupervised.
        for instance in supervisor.instances[before:]:
            await supervisor.remove(instance)
        raise
    for instance in new:  # ones that failed to start are supervised (restarted) like any other
        fleet.load_balancer.add_instance(server, instance.id, instance)


async def _shrink(
    fleet: Fleet, server: str, supervisor: Supervisor, count: int, drain_timeout: float
) -> None:
    lb = fleet.load_balancer
    targets = {t.id: t for t in lb.targets(server)}

    def cost(instance: Instance) -> tuple[bool, int, int]:
        # Instances not taking calls go first, then the least busy; the newest among equals.
        target = targets.get(instance.id)
        return instance.accepting(), target.active if target is not None else 0, -instance.index

    victims = sorted(supervisor.instances, key=cost)[: len(supervisor.instances) - count]
    for victim in victims:
        target = targets.get(victim.id)
        if target is not None:
            target.draining = True  # the balancer sends it nothing new from here on
    try:
        drained = await asyncio.gather(*(_drain(targets.get(v.id), drain_timeout) for v in victims))
    except BaseException:  # cancelled mid-drain: the instances stay, and take calls again
        for victim in victims:
            if (target := targets.get(victim.id)) is not None:
                target.draining = False
        raise
    for victim, idle in zip(victims, drained, strict=True):
        target = targets.get(victim.id)
        if not idle and target is not None:
            target.draining = False
            log.warning(
                "%s: kept %s: %d call(s) still in flight after draining for %gs (raise drain_timeout "
                "to wait longer)", server, victim.id, target.active, drain_timeout,
            )  # fmt: skip
            continue
        lb.remove_instance(server, victim.id)
        await supervisor.remove(victim)
        log.info("%s: removed %s after its calls finished", server, victim.id)


async def _drain(target: Target | None, timeout: float) -> bool:
    """Wait until no call is in flight through ``target``; False if some still are at ``timeout``."""
    if target is None:
        return True
    try:
        async with asyncio.timeout(timeout):
            await target.wait_idle()
    except TimeoutError:
        return False
    return True


class LocalScaler(BaseScaler):
    """Scales the manager's own servers (not remote ones); CPU and memory per process tree."""

    def __init__(self, manager: Fleet) -> None:
        self.manager = manager
        self.sampler = ProcessTreeSampler()
        self.memory_total = machine_memory()

    def servers(self) -> list[str]:
        specs = self.manager.config.servers
        return [s for s in self.manager.running_servers() if s in specs and specs[s].package.type != "remote"]

    async def observe(self, server: str) -> Usage:
        instances = list(_running(self.manager, server).instances)
        ready = [i for i in instances if i.accepting()]
        pids = [i.pid for i in ready if i.pid is not None]
        live = {
            i.pid
            for s in self.manager.running_servers()
            for i in self.manager.get_server_instances(s)
            if i.pid is not None
        }
        samples = await asyncio.to_thread(self._sample, pids, live)
        if not samples:
            return Usage(len(instances), len(ready))
        return Usage(
            len(instances),
            len(ready),
            cpu_percent=fmean(s.cpu_percent for s in samples),
            memory_bytes=fmean(s.rss_bytes for s in samples),
            memory_budget=float(self.memory_total),
        )

    def _sample(self, pids: list[int], live: set[int]) -> list[TreeUsage]:
        self.sampler.retain(live)
        return [usage for pid in pids if (usage := self.sampler.sample(pid)) is not None]

    async def scale(self, server: str, count: int, *, drain_timeout: float) -> int:
        return await self.manager.scale_server(server, count, drain_timeout=drain_timeout)
