"""``Backoff``: the growing wait between tries, shared by everything that tries again.

    backoff = Backoff(0.5, 30.0, jitter=0.5)    # 0.5 s, 1 s, 2 s ... up to 30 s, each jittered
    await clock.sleep(backoff.next())           # after a failure
    backoff.reset()                             # after a success

``next()`` also starts the wait: :attr:`Backoff.due` says whether it has passed, for loops that
try again when they come by rather than by sleeping.
"""

from __future__ import annotations

import math
import random

from mcpfleet.clock import Clock, MonotonicClock

__all__ = ["Backoff"]


class Backoff:
    """Delays of ``initial * factor ** n`` for the n-th try again, capped at ``maximum``.

    ``jitter`` is the share of each delay drawn at random (0.5: between half and all of it), so
    that many clients failing together do not all come back together. ``clock`` and ``rng`` are
    for tests to replace.
    """

    def __init__(
        self,
        initial: float,
        maximum: float,
        *,
        factor: float = 2.0,
        jitter: float = 0.0,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if not initial > 0 or not maximum > 0:
            raise ValueError(f"backoff delays must be positive, not initial={initial!r} maximum={maximum!r}")
        if not factor >= 1:
            raise ValueError(f"a backoff factor below 1 would shrink the delays: {factor!r}")
        if not 0 <= jitter <= 1:
            raise ValueError(f"backoff jitter is a share of the delay, from 0 to 1, not {jitter!r}")
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self.jitter = jitter
        self.clock = clock or MonotonicClock()
        self.attempts = 0  # delays handed out by next() since the last reset
        self._rng = rng or random.Random()
        self._until = -math.inf

    def delay(self, attempt: int) -> float:
        """The delay before try again number ``attempt`` (0 for the first), jittered; changes nothing.

        For callers that count tries themselves (the supervisor counts restarts within a window).
        """
        try:
            delay = min(self.initial * self.factor**attempt, self.maximum)
        except OverflowError:  # it was capped long ago
            delay = self.maximum
        if self.jitter:
            delay = delay * (1 - self.jitter) + self._rng.uniform(0, delay * self.jitter)
        return delay

    def next(self) -> float:
        """The delay before the next try, longer with each call until :meth:`reset`; starts it."""
        delay = self.delay(self.attempts)
        self.attempts += 1
        self._until = self.clock.monotonic() + delay
        return delay

    @property
    def due(self) -> bool:
        """Whether the delay last handed out by :meth:`next` has passed (True before any)."""
        return self.clock.monotonic() >= self._until

    def reset(self) -> None:
        """Start over from ``initial``, due at once: the thing tried worked."""
        self.attempts = 0
        self._until = -math.inf
