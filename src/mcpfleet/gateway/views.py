"""What a gateway endpoint shows: the whole fleet namespaced, one server as is, or a virtual server.

A view turns the fleet's servers into one MCP server's lists and routes each call back to the
server (and the upstream name) it came from:

- :class:`FleetView` (``/mcp``): every running server; tools and prompts become
  ``server__name`` (separator configurable); resource URIs stay as they are unless two servers
  list the same URI, in which case the later one is shown as ``mcpfleet://server/<uri>``.
- :class:`ServerView` (``/servers/{name}/mcp``): one server, names untouched.
- :class:`VirtualView` (``/virtual/{name}/mcp``): a named subset of the fleet's tools, given as
  ``server__tool`` names or ``server__*`` globs in config.

Lists are cached per server and dropped when the server says ``list_changed`` or restarts.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote, unquote

from mcpfleet.exceptions import FleetError
from mcpfleet.protocol.paging import all_pages

__all__ = ["FleetView", "ListCache", "LocalTools", "Route", "ServerView", "View", "VirtualView"]

log = logging.getLogger("mcpfleet.gateway")

KINDS = {  # list method -> (result key, name key)
    "tools/list": ("tools", "name"),
    "prompts/list": ("prompts", "name"),
    "resources/list": ("resources", "uri"),
    "resources/templates/list": ("resourceTemplates", "uriTemplate"),
}
_CAPABILITY = {  # list method -> the server capability that offers it
    "tools/list": "tools",
    "prompts/list": "prompts",
    "resources/list": "resources",
    "resources/templates/list": "resources",
}
_WRAPPED = "mcpfleet://"
_MIRRORED = frozenset({"tools", "prompts", "resources", "logging", "completions"})  # what the gateway relays


class Upstream(Protocol):
    """What a view needs from the fleet (the manager provides it)."""

    def running_servers(self) -> list[str]: ...

    def list_servers(self) -> list[str]: ...

    def server_capabilities(self, server: str) -> dict[str, Any] | None: ...

    def speaks_stateless(self, server: str) -> bool: ...

    async def request(
        self,
        server: str,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        session_key: str | None = None,
        pin: list[str] | None = None,
    ) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Route:
    """Where a client-facing name goes: the server and the name it has there."""

    server: str
    name: str


Allow = Callable[[str, str, dict[str, Any]], bool]  # (server, list method, item) -> shown?


class ListCache:
    """Each server's list results, until its ``list_changed`` or restart."""

    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream
        self._items: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._tools: dict[str, dict[str, dict[str, Any]]] = {}  # tools/list by name, per server
        self.version = 0  # bumps on every invalidation, so views can tell their clients
        # Sees every tools/list fetched from upstream (the tool pins compare it with theirs).
        self.on_tools: Callable[[str, list[dict[str, Any]]], None] | None = None

    async def items(self, server: str, method: str) -> list[dict[str, Any]]:
        key = (server, method)
        cached = self._items.get(key)
        if cached is not None:
            return cached
        declared = self.upstream.server_capabilities(server)
        if declared is not None and _CAPABILITY[method] not in declared:
            return []  # it offers none of these: asking would only get "method not found"
        items = await all_pages(lambda p: self.upstream.request(server, method, p), KINDS[method][0])
        if method == "tools/list" and self.on_tools is not None:
            self.on_tools(server, items)
        self._items[key] = items
        return items

    def tool_names(self, server: str) -> frozenset[str] | None:
        """The names in the server's cached tools/list; None when it is not cached."""
        tools = self._tools_of(server)
        return None if tools is None else frozenset(tools)

    def knows(self, server: str, name: str) -> bool | None:
        """Whether the server's cached tools/list has ``name``; None when it is not cached."""
        tools = self._tools_of(server)
        return None if tools is None else name in tools

    def tool(self, server: str, name: str) -> dict[str, Any] | None:
        """The server's cached tools/list entry for ``name`` (its annotations, schema...)."""
        tools = self._tools_of(server)
        return None if tools is None else tools.get(name)

    async def fetch_tool(self, server: str, name: str) -> dict[str, Any] | None:
        """Like :meth:`tool`, listing the server's tools first if they are not cached yet."""
        if self._items.get((server, "tools/list")) is None:
            try:
                await self.items(server, "tools/list")
            except FleetError:
                return None
        return self.tool(server, name)

    def _tools_of(self, server: str) -> dict[str, dict[str, Any]] | None:
        tools = self._tools.get(server)
        if tools is None:
            items = self._items.get((server, "tools/list"))
            if items is None:
                return None
            tools = self._tools[server] = {str(t.get("name")): t for t in items}
        return tools

    def invalidate(self, server: str, method: str | None = None) -> None:
        if method in (None, "tools/list"):
            self._tools.pop(server, None)
        for key in [k for k in self._items if k[0] == server and (method is None or k[1] == method)]:
            del self._items[key]
        self.version += 1


