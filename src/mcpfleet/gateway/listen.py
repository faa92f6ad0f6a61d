"""``subscriptions/listen`` (2026-07-28): one request whose answer is a stream of notifications.

The acknowledgement comes first and names what is honored (resources the caller may not read,
or that no server takes, are left out); list changes and resource updates follow, each frame
carrying the request's id as its subscription id, until the client goes away or the gateway
stops (then the request is answered, the graceful end).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from mcpfleet.gateway.context import ClientState
from mcpfleet.gateway.sse import Receive, Send, disconnected, event, start_stream

if TYPE_CHECKING:
    from mcpfleet.gateway.engine import Engine
    from mcpfleet.gateway.views import View

__all__ = ["Listeners"]

SUBSCRIPTION_ID = "io.modelcontextprotocol/subscriptionId"
LISTEN_KINDS = {  # notification -> the subscriptions/listen filter key that asks for it
    "notifications/tools/list_changed": "toolsListChanged",
    "notifications/prompts/list_changed": "promptsListChanged",
    "notifications/resources/list_changed": "resourcesListChanged",
}
KEEP_ALIVE = 15.0  # seconds between comments on a quiet stream


class Listeners:
    """The open listen streams; :meth:`publish` tells them of a list change."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.queues: set[asyncio.Queue[str | None]] = set()

    def publish(self, method: str | None) -> None:
        """Tell every listen stream of a list change (``None``: the gateway is stopping)."""
        for queue in list(self.queues):
            if not queue.full():  # a client that does not read loses notifications, not memory
                queue.put_nowait(method)

    async def serve(
        self, receive: Receive, send: Send, message: dict[str, Any], view: View, client: ClientState
    ) -> None:
        params = message.get("params") or {}
        wanted = params.get("notifications") if isinstance(params, dict) else None
        wanted = wanted if isinstance(wanted, dict) else {}
        honored: dict[str, Any] = {key: True for key in LISTEN_KINDS.values() if wanted.get(key) is True}
        meta = {SUBSCRIPTION_ID: message["id"]}
        # Resource updates reach the stream as they reach a session client: through its queue.
        watcher = ClientState(
            client.protocol_version, stateless=True, principal=client.principal, address=client.address
        )
        uris = wanted.get("resourceSubscriptions")
        if isinstance(uris, list) and uris:
            asked = [u for u in uris if isinstance(u, str)]
            honored["resourceSubscriptions"] = await self.engine.watch(view, asked, watcher)
        queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=100)
        self.queues.add(queue)
        gone = asyncio.ensure_future(disconnected(receive))
        try:
            await start_stream(send, [])
            ack = {"notifications": honored, "_meta": meta}
            await event(
                send, {"jsonrpc": "2.0", "method": "notifications/subscriptions/acknowledged", "params": ack}
            )
            while not gone.done():
                changed = asyncio.ensure_future(queue.get())
                updated = asyncio.ensure_future(watcher.notifications.get())
                await asyncio.wait(
                    {changed, updated, gone}, timeout=KEEP_ALIVE, return_when=asyncio.FIRST_COMPLETED
                )
                for waiting in (changed, updated):
                    if not waiting.done():
                        waiting.cancel()
                if updated.done() and not updated.cancelled():
                    note = updated.result()
                    await event(send, {**note, "params": {**note.get("params", {}), "_meta": meta}})
                if changed.done() and not changed.cancelled():
                    method = changed.result()
                    if method is None:  # the gateway is stopping: end the stream the graceful way
                        await event(send, {"jsonrpc": "2.0", "id": message["id"], "result": {"_meta": meta}})
                        break
                    if honored.get(LISTEN_KINDS.get(method, "")):
                        await event(send, {"jsonrpc": "2.0", "method": method, "params": {"_meta": meta}})
                elif not updated.done() and not gone.done():
                    await send({"type": "http.response.body", "body": b": keep-alive\n\n", "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            gone.cancel()
            self.queues.discard(queue)
            await self.engine.unwatch(watcher)
