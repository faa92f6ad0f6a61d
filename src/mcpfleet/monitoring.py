"""``HealthMonitor``: probes every instance, alerts, and heals what the supervisor cannot see.

    from mcpfleet.monitoring import HealthMonitor, WebhookAlerts

    monitor = HealthMonitor(manager, interval=10, alert_threshold=3,
                            alerts=[WebhookAlerts("https://hooks.example.com/mcp", slack=True)])
    status = await monitor.check_all()      # {server: {"healthy", "error", "latency_ms", ...}}
    await monitor.start()                   # the loop the guide writes by hand, built in

The supervisor restarts processes that exit; the monitor catches the ones that live but do not
answer. A probe is a real MCP request within ``timeout``: ``ping`` on the session protocol,
``server/discover`` on 2026-07-28. After ``alert_threshold`` failed probes in a row an instance
is alerted on and replaced (stopped, SIGKILLed if frozen, started afresh). One that needs
``max_recoveries`` replacements within ``recovery_window`` is left failed and alerted on once,
not replaced forever; so is one the supervisor gave up on. A server that could not start is
started again with backoff (its ``next_try`` shows in ``mcpfleet status``), unless its start
failed for good (a package the registry lacks, say: see :mod:`mcpfleet.runtime.state`): that is
alerted on once and left alone until someone restarts it.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from mcpfleet.backoff import Backoff
from mcpfleet.clock import Clock, MonotonicClock
from mcpfleet.exceptions import FleetError
from mcpfleet.runtime import Instance, InstanceState
from mcpfleet.runtime.state import ServerState

if TYPE_CHECKING:
    from mcpfleet.manager import MCPManager

__all__ = ["Alert", "HealthMonitor", "LogAlerts", "WebhookAlerts"]

log = logging.getLogger("mcpfleet.monitoring")


@dataclass(frozen=True)
class Alert:
    """Something an operator should know: ``kind`` is ``unhealthy``, ``recovered`` or ``failed``."""

    kind: str
    server: str
    instance: str
    message: str
    at: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


AlertSink = Callable[[Alert], Awaitable[None] | None]
Hook = Callable[[str, dict[str, Any]], Awaitable[None] | None]


class LogAlerts:
    """Alerts as log records (warning; error for ``failed``)."""

    def __call__(self, alert: Alert) -> None:
        level = logging.ERROR if alert.kind == "failed" else logging.WARNING
        log.log(level, "%s %s (%s): %s", alert.kind.upper(), alert.server, alert.instance, alert.message)


class WebhookAlerts:
    """Alerts POSTed as JSON to ``url``, retried with backoff (0.5 s, doubling); ``slack=True``
    sends ``{"text": ...}``."""

    def __init__(
        self,
        url: str,
        *,
        slack: bool = False,
        retries: int = 3,
        timeout: float = 5.0,
        clock: Clock | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"webhook URL must be http(s)://..., got {url!r}")
        self.url = url
        self.slack = slack
        self.retries = retries
        self.timeout = timeout
        self.clock = clock or MonotonicClock()

    def payload(self, alert: Alert) -> dict[str, Any]:
        if self.slack:
            icon = {"failed": ":red_circle:", "unhealthy": ":warning:"}.get(alert.kind, ":white_check_mark:")
            return {
                "text": f"{icon} mcpfleet: {alert.server} ({alert.instance}) {alert.kind}: {alert.message}"
            }
        return {"source": "mcpfleet", **alert.to_dict()}

    async def __call__(self, alert: Alert) -> None:
        backoff = Backoff(0.5, math.inf, clock=self.clock)  # uncapped: ``retries`` bounds it
        async with httpx.AsyncClient(timeout=self.timeout) as http:
            for attempt in range(1, self.retries + 1):
                try:
                    response = await http.post(self.url, json=self.payload(alert))
                    if response.status_code < 500 and response.status_code != 429:
                        if response.status_code >= 400:
                            log.error("webhook %s refused an alert: HTTP %s", self.url, response.status_code)
                        return
                    problem = f"HTTP {response.status_code}"
                except httpx.HTTPError as exc:
                    problem = f"{type(exc).__name__}: {exc}"
                if attempt < self.retries:
                    await self.clock.sleep(backoff.next())
        log.error("webhook %s did not take an alert after %d tries (%s)", self.url, self.retries, problem)


MAX_START_BACKOFF = 300.0  # seconds between tries to start a server that keeps failing to


@dataclass
class _Start:
    backoff: Backoff  # its attempts are the failed tries so far
    alerted: bool = False
    task: asyncio.Task[None] | None = None
    gave_up: bool = False  # its start failed for good, and that was alerted on


@dataclass
class _Track:
    failures: int = 0  # consecutive failed probes
    alerted: bool = False  # in an unhealthy episode that was alerted on
    failed: bool = False  # given up on: alerted once, not replaced again
    recoveries: deque[float] = field(default_factory=deque)
    restarts: int = 0  # the instance's restart count at the last round


class HealthMonitor:
    """Health of every server of ``manager``; ``start()`` runs checks, alerts and recovery.

    ``clock`` (the loop's waits, the recovery window, the start backoff) is for tests to replace.
    """

    def __init__(
        self,
        manager: MCPManager,
        *,
        interval: float = 10.0,
        timeout: float = 5.0,
        degraded_ms: float = 1000.0,
        alert_threshold: int = 3,
        max_recoveries: int = 3,
        recovery_window: float = 600.0,
        alerts: Sequence[AlertSink] | None = None,
        on_unhealthy: Hook | None = None,
        on_recovered: Hook | None = None,
        clock: Clock | None = None,
    ) -> None:
        if interval <= 0 or timeout <= 0:
            raise ValueError("interval and timeout must be positive numbers of seconds")
        if alert_threshold < 1 or max_recoveries < 1:
            raise ValueError("alert_threshold and max_recoveries must be at least 1")
        self.manager = manager
        self.interval = interval
        self.timeout = timeout
        self.degraded_ms = degraded_ms
        self.alert_threshold = alert_threshold
        self.max_recoveries = max_recoveries
        self.recovery_window = recovery_window
        self.alerts: list[AlertSink] = list(alerts) if alerts is not None else [LogAlerts()]
        self.on_unhealthy = on_unhealthy
        self.on_recovered = on_recovered
        self.clock = clock or MonotonicClock()
        self.last: dict[str, dict[str, Any]] = {}
        self._tracks: dict[str, _Track] = {}
        self._starts: dict[str, _Start] = {}  # servers wanted but not running, being started again
        self._task: asyncio.Task[None] | None = None
        self._deliveries: set[asyncio.Future[Any]] = set()

    # ------------------------------------------------------------------ probes

    async def check_instance(self, instance: Instance) -> dict[str, Any]:
        """One probe: alive, and a real MCP request answered within ``timeout``."""
        detail: dict[str, Any] = {
            "id": instance.id,
            "state": instance.state.value,
            "pid": instance.pid,
            "healthy": False,
            "degraded": False,
            "latency_ms": None,
            "error": None,
        }
        session = instance.session
        if instance.state is not InstanceState.READY or session is None:
            detail["error"] = instance.last_error or f"instance is {instance.state.value}"
            return detail
        if instance.launch.url is None and instance.pid is None:
            detail["error"] = "its process is not running"
            return detail
        started = time.perf_counter()
        try:
            await session.ping(timeout=self.timeout)
        except FleetError as exc:
            detail["error"] = str(exc)
            return detail
        latency = (time.perf_counter() - started) * 1000
        detail.update(healthy=True, latency_ms=round(latency, 3), degraded=latency > self.degraded_ms)
        if detail["degraded"]:
            detail["error"] = f"answered in {latency:.0f} ms (over {self.degraded_ms:g} ms)"
        return detail

    async def check_server(self, server: str) -> dict[str, Any]:
        """A probe of each instance; ``state``, ``last_error``, ``restarts`` and ``next_try`` say
        where the server is (see :mod:`mcpfleet.runtime.state`)."""
        instances = self.manager.get_server_instances(server)
        details = await asyncio.gather(*(self.check_instance(i) for i in instances))
        healthy = [d for d in details if d["healthy"]]
        errors = [f"{d['id']}: {d['error']}" for d in details if d["error"]]
        state = self.manager.server_state(server)
        if not instances and server not in self.manager.wanted:
            # Installed, never asked to run (or stopped on purpose): idle, not sick; nothing to alert.
            return {
                "healthy": True,
                "idle": True,
                "degraded": False,
                "error": None,
                "latency_ms": None,
                "checked_at": time.time(),
                **state.to_dict(),
                "instances": [],
            }
        if not instances:
            errors = [state.summary()]  # backing off (next try in 8s): ...; gave up: ...
        return {
            "healthy": bool(healthy),
            "idle": False,
            "degraded": bool(healthy) and all(d["degraded"] for d in healthy),
            "error": "; ".join(errors) or None,
            "latency_ms": min(d["latency_ms"] for d in healthy) if healthy else None,
            "checked_at": time.time(),
            **state.to_dict(),
            "instances": list(details),
        }

    async def check_all(self) -> dict[str, dict[str, Any]]:
        """Every enabled server of the fleet. One asked to run that is not running is unhealthy, its
        error its state (``backing off (next try in 8s): ...``, ``gave up: ...``); one never asked
        to run (or stopped on purpose) is ``idle``: healthy, with nothing to alert on or restart."""
        names = [n for n, s in self.manager.config.servers.items() if s.enabled and s.instances > 0]
        names += [n for n in self.manager.running_servers() if n not in names]
        results = await asyncio.gather(*(self.check_server(n) for n in names))
        self.last = dict(zip(names, results, strict=True))
        return self.last

    # ------------------------------------------------------------------ the loop

    async def start(self) -> None:
        """Check every ``interval`` seconds in the background until :meth:`stop`."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop(), name="mcpfleet-health")

    async def stop(self, *, deliver_within: float = 10.0) -> None:
        """Stop checking; alerts still being delivered get up to ``deliver_within`` seconds."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        starting = [a.task for a in self._starts.values() if a.task is not None]
        for task in starting:
            task.cancel()
        await asyncio.gather(*starting, return_exceptions=True)
        if self._deliveries:
            await asyncio.wait(self._deliveries, timeout=deliver_within)

    async def _loop(self) -> None:
        while True:
            try:
                await self.round()
            except Exception:  # the monitor must outlive one bad round
                log.exception("health check round failed")
            await self.clock.sleep(self.interval)

    async def round(self) -> dict[str, dict[str, Any]]:
        """One round: check everything, then alert on and recover what needs it."""
        results = await self.check_all()
        lb = self.manager.load_balancer
        for server, status in results.items():
            if server in self._starts:  # being started again: its instances are followed once it runs
                continue
            by_id = {i.id: i for i in self.manager.get_server_instances(server)}
            for detail in status["instances"]:
                instance = by_id.get(detail["id"])
                if instance is None:
                    continue
                if any(t.id == instance.id for t in lb.targets(server)):
                    lb.set_state(
                        server,
                        instance.id,
                        healthy=detail["healthy"] or instance.state is not InstanceState.READY,
                    )
                await self._follow(server, instance, detail, status)
        await lb.check_health(self.timeout, remote_only=True)  # backup and redirect URLs
        running = set(self.manager.running_servers())
        for server in sorted(self.manager.wanted - running):
            state = self.manager.server_state(server)
            if state.state is ServerState.GAVE_UP:  # for good: trying again would fail alike
                await self._gave_up(server, state.last_error or "its start failed")
            else:
                self._start_again(server)
        # A server whose start is under way is among the running ones, but has not recovered yet.
        started = [s for s in self._starts if s in running and self._state(s) is not ServerState.STARTING]
        for server in started:
            if self._starts.pop(server).alerted:
                await self._alert_server("recovered", server, "started after failing to start")
        return results

    def _state(self, server: str) -> ServerState:
        return self.manager.server_state(server).state

    async def _gave_up(self, server: str, why: str) -> None:
        attempt = self._starts.get(server)
        if attempt is None:
            backoff = Backoff(self.interval, MAX_START_BACKOFF, clock=self.clock)
            attempt = self._starts[server] = _Start(backoff)
        if not attempt.gave_up:
            attempt.gave_up = attempt.alerted = True
            way_out = "" if "mcpfleet restart" in why else f": fix it, then `mcpfleet restart {server}`"
            await self._alert_server("failed", server, f"{why}; not tried again{way_out}")

    def _start_again(self, server: str) -> None:
        """Try again to start a server that could not start, with backoff (in the background:
        a start may take its whole startup timeout)."""
        attempt = self._starts.get(server)
        if attempt is None:
            backoff = Backoff(self.interval, MAX_START_BACKOFF, clock=self.clock)
            attempt = self._starts[server] = _Start(backoff)
        attempt.gave_up = False  # restarted since: a failure for good is alerted on again
        if attempt.task is not None or not attempt.backoff.due:
            return
        attempt.task = asyncio.create_task(self._start(server, attempt), name=f"mcpfleet-start-{server}")

    async def _start(self, server: str, attempt: _Start) -> None:
        try:
            await self.manager.start_server(server)
        except FleetError as exc:
            if self._state(server) is ServerState.GAVE_UP:
                return  # for good: the next round alerts, and nothing is tried again
            delay = attempt.backoff.next()
            history = self.manager.start_histories.get(server)
            if history is not None:
                history.next_try = time.time() + delay
            log.warning(
                "%s could not start (try %d): %s; trying again in %gs",
                server, attempt.backoff.attempts, exc, delay,
            )  # fmt: skip
            if not attempt.alerted:
                attempt.alerted = True
                await self._alert_server(
                    "unhealthy", server, f"could not start: {exc}; retrying with backoff"
                )
        except Exception:  # a bug must not end the retries for good
            log.exception("starting %s failed", server)
        finally:
            attempt.task = None

    async def _follow(
        self, server: str, instance: Instance, detail: dict[str, Any], status: dict[str, Any]
    ) -> None:
        track = self._tracks.setdefault(instance.id, _Track(restarts=instance.restarts))
        restarted = instance.restarts > track.restarts  # it died since the last round, seen or not
        track.restarts = instance.restarts
        if detail["healthy"] and not restarted:
            if track.alerted or track.failed:
                await self._alert("recovered", server, instance, f"healthy again ({detail['latency_ms']} ms)")
                await self._hook(self.on_recovered, server, status)
            self._tracks[instance.id] = _Track(recoveries=track.recoveries, restarts=track.restarts)
            return
        track.failures += 1
        if track.failed:
            return
        supervisor = self.manager.supervisor(server)
        gave_up = supervisor.gave_up_on(instance.id) if supervisor is not None else None
        if gave_up is not None:
            track.failed = True
            await self._alert("failed", server, instance, gave_up)
            await self._hook(self.on_unhealthy, server, status)
            return
        session = instance.session
        # It exited (or its connection did): its supervisor restarts it, so there is nothing to
        # replace, but an operator still hears of it.
        exited = restarted or instance.state is not InstanceState.READY or session is None or session.closed
        if track.failures < self.alert_threshold:
            return
        if not track.alerted:
            track.alerted = True
            why = str(detail["error"])
            if exited:
                why = f"exited ({instance.last_error or why}); its supervisor restarts it"
            await self._alert("unhealthy", server, instance, why)
            await self._hook(self.on_unhealthy, server, status)
        if exited:
            return
        now = self.clock.monotonic()
        while track.recoveries and now - track.recoveries[0] > self.recovery_window:
            track.recoveries.popleft()
        if len(track.recoveries) >= self.max_recoveries:
            track.failed = True
            await self._alert(
                "failed",
                server,
                instance,
                f"still unhealthy after {len(track.recoveries)} replacements within "
                f"{self.recovery_window:g}s; left alone: see `mcpfleet logs {server}`, fix it, "
                f"then `mcpfleet restart {server}`",
            )
            return
        track.recoveries.append(now)
        track.failures = 0
        log.warning("%s: replacing %s (%s)", server, instance.id, detail["error"])
        if supervisor is not None:
            try:
                await supervisor.replace(instance)
            except FleetError as exc:
                log.warning("%s: replacing %s failed: %s", server, instance.id, exc)

    async def _alert_server(self, kind: str, server: str, message: str) -> None:
        await self._deliver(Alert(kind, server, "-", message))

    async def _alert(self, kind: str, server: str, instance: Instance, message: str) -> None:
        await self._deliver(Alert(kind, server, instance.id, message))

    async def _deliver(self, alert: Alert) -> None:
        """Hand the alert to every sink; slow ones (webhooks retrying) run apart from the checks."""
        for sink in self.alerts:
            try:
                result = sink(alert)
            except Exception:  # one broken sink must not silence the others
                log.exception("alert sink %r failed", sink)
                continue
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(result)
                self._deliveries.add(task)
                task.add_done_callback(self._delivered)

    def _delivered(self, task: asyncio.Future[Any]) -> None:
        self._deliveries.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("an alert sink failed: %s", task.exception())

    @staticmethod
    async def _hook(hook: Hook | None, server: str, status: dict[str, Any]) -> None:
        if hook is None:
            return
        try:
            result = hook(server, status)
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("health hook %r failed", hook)
