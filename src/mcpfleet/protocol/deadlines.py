"""The timeouts of one connection's requests, under one timer.

``asyncio.timeout()`` gives every request a timer of its own in the event loop's heap, armed
when it is sent and cancelled when it is answered: at thousands of calls a second, most of a
timeout's cost goes on requests that never come near it. :class:`Deadlines` keeps each
request's due time in a dict and one timer for the earliest; when it fires, the requests past
due fail and the timer is set for the next. A request answered costs a dict entry.

A request past due while it is still being sent (its transport waiting for the other side to
read) is cancelled instead, as ``asyncio.timeout()`` would do: :meth:`Deadline.expired_cancel`
then tells that cancellation from any other.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Coroutine
from typing import Any

__all__ = ["Deadline", "Deadlines", "Expired"]


class Expired(Exception):
    """A request's time ran out before its answer came."""


class Deadline:
    """One request's due time; ``sending`` is set while its task may wait to send it."""

    __slots__ = ("_cancelling", "due", "expired", "future", "sending")

    def __init__(self, due: float, future: asyncio.Future[Any]) -> None:
        self.due = due
        self.future = future
        self.expired = False
        self.sending: asyncio.Task[Any] | None = None
        self._cancelling = 0

    def send_from(self, task: asyncio.Task[Any] | None) -> None:
        """The task is about to send the request (``None``: it has sent it)."""
        self.sending = task
        if task is not None:
            self._cancelling = task.cancelling()

    def expired_cancel(self) -> bool:
        """Whether a CancelledError in the sending task was this deadline's, and nothing else's
        (it is then taken back)."""
        task = self.sending
        return self.expired and task is not None and task.uncancel() <= self._cancelling


class Deadlines:
    """The due times of a connection's requests in flight (see the module docstring)."""

    def __init__(self) -> None:
        self._entries: dict[Any, Deadline] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._at = math.inf

    def add(self, key: Any, timeout: float, future: asyncio.Future[Any]) -> Deadline:
        loop = future.get_loop()
        entry = self._entries[key] = Deadline(loop.time() + timeout, future)
        if entry.due < self._at:
            if self._timer is not None:
                self._timer.cancel()
            self._at = entry.due
            self._timer = loop.call_at(entry.due, self._fire, loop)
        return entry

    def _fire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer, self._at = None, math.inf
        now = loop.time()
        following = math.inf
        for key, entry in list(self._entries.items()):
            if entry.due > now:
                following = min(following, entry.due)
                continue
            del self._entries[key]
            entry.expired = True
            if entry.sending is not None:
                entry.sending.cancel()
            elif not entry.future.done():
                entry.future.set_exception(Expired())
        if following < math.inf:
            self._at = following
            self._timer = loop.call_at(following, self._fire, loop)

    async def answer(
        self, key: Any, timeout: float, future: asyncio.Future[Any], sending: Coroutine[Any, Any, None]
    ) -> Any:
        """``sending``, then ``future``'s result, within ``timeout`` seconds (else :class:`Expired`)."""
        deadline = self.add(key, timeout, future)
        try:
            deadline.send_from(asyncio.current_task())
            try:
                await sending
            except asyncio.CancelledError:
                if deadline.expired_cancel():
                    raise Expired from None
                raise
            deadline.send_from(None)
            return await future
        finally:
            self._entries.pop(key, None)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._at = None, math.inf
        self._entries.clear()
