"""Resource subscriptions: clients subscribe through the gateway, the upstream once per resource.

The first client subscribing to a server's resource subscribes upstream; the last one leaving
unsubscribes. ``notifications/resources/updated`` from the upstream goes to the subscribers of
that resource only, under the URI each of them subscribed with (the fleet view may wrap it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from mcpfleet.gateway.context import ClientState

__all__ = ["Subscriptions"]

Send = Callable[[str, str, dict[str, Any]], Awaitable[dict[str, Any]]]  # (server, method, params)


class Subscriptions:
    """Who is subscribed to what, per (server, upstream URI)."""

    def __init__(self) -> None:
        self._subscribers: dict[tuple[str, str], dict[str, tuple[ClientState, str]]] = {}
        self._lock = asyncio.Lock()  # a subscribe and an unsubscribe of one resource do not cross

    async def subscribe(
        self, server: str, uri: str, public_uri: str, client: ClientState, send: Send, params: dict[str, Any]
    ) -> dict[str, Any]:
        async with self._lock:
            key = (server, uri)
            subscribers = self._live(key)
            if not subscribers:
                await send(server, "resources/subscribe", params)
            self._subscribers.setdefault(key, {})[client.id] = (client, public_uri)
        return {}

    async def unsubscribe(
        self, server: str, uri: str, client: ClientState, send: Send, params: dict[str, Any]
    ) -> dict[str, Any]:
        async with self._lock:
            key = (server, uri)
            subscribers = self._live(key)
            if subscribers.pop(client.id, None) is not None and not subscribers:
                del self._subscribers[key]
                await send(server, "resources/unsubscribe", params)
        return {}

    def _live(self, key: tuple[str, str]) -> dict[str, tuple[ClientState, str]]:
        subscribers = self._subscribers.get(key, {})
        for client_id in [cid for cid, (client, _) in subscribers.items() if client.closed]:
            del subscribers[client_id]
        return subscribers

    def deliver(self, server: str, params: dict[str, Any]) -> int:
        """Send an upstream's ``notifications/resources/updated`` to its subscribers; how many got it."""
        uri = params.get("uri")
        if not isinstance(uri, str):
            return 0
        sent = 0
        for client, public_uri in list(self._live((server, uri)).values()):
            if client.notifications.full():
                continue  # a client that does not read its stream loses notifications, not memory
            updated = {**params, "uri": public_uri}
            client.notifications.put_nowait(
                {"jsonrpc": "2.0", "method": "notifications/resources/updated", "params": updated}
            )
            sent += 1
        return sent
