"""``CircuitBreaker``: an instance that keeps failing is left alone for a while, then tried once."""

from __future__ import annotations

import logging

from mcpfleet.backoff import Backoff
from mcpfleet.clock import Clock, MonotonicClock

__all__ = ["CircuitBreaker"]

log = logging.getLogger("mcpfleet.loadbalancer")


class CircuitBreaker:
    """Stops calls to an instance after ``threshold`` failures in a row, for ``cooldown`` seconds.

    Then one trial call goes through (half-open): success closes the circuit, failure opens it
    again for twice as long (up to ``max_cooldown``). ``clock`` is for tests to replace.
    """

    def __init__(
        self,
        threshold: int = 5,
        cooldown: float = 2.0,
        max_cooldown: float = 60.0,
        *,
        clock: Clock | None = None,
    ) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self.max_cooldown = max_cooldown
        self.clock = clock or MonotonicClock()
        self.failures = 0
        self.open_until: float | None = None
        self._backoff = Backoff(cooldown, max_cooldown, clock=self.clock)
        self._trial = False  # the half-open trial call is in flight

    @property
    def state(self) -> str:
        if self.open_until is None:
            return "closed"
        return "open" if self.clock.monotonic() < self.open_until else "half-open"

    def allows(self) -> bool:
        if self.open_until is None:  # closed: every call, so the check costs nothing
            return True
        return self.state == "half-open" and not self._trial

    def started(self) -> None:
        if self.open_until is not None and self.state == "half-open":
            self._trial = True

    def ended(self) -> None:
        self._trial = False

    def succeeded(self) -> None:
        if not self.failures and self.open_until is None and not self._trial:
            return  # closed and clean already (the usual case): nothing to reset
        self.failures = 0
        self.open_until = None
        self._backoff.reset()
        self._trial = False

    def failed(self) -> None:
        self.failures += 1
        if self._trial or self.failures >= self.threshold:
            wait = self._backoff.next()  # cooldown when it opens; twice as long after a failed trial
            self.open_until = self.clock.monotonic() + wait
            log.warning("circuit opened for %.1fs after %d failure(s)", wait, self.failures)
        self._trial = False
