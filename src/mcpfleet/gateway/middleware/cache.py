"""Answers repeated tool calls from the cache, for the tools the fleet YAML says are safe to cache.

A tool is cached when ``cache.servers`` lists it (with its TTL), or the server is marked
``read_only`` and the tool is annotated ``readOnlyHint``. Entries are keyed by server, tool and
canonical arguments, and by the caller unless the tool is ``shared``. Errors, ``isError``
results and unfinished multi-round results are never stored.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from mcpfleet.cache import key
from mcpfleet.gateway.middleware import CallNext, Middleware, ToolCall

if TYPE_CHECKING:
    from mcpfleet.cache import CacheConfig, MCPCache

__all__ = ["CacheMiddleware"]


class CacheMiddleware(Middleware):
    """``tool(server, name)`` gives the server's tools/list entry (for its annotations), listing
    its tools first when they are not known yet."""

    name = "cache"

    def __init__(
        self,
        cache: MCPCache,
        config: CacheConfig,
        tool: Callable[[str, str], Awaitable[dict[str, Any] | None]],
    ) -> None:
        self.cache = cache
        self.config = config
        self.tool = tool

    async def on_call_tool(self, call: ToolCall, call_next: CallNext) -> dict[str, Any]:
        if call.local is not None:
            return await call_next(call)
        ttl, shared = self.config.policy_for(call.server, call.tool)  # by name alone
        if ttl is None and self._by_annotations(call.server):
            listed = await self.tool(call.server, call.tool)
            annotations = listed.get("annotations") if listed is not None else None
            ttl, shared = self.config.policy_for(call.server, call.tool, annotations)
        if ttl is None:
            return await call_next(call)
        scope = None if shared else (call.principal.name if call.principal is not None else "local")
        entry = key(call.server, call.tool, call.arguments, scope=scope)
        hit = await self.cache.get(entry)
        if hit is not None:
            call.extra["cache"] = "hit"
            return dict(hit)  # the caller may add fields (resultType); the stored entry stays as it was
        result = await call_next(call)
        if not result.get("isError") and result.get("resultType", "complete") == "complete":
            await self.cache.set(entry, dict(result), ttl)
        return result

    def _by_annotations(self, server: str) -> bool:
        rules = self.config.servers.get(server) or self.config.servers.get("*")
        return rules is not None and rules.read_only
