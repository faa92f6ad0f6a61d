"""Servers on demand: meta-tools that let an agent on ``/mcp`` find and add servers itself.

    fleet__find_servers(query)   the catalog and the MCP registry, best matches first
    fleet__add_server(name)      install, verify and start it; its tools then appear (list_changed)

``gateway.on_demand.approval`` decides what ``fleet__add_server`` may do: ``auto`` goes ahead,
``deny`` refuses, ``approve`` waits until an operator runs ``mcpfleet approve ID`` (or POSTs to
``/api/v1/approvals/ID``), or until ``approval_timeout`` passes.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mcpfleet.config import OnDemandConfig
from mcpfleet.exceptions import FleetError, UnknownServerError

if TYPE_CHECKING:
    from mcpfleet.manager import MCPManager

__all__ = ["Approval", "OnDemand"]

log = logging.getLogger("mcpfleet.gateway")


@dataclass
class Approval:
    """A server an agent asked for, waiting for an operator's yes or no."""

    id: str
    server: str
    description: str
    asked_at: float = field(default_factory=time.time)
    decision: asyncio.Future[bool] = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "server": self.server,
            "description": self.description,
            "asked_at": self.asked_at,
        }


def _text(text: str, *, error: bool = False) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": text}], "isError": error}


class OnDemand:
    """The meta-tools, and the approvals they wait for."""

    def __init__(self, manager: MCPManager, config: OnDemandConfig, separator: str = "__") -> None:
        self.manager = manager
        self.config = config
        self.find_name = f"fleet{separator}find_servers"
        self.add_name = f"fleet{separator}add_server"
        self.pending: dict[str, Approval] = {}
        self._adding: dict[str, asyncio.Task[dict[str, Any]]] = {}

    @property
    def active(self) -> bool:
        """Shown only when enabled and no fleet server is itself named ``fleet``."""
        return self.config.enabled and "fleet" not in self.manager.config.servers

    def tools(self) -> list[dict[str, Any]]:
        if not self.active:
            return []
        policy = {
            "auto": "It is installed at once.",
            "approve": "An operator must approve it first; the call waits for that.",
            "deny": "Adding servers is switched off on this fleet: the call will be refused.",
        }[self.config.approval]
        return [
            {
                "name": self.find_name,
                "description": "Find MCP servers this fleet can add: its built-in catalog and the "
                "public MCP registry. Returns names to pass to " + self.add_name + ".",
                "inputSchema": {
                    "type": "object",
                    "properties": {"query": {"type": "string", "description": "words to look for"}},
                    "required": ["query"],
                },
                "annotations": {"readOnlyHint": True, "openWorldHint": True},
            },
            {
                "name": self.add_name,
                "description": "Install, verify and start an MCP server by name; its tools then "
                f"appear in this fleet's tool list. {policy}",
                "inputSchema": {
                    "type": "object",
                    "properties": {"name": {"type": "string", "description": "a name from find_servers"}},
                    "required": ["name"],
                },
                "annotations": {"readOnlyHint": False, "idempotentHint": True, "openWorldHint": True},
            },
        ]

    def handles(self, name: str) -> bool:
        return self.active and name in (self.find_name, self.add_name)

    async def call(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        if name == self.find_name:
            query = arguments.get("query")
            if not isinstance(query, str):
                return _text("find_servers needs a string `query`", error=True)
            return await self.find(query)
        server = arguments.get("name")
        if not isinstance(server, str) or not server.strip():
            return _text("add_server needs the `name` of a server (see find_servers)", error=True)
        return await self.add(server.strip())

    # ------------------------------------------------------------------ find

    async def find(self, query: str) -> dict[str, Any]:
        catalog = self.manager.catalog
        found = await catalog.search(query, limit=15)
        running = set(self.manager.running_servers())
        lines = []
        for entry in found:
            state = " (running)" if entry.name in running else ""
            needs = entry.required_env()
            need = f" needs: {', '.join(needs)}" if needs else ""
            lines.append(f"- {entry.name}{state}: {entry.description}{need}")
        note = getattr(catalog, "last_registry_error", None)
        if not lines:
            text = f"No server matches {query!r}."
        else:
            text = f"Servers matching {query!r} (add one with {self.add_name}):\n" + "\n".join(lines)
            text += f"\n(From the {catalog.last_source}.)"
        if note:
            text += f"\n(The MCP registry could not be searched: {note}; built-in catalog only.)"
        return _text(text)

    # ------------------------------------------------------------------ add

    async def add(self, server: str) -> dict[str, Any]:
        manager = self.manager
        if server in manager.running_servers():
            return _text(f"{server} is already running; its tools are named {server}__<tool>.")
        if self.config.approval == "deny":
            return _text(
                f"Adding servers on demand is switched off on this fleet (gateway.on_demand.approval: "
                f"deny); ask an operator to add {server!r}.",
                error=True,
            )
        try:
            entry = None if server in manager.config.servers else await manager.catalog.resolve(server)
        except UnknownServerError as exc:
            return _text(f"{exc} Use {self.find_name} to look for one.", error=True)
        except FleetError as exc:
            return _text(str(exc), error=True)
        if self.config.approval == "approve":
            description = entry.description if entry is not None else manager.spec(server).description
            approved, why = await self._wait_for_approval(server, description)
            if not approved:
                return _text(why, error=True)
        # One install per server, however many agents ask at once.
        task = self._adding.get(server)
        if task is None or task.done():
            task = self._adding[server] = asyncio.ensure_future(self._install_and_start(server))
        return await asyncio.shield(task)

    async def _wait_for_approval(self, server: str, description: str) -> tuple[bool, str]:
        approval = Approval(secrets.token_hex(4), server, description)
        self.pending[approval.id] = approval
        log.warning(
            "an agent asks to add %s; run `mcpfleet approve %s` (or `--deny`) within %gs",
            server,
            approval.id,
            self.config.approval_timeout,
        )
        try:
            async with asyncio.timeout(self.config.approval_timeout):
                approved = await asyncio.shield(approval.decision)
        except TimeoutError:
            return False, (
                f"No operator approved adding {server!r} within {self.config.approval_timeout:g}s "
                f"(request {approval.id}); ask them to run `mcpfleet approve {approval.id}` sooner, "
                "or try again later."
            )
        finally:
            self.pending.pop(approval.id, None)
        if not approved:
            return False, f"An operator declined adding {server!r} (request {approval.id})."
        return True, ""

    def decide(self, approval_id: str, approve: bool) -> Approval:
        """An operator's answer; raises :class:`UnknownServerError` for an unknown or expired ID."""
        approval = self.pending.get(approval_id)
        if approval is None:
            raise UnknownServerError(approval_id, list(self.pending), where="the pending approvals")
        if not approval.decision.done():
            approval.decision.set_result(approve)
        return approval

    async def _install_and_start(self, server: str) -> dict[str, Any]:
        manager = self.manager
        try:
            async with asyncio.timeout(self.config.install_timeout):
                outcome = await manager.install(server, verify=True)
                name = outcome.server
                await manager.start_server(name)
                tools = await manager.list_tools(name)
        except TimeoutError:
            return _text(
                f"Adding {server} did not finish within {self.config.install_timeout:g}s "
                "(gateway.on_demand.install_timeout); it may finish if you ask again.",
                error=True,
            )
        except FleetError as exc:
            return _text(f"Could not add {server}: {exc}", error=True)
        names = ", ".join(f"{name}__{t.name}" for t in tools)
        return _text(f"Added {name}. Its tools: {names}.")