class View:
    """Base view: lists from some servers, renamed; calls routed back."""

    def __init__(self, cache: ListCache, separator: str = "__") -> None:
        self.cache = cache
        self.separator = separator

    def servers(self) -> list[str]:
        return self.cache.upstream.running_servers()

    def public_name(self, server: str, name: str) -> str:
        return f"{server}{self.separator}{name}"

    def route(self, kind: str, name: str) -> Route:
        server, sep, upstream_name = name.partition(self.separator)
        if not sep or server not in self.cache.upstream.list_servers():
            raise KeyError(name)
        # A server that is not running still routes: the request then says why it is down.
        return Route(server, upstream_name)

    def capabilities(self) -> dict[str, Any]:
        """What the view offers: every kind, and subscriptions and completions where a server has them."""
        offered: dict[str, Any] = {
            "tools": {"listChanged": True},
            "resources": {"listChanged": True, "subscribe": False},
            "prompts": {"listChanged": True},
            "logging": {},
        }
        for server in self.servers():
            upstream = self.cache.upstream.server_capabilities(server) or {}
            if (upstream.get("resources") or {}).get("subscribe"):
                offered["resources"]["subscribe"] = True
            if "completions" in upstream:
                offered["completions"] = {}
        return offered

    def keep(self, server: str, kind: str, item: dict[str, Any]) -> bool:
        return True

    async def _server_items(self, server: str, method: str) -> list[dict[str, Any]]:
        try:
            return await self.cache.items(server, method)
        except FleetError as exc:
            # One sick server must not hide the rest of the fleet's lists.
            log.warning("listing %s of %s failed: %s", method, server, exc)
            return []

    async def list(self, method: str, allow: Allow | None = None) -> list[dict[str, Any]]:
        """Every item of the view's servers, renamed; ``allow(server, method, item)`` (the
        caller's access rights) may hide some."""
        _, key = KINDS[method]
        servers = self.servers()
        per_server = await asyncio.gather(*(self._server_items(s, method) for s in servers))
        out: list[dict[str, Any]] = []
        seen: set[str] = set()
        for server, items in zip(servers, per_server, strict=True):
            for item in items:
                if not self.keep(server, method, item) or (
                    allow is not None and not allow(server, method, item)
                ):
                    continue
                renamed = dict(item)
                renamed[key] = self.rename(server, method, str(item[key]), seen)
                seen.add(renamed[key])
                out.append(renamed)
        return out

    def rename(self, server: str, method: str, name: str, seen: set[str]) -> str:
        if method in {"tools/list", "prompts/list"}:
            return self.public_name(server, name)
        if name in seen:  # resources keep their URI unless two servers share it
            return f"{_WRAPPED}{server}/{quote(name, safe='')}"
        return name

    async def route_resource(self, uri: str) -> Route:
        if uri.startswith(_WRAPPED):
            server, _, rest = uri[len(_WRAPPED) :].partition("/")
            if server in self.servers():
                return Route(server, unquote(rest))
        for server in self.servers():
            for item in await self._server_items(server, "resources/list"):
                if item.get("uri") == uri:
                    return Route(server, uri)
        for server in self.servers():  # a URI from a template: the first server with templates takes it
            for item in await self._server_items(server, "resources/templates/list"):
                prefix = str(item.get("uriTemplate", "")).split("{", 1)[0]
                if prefix and uri.startswith(prefix):
                    return Route(server, uri)
        raise KeyError(uri)


