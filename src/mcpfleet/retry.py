"""Which calls may be repeated on another instance when the one running them dies mid-call.

Everything but ``tools/call`` changes nothing and may always be repeated. A tool may be if it
says so itself (``readOnlyHint`` or ``idempotentHint``, learned from ``tools/list``) or the
server's config lists it in ``retry_tools``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from mcpfleet.exceptions import FleetError

__all__ = ["RepeatSafety"]


class RepeatSafety:
    """What each server's tools say of themselves, as seen in their ``tools/list``."""

    def __init__(self) -> None:
        self._safe: dict[str, dict[str, bool]] = {}  # server -> tool -> safe to repeat

    def learn(self, server: str, tools: list[dict[str, Any]], *, first_page: bool = True) -> None:
        known = {} if first_page else self._safe.get(server, {})
        for tool in tools:
            hints = tool.get("annotations") or {}
            known[str(tool.get("name"))] = bool(hints.get("readOnlyHint") or hints.get("idempotentHint"))
        self._safe[server] = known

    async def allows(
        self,
        server: str,
        method: str,
        params: dict[str, Any],
        retry_tools: Sequence[str],
        list_tools: Callable[[], Awaitable[list[dict[str, Any]]]],
    ) -> bool:
        """Whether this request may run again; ``list_tools`` asks for a server never listed."""
        if method != "tools/call":
            return True  # lists, reads, prompts, completions and pings change nothing
        name = str(params.get("name"))
        if name in retry_tools:
            return True
        if name not in self._safe.get(server, {}):
            try:
                self.learn(server, await list_tools())
            except FleetError:
                return False
        return self._safe.get(server, {}).get(name, False)
