"""``Supervisor``: keeps a server's instances running.

A crashed instance is restarted after an exponential backoff with jitter; after
``restart.max_restarts`` restarts within ``restart.window`` seconds it is marked failed and left
alone (and says so) until :meth:`Supervisor.restart`; :meth:`Supervisor.instance_state` says
which of these an instance is in (see :mod:`mcpfleet.runtime.state`). Every stop reaps the
instance's whole process group, so no sequence of starts, stops, crashes and restarts leaves a
process behind.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from mcpfleet.backoff import Backoff
from mcpfleet.clock import Clock, MonotonicClock
from mcpfleet.config import ServerSpec
from mcpfleet.exceptions import FleetError
from mcpfleet.home import FleetHome
from mcpfleet.install import LaunchSpec
from mcpfleet.runtime.instance import Instance, InstanceState, Updater
from mcpfleet.runtime.state import ServerState, StateSnapshot, one_line

__all__ = ["Supervisor"]

log = logging.getLogger("mcpfleet.runtime")
Event = Callable[[str, str, dict[str, Any]], None]


class Supervisor:
    """Runs ``count`` instances of one server and restarts them when they crash."""

    def __init__(
        self,
        server: str,
        spec: ServerSpec,
        launch: LaunchSpec,
        home: FleetHome,
        *,
        env: Mapping[str, str],
        version: str,
        clock: Clock | None = None,
        on_event: Event | None = None,
        rng: random.Random | None = None,
        pool: Any = None,
        updater: Updater | None = None,
    ) -> None:
        self.server = server
        self.pool = pool  # a ConnectionPool for remote servers' sessions
        self.spec = spec
        self.launch = launch
        self.home = home
        self.env = dict(env)
        self.version = version
        self.clock = clock or MonotonicClock()
        self.on_event = on_event
        self.updater = updater  # given to each instance: what its update()/rollback() use
        self.instances: list[Instance] = []
        self._rng = rng or random.Random()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._history: dict[str, deque[float]] = {}
        self._given_up: dict[str, str] = {}
        self._next_try: dict[str, float] = {}  # instance id -> Unix time of its next restart
        self._next_index = 0
        self._stopping = False

    # ------------------------------------------------------------------ facts

    def ready_instances(self) -> list[Instance]:
        return [i for i in self.instances if i.state is InstanceState.READY]

    @property
    def failed_reason(self) -> str | None:
        """Why the server cannot take calls, once every instance has been given up on."""
        if not self.instances or self.ready_instances() or len(self._given_up) < len(self.instances):
            return None
        return "; ".join(f"{iid}: {why}" for iid, why in self._given_up.items())

    def instance_state(self, instance: Instance) -> StateSnapshot:
        """Where one of its instances is: ready, starting, backing off (until when), gave up, ..."""
        given_up = self._given_up.get(instance.id)
        error = instance.last_error
        next_try = None
        if given_up is not None:
            state, error = ServerState.GAVE_UP, given_up
        elif instance.state in (InstanceState.FAILED, InstanceState.UNHEALTHY):
            state, next_try = ServerState.BACKING_OFF, self._next_try.get(instance.id)
        elif instance.state is InstanceState.STOPPED:
            state = ServerState.STOPPED
        else:  # starting, ready, draining and maintenance are spelt alike
            state = ServerState(instance.state.value)
        if error is not None:
            error = one_line(error, instance.secret_values())
        return StateSnapshot(state, error, instance.restarts, next_try)

    def _emit(self, method: str, params: dict[str, Any]) -> None:
        if self.on_event is not None:
            self.on_event(self.server, method, params)

    def _notify(self, method: str, params: dict[str, Any]) -> None:
        self._emit(method, params)

    def new_instance(
        self,
        *,
        spec: ServerSpec | None = None,
        launch: LaunchSpec | None = None,
        version: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Instance:
        """The next instance of this server, not started and not yet supervised.

        ``spec``, ``launch``, ``version`` and ``env`` override the supervisor's own (a rolling
        update starts instances of the next version beside those of the current one).
        """
        instance = Instance(
            self.server,
            self._next_index,
            spec or self.spec,
            launch or self.launch,
            self.home,
            env=self.env if env is None else env,
            version=version or self.version,
            clock=self.clock,
            on_notification=self._notify,
            pool=self.pool,
            updater=self.updater,
        )
        self._next_index += 1
        return instance

    # ------------------------------------------------------------------ lifecycle

    async def start(self, count: int) -> list[Instance]:
        """Start ``count`` instances at once; raises the first error only if none started."""
        self._stopping = False
        new = [self.new_instance() for _ in range(count)]
        self.instances += new
        results = await asyncio.gather(*(i.start() for i in new), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        for error in errors:
            if not isinstance(error, Exception):
                raise error  # cancellation and the like are not start failures
        if new and len(errors) == len(new):
            raise errors[0]
        for instance, result in zip(new, results, strict=True):
            if isinstance(result, BaseException):
                log.warning("%s did not start, will retry: %s", instance.id, result)
            self._supervise(instance)
        return new

    def _supervise(self, instance: Instance) -> None:
        task = self._tasks.get(instance.id)
        if task is None or task.done():
            self._tasks[instance.id] = asyncio.create_task(
                self._keep_running(instance), name=f"mcpfleet-supervise-{instance.id}"
            )

    async def _keep_running(self, instance: Instance) -> None:
        history = self._history.setdefault(instance.id, deque())
        policy = self.spec.restart
        # Jitter: instances that crash together do not all restart together.
        backoff = Backoff(
            policy.backoff_initial, policy.backoff_max, jitter=0.5, clock=self.clock, rng=self._rng
        )
        while not self._stopping:
            if instance.state is not InstanceState.FAILED:
                await instance.ended.wait()
                if self._stopping or instance.state is InstanceState.STOPPED:
                    return
            now = self.clock.monotonic()
            while history and now - history[0] > policy.window:
                history.popleft()
            if len(history) >= policy.max_restarts:
                last = one_line(instance.last_error or "unknown", instance.secret_values())
                why = (
                    f"gave up after {len(history)} restarts within {policy.window:g}s "
                    f"(last error: {last}); "
                    f"fix it, then `mcpfleet restart {self.server}` or restart_server()"
                )
                self._given_up[instance.id] = why
                instance.last_error = why
                log.error("%s: %s", instance.id, why)
                self._emit("mcpfleet/instance_failed", {"instance": instance.id, "reason": why})
                return
            delay = backoff.delay(len(history))  # restarts within the window count, older ones not
            log.info("%s: restarting in %.2fs (%s)", instance.id, delay, instance.last_error)
            self._next_try[instance.id] = time.time() + delay
            try:
                await self.clock.sleep(delay)
            finally:
                self._next_try.pop(instance.id, None)
            if self._stopping:
                return
            history.append(self.clock.monotonic())
            instance.restarts += 1
            await instance.stop(grace=1.0)  # reap what is left of the crashed process group
            try:
                await instance.start()
            except FleetError as exc:
                log.warning("%s: restart failed: %s", instance.id, exc)
                continue
            self._emit(
                "mcpfleet/instance_restarted", {"instance": instance.id, "restarts": instance.restarts}
            )

    async def stop(self) -> None:
        """Stop every instance (process groups reaped) and the restart loops."""
        self._stopping = True
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*(i.stop() for i in self.instances), return_exceptions=True)

    def adopt(self, instance: Instance) -> None:
        """Make a started instance one of this server's (if it is not yet) and restart it on crashes."""
        if instance not in self.instances:
            self.instances.append(instance)
        self._supervise(instance)

    async def unwatch(self, instance: Instance) -> None:
        """Stop restarting an instance (it keeps running) while something else stops and starts it."""
        task = self._tasks.pop(instance.id, None)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def retire(self, instance: Instance, grace: float = 5.0) -> None:
        """Stop an instance for good and forget it (its process group is reaped)."""
        await self.unwatch(instance)
        if instance in self.instances:
            self.instances.remove(instance)
        self._given_up.pop(instance.id, None)
        self._history.pop(instance.id, None)
        await instance.stop(grace)

    def gave_up_on(self, instance_id: str) -> str | None:
        """Why the supervisor stopped restarting an instance, or None if it has not."""
        return self._given_up.get(instance_id)

    async def replace(self, instance: Instance) -> None:
        """Stop one instance (hung or sick, though its process lives) and start it afresh.

        Raises the start's :class:`FleetError` if it cannot start; supervision goes on either way.
        """
        task = self._tasks.pop(instance.id, None)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        instance.restarts += 1
        await instance.stop(grace=1.0)  # a frozen process ignores SIGTERM: it gets SIGKILL after 1 s
        try:
            await instance.start()
        finally:
            self._supervise(instance)

    async def restart(self) -> None:
        """Restart instances one at a time; a given-up instance starts afresh."""
        for instance in list(self.instances):
            task = self._tasks.pop(instance.id, None)
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            self._given_up.pop(instance.id, None)
            self._history.pop(instance.id, None)
            await instance.stop()
            try:
                await instance.start()
            except FleetError as exc:
                log.warning("%s: restart failed: %s", instance.id, exc)
            self._supervise(instance)

    async def remove(self, instance: Instance) -> None:
        """Stop one instance for good (it is not restarted) and forget it; the others run on."""
        if instance in self.instances:
            self.instances.remove(instance)
        task = self._tasks.pop(instance.id, None)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._given_up.pop(instance.id, None)
        self._history.pop(instance.id, None)
        await instance.stop()

    async def scale(self, count: int) -> None:
        """Run ``count`` instances: start new ones, or stop the newest."""
        if count > len(self.instances):
            await self.start(count - len(self.instances))
        while len(self.instances) > count:
            instance = self.instances.pop()
            task = self._tasks.pop(instance.id, None)
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            self._given_up.pop(instance.id, None)
            await instance.stop()
