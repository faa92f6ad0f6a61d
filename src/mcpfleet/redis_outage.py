"""``RedisOutage``: how a Redis backend goes on without Redis, and notices when it is back.

The cache and the rate limiter share Redis between gateway replicas, and neither may fail or hold
a call because Redis does. Each keeps a ``RedisOutage``: the first failure marks Redis *down*
(logged once per outage, with what the backend does meanwhile); while down the backend works
without it (uncached calls, local limits) and calls :meth:`RedisOutage.probe_if_due`, which
runs the backend's ``reconnect`` in the background at most every ``probe_interval`` seconds,
never in a call's way. When ``reconnect`` succeeds Redis is *up* again.

    outage = RedisOutage(client, owned=True, where=url, probe_interval=2.0, reconnect=load_scripts,
                         clock=clock, log=log, subject="Cache", ...)
    try:
        await client.get(key)
    except OUTAGE_ERRORS as exc:
        outage.failed(exc)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from mcpfleet.clock import Clock
from mcpfleet.secrets import url_without_password

__all__ = ["OUTAGE_ERRORS", "RedisOutage", "fail_fast_options"]

# Anything Redis or the network can throw: refused, reset, timed out, OOM, READONLY, LOADING.
# OSError covers TimeoutError (socket timeouts, asyncio.timeout).
OUTAGE_ERRORS = (RedisError, OSError)


def fail_fast_options(timeout: float) -> dict[str, Any]:
    """Options for a client of our own: every call bounded by ``timeout`` and never retried (a
    retry would only hold the call longer; the backend goes on without Redis instead)."""
    return {"socket_timeout": timeout, "socket_connect_timeout": timeout, "retry": Retry(NoBackoff(), 0)}


class RedisOutage:
    """Whether Redis is out for one backend, the probe that finds it back, and the client's end.

    ``reconnect`` readies Redis again (loads scripts, replays what was missed) and raises one of
    :data:`OUTAGE_ERRORS` if it cannot. ``subject`` names the backend in the log ("Cache"),
    ``meanwhile`` says what it does while Redis is out, ``consequence`` (optional) what that
    means for the operator, and ``resumed`` what comes back.
    """

    def __init__(
        self,
        client: Redis,
        *,
        owned: bool,
        where: str,
        probe_interval: float,
        reconnect: Callable[[], Awaitable[None]],
        clock: Clock,
        log: logging.Logger,
        subject: str,
        meanwhile: str,
        resumed: str,
        consequence: str = "",
    ) -> None:
        self.client = client
        self.owned = owned  # the backend made the client: closing the backend closes it
        self.where = url_without_password(where)
        self.probe_interval = probe_interval
        self.outages = 0  # switches from up to down
        self._reconnect = reconnect
        self._clock = clock
        self._log = log
        self._subject, self._meanwhile, self._resumed = subject, meanwhile, resumed
        self._consequence = f" {consequence}" if consequence else ""
        self._down = False
        self._next_probe = 0.0
        self._probe: asyncio.Task[None] | None = None

    @property
    def down(self) -> bool:
        """True from a failure until a probe finds Redis back."""
        return self._down

    def failed(self, exc: BaseException) -> None:
        """A call to Redis failed: Redis is down (logged if it was up) and the next probe waits."""
        self._next_probe = self._clock.monotonic() + self.probe_interval
        if self._down:
            return  # calls in flight when Redis went away: already logged
        self._down = True
        self.outages += 1
        self._log.warning(
            "%s: Redis at %s failed (%s: %s); %s until it answers again (checked every %g s).%s",
            self._subject, self.where, type(exc).__name__, exc or "no answer in time",
            self._meanwhile, self.probe_interval, self._consequence,
        )  # fmt: skip

    def probe_if_due(self) -> None:
        """Start a probe in the background, unless one runs or the last began under
        ``probe_interval`` ago. Call it while :attr:`down`, on the calls that go without Redis."""
        now = self._clock.monotonic()
        if self._probe is None and now >= self._next_probe:
            self._next_probe = now + self.probe_interval
            name = f"{self._subject.lower().replace(' ', '-')}-redis-probe"
            self._probe = asyncio.create_task(self._run_probe(), name=name)

    async def _run_probe(self) -> None:
        try:
            await self._reconnect()
        except OUTAGE_ERRORS:
            self._next_probe = self._clock.monotonic() + self.probe_interval
        else:
            self._down = False
            self._log.info("%s: Redis at %s answers again; %s.", self._subject, self.where, self._resumed)
        finally:
            self._probe = None

    async def aclose(self) -> None:
        """Stop a probe in flight; close the client if the backend made it."""
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe
        if self.owned:
            await self.client.aclose()
