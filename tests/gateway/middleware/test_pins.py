"""The pin middleware on its own: held tools are left out of lists and their calls refused before
they reach the fleet; a server whose list was never read is listed (and so reviewed) first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mcpfleet.database import Database
from mcpfleet.gateway.context import ClientState, ListRequest, ToolCall
from mcpfleet.gateway.middleware.pins import PinMiddleware
from mcpfleet.security.pins import PinStore, ToolPins

V1 = [{"name": "a", "description": "one"}, {"name": "b", "description": "two"}]
V2 = [{"name": "a", "description": "one, changed"}, {"name": "b", "description": "two"}]


async def test_a_held_tool_is_hidden_and_refused(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path}/fleet.db")
    ToolPins(PinStore(database), {"s": "strict"}).review("s", "1", V1)  # the first start pins
    pins = ToolPins(PinStore(database), {"s": "strict"})  # a later gateway: nothing listed yet
    listed: list[tuple[str, str]] = []

    async def fetch_tool(server: str, tool: str) -> dict[str, Any] | None:
        listed.append((server, tool))
        pins.review(server, "1", V2)  # what listing the server does (ListCache.on_tools)
        return None

    middleware = PinMiddleware(pins, fetch_tool)
    client = ClientState("2026-07-28", stateless=True)
    forwarded: list[str] = []

    async def upstream(call: ToolCall) -> dict[str, Any]:
        forwarded.append(call.tool)
        return {"content": [{"type": "text", "text": "ran"}]}

    refused = await middleware.on_call_tool(ToolCall("s", "a", {"name": "a"}, client, "r1"), upstream)
    served = await middleware.on_call_tool(ToolCall("s", "b", {"name": "b"}, client, "r2"), upstream)
    assert listed == [("s", "a")]  # reviewed before the first call was judged
    assert refused["isError"] is True and "mcpfleet tools accept s a" in refused["content"][0]["text"]
    assert served["content"][0]["text"] == "ran" and forwarded == ["b"]

    request = ListRequest("tools/list", client, "r3")

    async def list_step(req: ListRequest) -> dict[str, Any]:
        return {"tools": [t for t in V2 if all(allow("s", "tools/list", t) for allow in req.allows)]}

    shown = await middleware.on_list(request, list_step)
    assert [t["name"] for t in shown["tools"]] == ["b"]
    database.dispose()
