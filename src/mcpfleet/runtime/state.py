"""What a server (or one instance) is doing, in one vocabulary for ``status``, the admin API,
``health``, ``/readyz`` and ``/metrics``.

    idle ──> starting ──> ready ──> draining | maintenance      (an operator's choice)
               │  ^         │ crashed
        failed v  │ retry   v
             backing_off <──┘
               │ restart.max_restarts within restart.window (an instance), never (a whole server)
               v
             gave_up <── starting, when it failed in a way no retry can mend
    gave_up ── `mcpfleet restart` ──> starting;   any ── `mcpfleet stop` ──> stopped

A start that fails because of something no retry can mend (a package the registry does not
have, a command that is not on PATH, a config error) goes straight to ``gave_up``, with the
installer's or launcher's own message; it is tried again only when asked (``mcpfleet restart``).

The facts live where they happen (the supervisor's restart loop, the launcher's starts);
:func:`server_state` folds them into one :class:`StateSnapshot`, which every view reads.
It imports only :mod:`mcpfleet.exceptions`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from mcpfleet.exceptions import (
    STDERR_MARKER,
    ConfigError,
    MissingEnvError,
    PackageNotFoundError,
    ToolchainMissingError,
    UnknownServerError,
)

__all__ = ["ServerState", "StartHistory", "StateSnapshot", "cannot_heal", "one_line", "server_state"]

ERROR_CHARS = 300  # a last error is one line of at most this many characters


class ServerState(StrEnum):
    """Where a server (or an instance) is in its life."""

    IDLE = "idle"  # installed (or not), never asked to run: on-demand servers before their first call
    STARTING = "starting"
    READY = "ready"
    BACKING_OFF = "backing_off"  # failed; tried again at ``next_try``
    GAVE_UP = "gave_up"  # failed and left alone until someone restarts it
    STOPPED = "stopped"  # stopped on purpose
    DRAINING = "draining"  # takes no new calls; those in flight finish
    MAINTENANCE = "maintenance"  # takes no calls (its backups do, if it has any)

    @property
    def label(self) -> str:
        """For people: ``backing off``, ``gave up``."""
        return self.value.replace("_", " ")


@dataclass(frozen=True)
class StateSnapshot:
    """A server's (or an instance's) state at one moment.

    ``last_error`` is one line, secrets masked; ``restarts`` counts restarts and starts tried
    again after a failed one; ``next_try`` is the Unix time of the next try while backing off
    (None when no try is planned yet).
    """

    state: ServerState
    last_error: str | None = None
    restarts: int = 0
    next_try: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "last_error": self.last_error,
            "restarts": self.restarts,
            "next_try": self.next_try,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StateSnapshot:
        """A snapshot from :meth:`to_dict`'s fields (a status row from the admin API, say)."""
        try:
            state = ServerState(str(data.get("state")))
        except ValueError:
            state = ServerState.IDLE
        next_try = data.get("next_try")
        return cls(
            state,
            data.get("last_error") or None,
            int(data.get("restarts") or 0),
            float(next_try) if isinstance(next_try, int | float) else None,
        )

    def headline(self, now: float | None = None) -> str:
        """The state for people: ``ready``, ``backing off (next try in 8s)``, ``gave up``."""
        text = self.state.label
        if self.state is ServerState.BACKING_OFF:
            if self.next_try is not None:
                wait = max(0.0, self.next_try - (time.time() if now is None else now))
                text += f" (next try in {wait:.0f}s)"
            else:
                text += " (tried again soon)"
        return text

    def summary(self, now: float | None = None) -> str:
        """One line: ``backing off (next try in 8s): exited with code 3``; ``gave up: ...``."""
        text = self.headline(now)
        if self.last_error and self.state not in (ServerState.READY, ServerState.IDLE):
            text += f": {self.last_error}"
        return text


