"""The way back to the client a request is made for: one hop from the upstream connection.

A gateway serving a client's request sets :data:`current_channel` for the task that forwards it.
Every layer below (manager, balancer, instance) runs in that task, so the
:class:`~mcpfleet.protocol.session.ClientSession` that sends the request picks the channel up
and sends what the upstream says about that request straight to it: progress, log messages,
and the upstream's own requests (sampling, elicitation, roots).

A request made without a channel (a health probe, a list the gateway caches, a call from
Python) has none: the upstream's requests then get an error and its notifications go to the
session's ``on_notification``.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any, Protocol

__all__ = ["Channel", "current_channel"]


class Channel(Protocol):
    """One client request's way back to its client."""

    @property
    def owner(self) -> object:
        """Who the request is for (its client session): requests of one owner may share news."""
        ...

    @property
    def stateless(self) -> bool:
        """The client speaks 2026-07-28 (its input requests travel as ``input_required`` rounds)."""
        ...

    @property
    def capabilities(self) -> Mapping[str, Any]:
        """What the client declared (``sampling``, ``elicitation``, ``roots``...)."""
        ...

    @property
    def log_level(self) -> str | None:
        """The least severe log level the client wants (for a 2026-07-28 upstream's ``_meta``)."""
        ...

    @property
    def headers(self) -> Mapping[str, str]:
        """Headers of the client's request that the upstream must see too (``Mcp-Param-*``)."""
        ...

    def notify(self, method: str, params: dict[str, Any]) -> None:
        """A notification about the request (progress with the client's own token, a log message)."""
        ...

    async def ask(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """Put the upstream's request to the client; its result, or ToolCallError with its error."""
        ...


current_channel: ContextVar[Channel | None] = ContextVar("mcpfleet_channel", default=None)