class LocalTools(Protocol):
    """Tools the gateway answers itself (the on-demand meta-tools)."""

    def tools(self) -> list[dict[str, Any]]: ...

    def handles(self, name: str) -> bool: ...

    async def call(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]: ...


class FleetView(View):
    """``/mcp``: every running server, namespaced, and the gateway's own ``local`` tools."""

    def __init__(self, cache: ListCache, separator: str = "__", local: LocalTools | None = None) -> None:
        super().__init__(cache, separator)
        self.local = local

    async def list(self, method: str, allow: Allow | None = None) -> list[dict[str, Any]]:
        items = await super().list(method, allow)
        if method == "tools/list" and self.local is not None:
            for tool in self.local.tools():
                server, _, name = str(tool["name"]).partition(self.separator)
                if allow is None or allow(server, method, {**tool, "name": name}):
                    items.append(tool)
        return items


class ServerView(View):
    """``/servers/{name}/mcp``: one server with its own names."""

    def __init__(self, cache: ListCache, server: str) -> None:
        super().__init__(cache)
        self.server = server

    def servers(self) -> list[str]:
        return [self.server]

    def public_name(self, server: str, name: str) -> str:
        return name

    def rename(self, server: str, method: str, name: str, seen: set[str]) -> str:
        return name

    def route(self, kind: str, name: str) -> Route:
        return Route(self.server, name)

    async def route_resource(self, uri: str) -> Route:
        return Route(self.server, uri)  # the server itself says whether it has it

    async def _server_items(self, server: str, method: str) -> list[dict[str, Any]]:
        return await self.cache.items(server, method)  # a server that is down says so, not []

    def capabilities(self) -> dict[str, Any]:
        """The server's own capabilities, as it declared them (the gateway's defaults before it runs)."""
        upstream = self.cache.upstream.server_capabilities(self.server)
        if upstream is None:
            return super().capabilities()
        offered = {k: dict(v) if isinstance(v, dict) else v for k, v in upstream.items() if k in _MIRRORED}
        offered["logging"] = {}  # the gateway answers logging/setLevel itself
        for kind in ("tools", "prompts", "resources"):
            if kind in offered:
                offered[kind]["listChanged"] = True  # restarts are announced as list changes
        return offered


class VirtualView(View):
    """A named subset of the fleet's tools (``server__tool`` names or globs); no resources or prompts."""

    def __init__(self, cache: ListCache, patterns: Sequence[str], separator: str = "__") -> None:
        super().__init__(cache, separator)
        self.patterns = list(patterns)

    def _allowed(self, public: str) -> bool:
        return any(fnmatch.fnmatchcase(public, p) for p in self.patterns)

    def servers(self) -> list[str]:
        running = self.cache.upstream.running_servers()
        server_globs = [p.partition(self.separator)[0] for p in self.patterns]
        return [s for s in running if any(fnmatch.fnmatchcase(s, g) for g in server_globs)]

    def keep(self, server: str, kind: str, item: dict[str, Any]) -> bool:
        return kind == "tools/list" and self._allowed(self.public_name(server, str(item["name"])))

    def route(self, kind: str, name: str) -> Route:
        if kind != "tools/call" or not self._allowed(name):
            raise KeyError(name)
        return super().route(kind, name)

    async def route_resource(self, uri: str) -> Route:
        raise KeyError(uri)