@dataclass
class StartHistory:
    """A server's starts as its launcher saw them (the supervisor keeps its instances' restarts).

    ``failures`` counts failed starts in a row; ``retries`` every start tried again after a
    failed one (counted as restarts). ``gave_up`` is set by a failure no retry can mend;
    ``next_try`` (Unix time) by whoever plans the next try (the health monitor).
    """

    failures: int = 0
    retries: int = 0
    last_error: str | None = None
    gave_up: bool = False
    next_try: float | None = None
    stopped: bool = False

    def starting(self) -> None:
        """A start begins: a retry, if the last one failed."""
        if self.failures:
            self.retries += 1
        self.gave_up = False
        self.next_try = None
        self.stopped = False

    def failed(self, error: str, *, permanent: bool) -> None:
        self.failures += 1
        self.last_error = error
        self.gave_up = permanent

    def succeeded(self) -> None:
        self.failures = 0
        self.last_error = None
        self.gave_up = False
        self.next_try = None

    def stop(self) -> None:
        """Stopped on purpose: whatever failed before is no longer being tried."""
        self.succeeded()
        self.stopped = True


# Failures no retry can mend: trying again would fail the same way until someone changes something.
_LASTING = (ConfigError, MissingEnvError, PackageNotFoundError, ToolchainMissingError, UnknownServerError)


def cannot_heal(error: BaseException | None) -> bool:
    """Whether a start failure is one that retrying cannot mend: a package the registry does not
    have, a toolchain that is missing, a config error or a ``${VAR}`` nothing sets."""
    return isinstance(error, _LASTING)


def one_line(error: object, secrets: Iterable[str] = ()) -> str:
    """An error as one line for a status column: its first line, and the last line of the stderr
    tail it carries; each of ``secrets`` (four characters or more) masked as ``***``."""
    text = str(error)
    head, _, tail = text.partition(STDERR_MARKER)
    lines = [line.strip() for line in head.splitlines() if line.strip()]
    line = lines[0] if lines else type(error).__name__
    last = [t.strip() for t in tail.splitlines() if t.strip()]
    if last:
        line += f" ({last[-1]})"
    elif len(lines) > 1:  # an installer's message: its own last line says the most
        line += f" ({lines[-1]})"
    for secret in sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True):
        line = line.replace(secret, "***")
    return line if len(line) <= ERROR_CHARS else line[: ERROR_CHARS - 1] + "…"


# A server is what its most useful instance is: one ready serves calls; one starting soon will.
_ORDER = (
    ServerState.READY,
    ServerState.DRAINING,
    ServerState.MAINTENANCE,
    ServerState.STARTING,
    ServerState.BACKING_OFF,
    ServerState.GAVE_UP,
)


def server_state(
    *,
    instances: Sequence[StateSnapshot],
    history: StartHistory | None,
    starting: bool,
    mode: str | None,
) -> StateSnapshot:
    """A server's state from its instances' states, its launcher's starts and its balancer mode
    (``draining`` or ``maintenance``: they take precedence, being an operator's choice)."""
    restarts = sum(i.restarts for i in instances) + (history.retries if history is not None else 0)
    errors = [i for i in instances if i.last_error]
    # The error worth reading first: one that stopped an instance for good, then one being retried.
    errors.sort(key=lambda i: (i.state is not ServerState.GAVE_UP, i.state is not ServerState.BACKING_OFF))
    last_error = errors[0].last_error if errors else None
    if history is not None and history.last_error and not instances:
        last_error = history.last_error
    if mode in (ServerState.DRAINING, ServerState.MAINTENANCE):
        return StateSnapshot(ServerState(mode), last_error, restarts)
    if starting:  # installing, or its first instances on their way (not all marked starting yet)
        return StateSnapshot(ServerState.STARTING, last_error, restarts)
    if instances:
        states = {i.state for i in instances}
        state = next((s for s in _ORDER if s in states), ServerState.STOPPED)
        tries = [i.next_try for i in instances if i.state is state and i.next_try is not None]
        next_try = min(tries) if state is ServerState.BACKING_OFF and tries else None
        return StateSnapshot(state, last_error, restarts, next_try)
    if history is not None and history.failures:
        if history.gave_up:
            return StateSnapshot(ServerState.GAVE_UP, last_error, restarts)
        return StateSnapshot(ServerState.BACKING_OFF, last_error, restarts, history.next_try)
    if history is not None and history.stopped:
        return StateSnapshot(ServerState.STOPPED, None, restarts)
    return StateSnapshot(ServerState.IDLE, None, restarts)
