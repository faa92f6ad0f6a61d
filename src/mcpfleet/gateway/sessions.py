"""Client sessions of the session protocol (2025-11-25 and older), kept in this process.

Idle sessions expire; the store is bounded so a client that never deletes its sessions cannot
grow it without limit (the oldest idle one goes first).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

from mcpfleet.gateway.context import ClientState
from mcpfleet.gateway.jsonrpc import SUPPORTED_SESSION_VERSIONS
from mcpfleet.gateway.session_tokens import SessionCodec

__all__ = ["SessionStore"]


class SessionStore:
    """``secret`` (``gateway.session_secret``, the same on every replica) makes session ids
    signed carriers of their session, so a replica can serve sessions another one opened."""

    def __init__(
        self, *, idle_timeout: float = 3600.0, max_sessions: int = 10_000, secret: str | None = None
    ) -> None:
        self.idle_timeout = idle_timeout
        self.max_sessions = max_sessions
        self.codec = SessionCodec(secret)
        self._sessions: OrderedDict[str, ClientState] = OrderedDict()

    def open(self, client: ClientState, params: dict[str, Any]) -> None:
        """Start ``client``'s session from its ``initialize`` params: with a shared secret its id
        carries the session (version, capabilities, client info, who opened it)."""
        asked = params.get("protocolVersion")
        principal = client.principal
        token = self.codec.mint(
            {
                "v": asked if asked in SUPPORTED_SESSION_VERSIONS else SUPPORTED_SESSION_VERSIONS[0],
                "c": params.get("capabilities") if isinstance(params.get("capabilities"), dict) else {},
                "i": params.get("clientInfo") if isinstance(params.get("clientInfo"), dict) else {},
                "p": [principal.name, principal.method] if principal is not None else None,
            }
        )
        if token is not None:
            client.id = token
        self.add(client)

    def find(self, session_id: str, principal: Any, address: str | None) -> ClientState | None:
        """The session with this id: this replica's own, or one another replica opened (rebuilt
        from a signed id, for the caller who opened it)."""
        client = self.get(session_id)
        if client is not None:
            return client
        state = self.codec.open(session_id)
        if state is None:
            return None
        opener = state.get("p")
        caller = [principal.name, principal.method] if principal is not None else None
        if opener != caller:
            return None
        client = ClientState(
            str(state.get("v")),
            id=session_id,
            client_info=dict(state.get("i") or {}),
            capabilities=dict(state.get("c") or {}),
            initialized=True,
            principal=principal,
            address=address,
        )
        self.add(client)
        return client

    def __len__(self) -> int:
        return len(self._sessions)

    def add(self, client: ClientState) -> None:
        self._expire()
        while len(self._sessions) >= self.max_sessions:
            _, oldest = self._sessions.popitem(last=False)
            self._cancel(oldest)
        self._sessions[client.id] = client

    def get(self, session_id: str) -> ClientState | None:
        client = self._sessions.get(session_id)
        if client is None:
            return None
        now = time.monotonic()
        if now - client.last_seen > self.idle_timeout:
            self.remove(session_id)
            return None
        client.last_seen = now
        self._sessions.move_to_end(session_id)
        return client

    def remove(self, session_id: str) -> ClientState | None:
        client = self._sessions.pop(session_id, None)
        if client is not None:
            self._cancel(client)
        return client

    def all(self) -> list[ClientState]:
        return list(self._sessions.values())

    def _expire(self) -> None:
        now = time.monotonic()
        for session_id, client in list(self._sessions.items()):
            if now - client.last_seen <= self.idle_timeout:
                break  # ordered by last use: the rest are fresher
            self.remove(session_id)

    @staticmethod
    def _cancel(client: ClientState) -> None:
        client.closed = True
        for task in client.in_flight.values():
            task.cancel()
        if not client.notifications.full():
            client.notifications.put_nowait({})  # wakes its GET stream, which then ends

    def close_all(self) -> None:
        """End every session (shutdown): streams close instead of holding the server open."""
        for session_id in list(self._sessions):
            self.remove(session_id)
